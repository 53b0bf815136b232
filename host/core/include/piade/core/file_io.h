// Writing files so that a crash or a full disk never leaves half a file:
// everything piade writes (checkpoints, CSV, JSON, pictures, reports) goes
// through a temporary file beside the target and a rename.
#pragma once

#include <filesystem>
#include <string>

namespace piade {

/// A temporary name beside `file` (same directory, so the rename is atomic),
/// unique to this process.
std::filesystem::path temporary_beside(const std::filesystem::path& file);

/// Writes `text` to `file` atomically (temporary file in the same directory,
/// then rename). Throws piade::Error naming the file.
void write_file_atomic(const std::filesystem::path& file, const std::string& text);

}  // namespace piade
