// Writing files so that a crash or a full disk never leaves half a file:
// everything piade writes (checkpoints, CSV, JSON, pictures, reports) goes
// through a temporary file beside the target and a rename.
#pragma once

#include <filesystem>
#include <string>

#include "piade/sdk/atomic_file.h"  // temporary_beside, and write_pieces_atomic, which this wraps

namespace piade {

/// Writes `text` to `file` atomically (temporary file in the same directory,
/// then rename; write_pieces_atomic). Throws piade::Error naming the file.
void write_file_atomic(const std::filesystem::path& file, const std::string& text);

}  // namespace piade
