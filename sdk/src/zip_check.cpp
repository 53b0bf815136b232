#include "piade/sdk/zip_check.h"

#include <algorithm>
#include <vector>

// The zip fields are little-endian; they are read byte by byte.

namespace piade {
namespace {

uint64_t little(const unsigned char* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr std::size_t kEndSize = 22;
constexpr std::size_t kMaxComment = 65535;

std::vector<unsigned char> read_at(const ZipReader& read, uint64_t offset, std::size_t size) {
  std::vector<unsigned char> bytes(size);
  std::size_t got = 0;
  while (got < size) {
    const std::size_t n = read(offset + got, bytes.data() + got, size - got);
    if (n == 0) break;
    got += n;
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace

std::string zip_records_problem(const ZipReader& read, uint64_t size) {
  if (size < kEndSize) return "";
  // The end-of-directory record: the last one, before a comment of up to 64 KiB.
  const uint64_t tail_start = size - std::min<uint64_t>(size, kEndSize + kMaxComment);
  const std::vector<unsigned char> tail = read_at(read, tail_start, size - tail_start);
  if (tail.size() < kEndSize) return "";
  std::size_t end = tail.size() - kEndSize + 1;
  bool found = false;
  while (end-- > 0)
    if (little(&tail[end], 4) == kEndOfDirectory) {
      found = true;
      break;
    }
  if (!found) return "";
  uint64_t entries = little(&tail[end + 10], 2);
  uint64_t directory_size = little(&tail[end + 12], 4);
  uint64_t directory_offset = little(&tail[end + 16], 4);
  const uint64_t end_offset = tail_start + end;
  if (end_offset >= 20) {  // zip64, which torch.save writes: the real numbers are in its own record
    const std::vector<unsigned char> locator = read_at(read, end_offset - 20, 20);
    if (locator.size() == 20 && little(locator.data(), 4) == kZip64Locator) {
      const uint64_t zip64_offset = little(&locator[8], 8);
      if (zip64_offset > size) return "its zip64 end record lies beyond the end of the file";
      const std::vector<unsigned char> record = read_at(read, zip64_offset, 56);
      if (record.size() < 56 || little(record.data(), 4) != kZip64End) return "its zip64 end record is damaged";
      entries = little(&record[32], 8);
      directory_size = little(&record[40], 8);
      directory_offset = little(&record[48], 8);
    }
  }
  if (directory_offset > size || directory_size > size - directory_offset)
    return "its central directory lies beyond the end of the file";
  const std::vector<unsigned char> directory = read_at(read, directory_offset, directory_size);
  std::size_t at = 0;
  uint64_t declared = 0;  // by stored records, which the file must hold
  uint64_t inflated = 0;  // by compressed ones
  for (uint64_t i = 0; i < entries; ++i) {
    if (at + 46 > directory.size() || little(&directory[at], 4) != kDirectoryEntry)
      return "its central directory is damaged";
    const uint64_t method = little(&directory[at + 10], 2);
    uint64_t compressed = little(&directory[at + 20], 4);
    uint64_t uncompressed = little(&directory[at + 24], 4);
    const std::size_t name_size = little(&directory[at + 28], 2);
    const std::size_t extra_size = little(&directory[at + 30], 2);
    const std::size_t comment_size = little(&directory[at + 32], 2);
    if (at + 46 + name_size + extra_size + comment_size > directory.size()) return "its central directory is damaged";
    const std::string name(reinterpret_cast<const char*>(&directory[at + 46]), name_size);
    // Sizes of 0xFFFFFFFF are in the zip64 extra field (id 1), in this order.
    for (std::size_t x = at + 46 + name_size; x + 4 <= at + 46 + name_size + extra_size;) {
      const uint64_t id = little(&directory[x], 2), length = little(&directory[x + 2], 2);
      if (id == 1) {
        std::size_t field = x + 4;
        const std::size_t field_end = std::min<std::size_t>(x + 4 + length, at + 46 + name_size + extra_size);
        if (uncompressed == 0xFFFFFFFF && field + 8 <= field_end) {
          uncompressed = little(&directory[field], 8);
          field += 8;
        }
        if (compressed == 0xFFFFFFFF && field + 8 <= field_end) compressed = little(&directory[field], 8);
      }
      x += 4 + length;
    }
    if (method != 0) {
      // LibTorch deflates the small records of TorchScript (code/, the
      // debug pickles); tensors are stored. A compressed record is bounded
      // by a limit, as it can inflate far beyond the file.
      if (uncompressed > kMaxCompressedRecord)
        return "record '" + name + "' is compressed and declares " + std::to_string(uncompressed) +
               " bytes once inflated, more than the " + std::to_string(kMaxCompressedRecord) +
               " bytes piade inflates a record to (tensors are stored, not compressed)";
      inflated += uncompressed;
      if (inflated > kMaxInflated)
        return "its compressed records declare more than " + std::to_string(kMaxInflated) +
               " bytes together once inflated (at '" + name + "')";
    } else {
      if (uncompressed != compressed || uncompressed > size)
        return "record '" + name + "' declares " + std::to_string(uncompressed) + " bytes, more than the " +
               std::to_string(size) + "-byte file can hold";
      declared += uncompressed;
      if (declared > size)
        return "its records declare more bytes together than the " + std::to_string(size) +
               "-byte file holds (at '" + name + "')";
    }
    at += 46 + name_size + extra_size + comment_size;
  }
  return "";
}

std::string zip_records_problem(std::istream& in) {
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(std::max<std::streamoff>(in.tellg(), 0));
  return zip_records_problem(
      [&](uint64_t pos, void* buffer, std::size_t n) -> std::size_t {
        in.clear();
        in.seekg(static_cast<std::streamoff>(pos));
        in.read(static_cast<char*>(buffer), static_cast<std::streamsize>(n));
        return static_cast<std::size_t>(in.gcount());
      },
      size);
}

}  // namespace piade
