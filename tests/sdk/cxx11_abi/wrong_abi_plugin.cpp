// Compiled by cxx11_abi_check.cmake with the other _GLIBCXX_USE_CXX11_ABI
// than LibTorch's: plugin.h must refuse it, naming the macro.
#include "piade/sdk/plugin.h"
