// Messages from plugins and host to the user, in one format on stderr.
#pragma once

#include <string>

#include "piade/sdk/export.h"

namespace piade {

/// Prints "piade: warning: MESSAGE" on stderr.
PIADE_SDK_API void warn(const std::string& message);

/// Like warn(), but only the first time this exact message is given in the
/// process (e.g. "no weights given" for every model a grid builds).
PIADE_SDK_API void warn_once(const std::string& message);

}  // namespace piade
