// A bound on what reading a zip archive (a torch.save file, a checkpoint)
// may allocate, checked on its central directory before LibTorch reads a
// record: LibTorch's reader allocates a record's declared size and inflates
// a compressed record into it, so a small crafted file (a zip bomb) would
// exhaust memory (std::bad_alloc) instead of being an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "piade/sdk/export.h"

namespace piade {

/// Reads up to `size` bytes at `offset` into `buffer`; returns how many.
using ZipReader = std::function<std::size_t(uint64_t offset, void* buffer, std::size_t size)>;

/// "" when the zip archive of `size` bytes that `read` reads holds only
/// stored (uncompressed) records, as torch.save and piade write them, whose
/// declared sizes together fit in the archive; else the problem, naming the
/// record ("record 'archive/data/0' is compressed ..."). Also "" when
/// there is no zip central directory at all: opening the file says so.
PIADE_SDK_API std::string zip_records_problem(const ZipReader& read, uint64_t size);

}  // namespace piade
