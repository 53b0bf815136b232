// Symbol visibility for the SDK library. Everything is built with hidden
// visibility; only what the SDK exports (and the interface types, whose type
// info must be one across the library boundary) is visible.
#pragma once

#include <boost/config.hpp>

#if defined(PIADE_SDK_BUILDING)
#define PIADE_SDK_API BOOST_SYMBOL_EXPORT
#else
#define PIADE_SDK_API BOOST_SYMBOL_IMPORT
#endif
