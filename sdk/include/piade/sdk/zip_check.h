// A bound on what reading a zip archive (a torch.save file, a checkpoint)
// may allocate, checked on its central directory before LibTorch reads a
// record: LibTorch's reader allocates a record's declared size and inflates
// a compressed record into it, so a small crafted file (a zip bomb) would
// exhaust memory (std::bad_alloc) instead of being an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>

#include "piade/sdk/export.h"

namespace piade {

/// Reads up to `size` bytes at `offset` into `buffer`; returns how many.
using ZipReader = std::function<std::size_t(uint64_t offset, void* buffer, std::size_t size)>;

/// The most bytes one compressed record may inflate to, and all of them
/// together: LibTorch deflates only TorchScript's small records (code/, the
/// debug pickles, a few KiB); tensors are stored.
inline constexpr uint64_t kMaxCompressedRecord = uint64_t{16} << 20;
inline constexpr uint64_t kMaxInflated = uint64_t{64} << 20;

/// "" when every record of the zip archive of `size` bytes that `read` reads
/// is either stored (uncompressed) with a declared size that the file holds
/// (all of them together, too), or compressed and declares at most
/// kMaxCompressedRecord bytes (kMaxInflated together); else the problem,
/// naming the record and the limit. Also "" when there is no zip central
/// directory at all: opening the file says so.
PIADE_SDK_API std::string zip_records_problem(const ZipReader& read, uint64_t size);

/// zip_records_problem() of the whole of `in` (an opened file, read at any
/// offset).
PIADE_SDK_API std::string zip_records_problem(std::istream& in);

}  // namespace piade
