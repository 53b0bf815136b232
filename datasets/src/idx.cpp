#include "piade/datasets/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "piade/datasets/error.h"
#include "piade/datasets/limits.h"

namespace piade {
namespace {

// Deflate's largest expansion: 1032 output bytes per input byte (zlib's
// FAQ, "maximum compression ratio"); a gzip file cannot hold more.
constexpr uint64_t kMaxGzipRatio = 1032;

using GzFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;

// Reads up to `size` bytes (gunzipped when the file is gzip; zlib reads
// plain files as they are) in chunks gzread can count; returns how many.
uint64_t read_up_to(gzFile in, const std::string& file, uint8_t* out, uint64_t size) {
  uint64_t done = 0;
  while (done < size) {
    const unsigned chunk = unsigned(std::min<uint64_t>(size - done, uint64_t(1) << 30));
    const int got = gzread(in, out + done, chunk);
    if (got < 0) {
      int code = 0;
      throw DatasetError(fmt::format("{}: corrupt or truncated gzip data ({})", file, gzerror(in, &code)));
    }
    if (got == 0) break;
    done += uint64_t(got);
  }
  return done;
}

// One IDX file: its magic number, its `dims` (big-endian uint32 each) and
// then exactly the product of the dims in bytes, read into a uint8 tensor
// of that many bytes. Every size is checked before allocating: the dims'
// product must fit in 64 bits and in kMaxDatasetBytes, a plain file's
// size must match it, a gzip file must be able to hold it, and reading
// stops as soon as the data runs past what the header declares, so a gzip
// bomb costs at most the declared size.
struct IdxFile {
  uint32_t magic = 0;
  std::vector<uint64_t> dims;
  torch::Tensor data;  // uint8, flat
};

uint32_t big_endian(const uint8_t* bytes) {
  return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) | (uint32_t(bytes[2]) << 8) | uint32_t(bytes[3]);
}

IdxFile read_idx_file(const std::string& file, uint32_t magic, const char* what, std::size_t rank) {
  require_regular_file(file);
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(file, ec);
  if (ec) throw DatasetError(fmt::format("{}: cannot open ({})", file, ec.message()));
  GzFile in(gzopen(file.c_str(), "rb"), gzclose);
  if (!in) throw DatasetError(fmt::format("{}: cannot open ({})", file, std::strerror(errno)));
  const std::size_t header_size = 4 * (1 + rank);
  std::array<uint8_t, 16> header{};
  const uint64_t got = read_up_to(in.get(), file, header.data(), header_size);
  if (got < header_size)
    throw DatasetError(fmt::format("{}: {} bytes, too short for an IDX {} header", file, got, what));
  IdxFile out;
  out.magic = big_endian(header.data());
  if (out.magic != magic)
    throw DatasetError(fmt::format("{}: magic number {:#010x} is not an IDX uint8 {}-D {} file ({:#010x})", file,
                                   out.magic, rank, what, magic));
  uint64_t bytes = 1;
  bool overflow = false;
  for (std::size_t i = 0; i < rank; ++i) {
    out.dims.push_back(big_endian(header.data() + 4 * (i + 1)));
    overflow = overflow || !checked_multiply(bytes, out.dims.back(), bytes);
  }
  if (overflow || bytes > kMaxDatasetBytes)
    throw DatasetError(fmt::format("{}: header declares dims {} ({} bytes), more than piade's limit of {} GiB for one "
                                   "dataset; the file is corrupt or not an IDX file",
                                   file, fmt::join(out.dims, "x"), overflow ? "over 2^64" : std::to_string(bytes),
                                   kMaxDatasetBytes >> 30));
  const bool plain = gzdirect(in.get()) == 1;
  if (plain && header_size + bytes != file_size) return out;  // the caller reports the size mismatch
  if (!plain && bytes > (file_size + 1) * kMaxGzipRatio)
    throw DatasetError(fmt::format("{}: header declares dims {} ({} bytes), but a {}-byte gzip file cannot hold more "
                                   "than {}; the file is truncated or corrupt",
                                   file, fmt::join(out.dims, "x"), bytes, file_size, file_size * kMaxGzipRatio));
  torch::Tensor data = torch::empty({int64_t(bytes)}, torch::kUInt8);
  const uint64_t read = read_up_to(in.get(), file, data.data_ptr<uint8_t>(), bytes);
  uint8_t extra = 0;
  // One byte more tells data beyond the header's size apart; nothing past
  // that is decompressed.
  if (read < bytes || read_up_to(in.get(), file, &extra, 1) != 0)
    throw DatasetError(fmt::format("{}: header declares dims {} ({} bytes of data) but the {} {}", file,
                                   fmt::join(out.dims, "x"), bytes, plain ? "file holds" : "gzip data holds",
                                   read < bytes ? fmt::format("only {}", read) : "more; it is corrupt"));
  out.data = data;
  return out;
}

}  // namespace

ImageSet read_idx(const std::string& images_file, const std::string& labels_file) {
  const IdxFile images = read_idx_file(images_file, 0x00000803, "images", 3);
  const uint64_t count = images.dims[0], rows = images.dims[1], cols = images.dims[2];
  // With no images any rows x cols passes the size check, and LibTorch
  // crashes on a shape whose strides do not fit its integers (found by
  // tests/fuzz/fuzz_idx); an images file without images is of no use.
  if (count == 0) throw DatasetError(fmt::format("{}: header says 0 images", images_file));
  if (rows == 0 || cols == 0 || !images.data.defined()) {
    std::error_code ec;
    throw DatasetError(fmt::format("{}: header says {} images of {}x{} ({} bytes) but the data is {} bytes",
                                   images_file, count, rows, cols, 16 + count * rows * cols,
                                   std::filesystem::file_size(images_file, ec)));
  }
  const IdxFile labels = read_idx_file(labels_file, 0x00000801, "labels", 1);
  const uint64_t label_count = labels.dims[0];
  if (!labels.data.defined()) {
    std::error_code ec;
    throw DatasetError(fmt::format("{}: header says {} labels but the data holds {}", labels_file, label_count,
                                   std::filesystem::file_size(labels_file, ec) - 8));
  }
  if (label_count != count)
    throw DatasetError(fmt::format("{}: {} labels for the {} images of {}", labels_file, label_count,
                            count, images_file));

  ImageSet set;
  set.images = images.data.view({int64_t(count), 1, int64_t(rows), int64_t(cols)});
  set.labels = labels.data.to(torch::kLong);
  set.ids.reserve(count);
  for (uint64_t i = 0; i < count; ++i) set.ids.push_back(fmt::format("{}#{}", images_file, i));
  return set;
}

}  // namespace piade
