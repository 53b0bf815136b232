// CRC-32C (Castagnoli, the polynomial iSCSI, ext4 and LevelDB use), in tree:
// the per-tensor checksums of checkpoints and model files (checkpoint.h), so
// that a flipped byte in a tensor's record is found on load and named.
// Slicing-by-8 (Intel's "A Systematic Approach to Building High Performance
// Software-based CRC Generators"): eight table look-ups per 8 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace piade {

/// The CRC-32C of `size` bytes at `data`, continuing from `crc` (the value
/// of an earlier call over the bytes before them; 0 to start).
/// crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, std::size_t size, uint32_t crc = 0);

inline uint32_t crc32c(std::string_view text, uint32_t crc = 0) { return crc32c(text.data(), text.size(), crc); }

}  // namespace piade
