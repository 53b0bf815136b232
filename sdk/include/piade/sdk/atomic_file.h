// Writing a file so that a crash or a full disk never leaves half of it: a
// temporary file beside the target, every write checked, fsync, rename. The
// one implementation: the SDK's save_safetensors uses it, and host/core's
// write_file_atomic (file_io.h, piade::Error) wraps it.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "piade/sdk/export.h"

namespace piade {

/// A temporary name beside `file` (same directory, so the rename is atomic),
/// unique to this process: ".NAME.tmp-PID".
PIADE_SDK_API std::filesystem::path temporary_beside(const std::filesystem::path& file);

/// Writes `pieces`, one after the other, to `file` atomically: the temporary
/// file, each write checked (a full disk shows as ENOSPC or a short write, at
/// the latest by fsync or close), then rename. On failure the temporary file
/// is removed, the previous `file` is untouched, and std::runtime_error says
/// "FILE: cannot write (REASON)" or "FILE: cannot replace (REASON)".
PIADE_SDK_API void write_pieces_atomic(const std::filesystem::path& file, const std::vector<std::string_view>& pieces);

}  // namespace piade
