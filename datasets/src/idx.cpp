#include "piade/datasets/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {
namespace {

// The whole file, gunzipped when it is gzip (zlib reads plain files as is).
std::vector<uint8_t> read_all(const std::string& file) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> in(gzopen(file.c_str(), "rb"), gzclose);
  if (!in) throw DatasetError(fmt::format("{}: cannot open ({})", file, std::strerror(errno)));
  std::vector<uint8_t> data;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    int got = gzread(in.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      throw DatasetError(fmt::format("{}: corrupt or truncated gzip data ({})", file, gzerror(in.get(), &code)));
    }
    if (got == 0) break;
    data.insert(data.end(), chunk.begin(), chunk.begin() + got);
  }
  return data;
}

uint32_t big_endian(const std::vector<uint8_t>& data, std::size_t offset) {
  return (uint32_t(data[offset]) << 24) | (uint32_t(data[offset + 1]) << 16) |
         (uint32_t(data[offset + 2]) << 8) | uint32_t(data[offset + 3]);
}

}  // namespace

ImageSet read_idx(const std::string& images_file, const std::string& labels_file) {
  const std::vector<uint8_t> images = read_all(images_file);
  if (images.size() < 16)
    throw DatasetError(fmt::format("{}: {} bytes, too short for an IDX images header", images_file, images.size()));
  if (big_endian(images, 0) != 0x00000803)
    throw DatasetError(fmt::format("{}: magic number {:#010x} is not an IDX uint8 3-D images file (0x00000803)",
                            images_file, big_endian(images, 0)));
  const uint64_t count = big_endian(images, 4), rows = big_endian(images, 8), cols = big_endian(images, 12);
  // rows * cols fits in 64 bits; times count it may not (2^31 x 2^31 x 4
  // wraps to 0 and would pass for a bare header), so compare by division.
  const uint64_t data_bytes = images.size() - 16;
  // With no images any rows x cols passes the size check, and LibTorch
  // crashes on a shape whose strides do not fit its integers (found by
  // tests/fuzz/fuzz_idx); an images file without images is of no use.
  if (count == 0) throw DatasetError(fmt::format("{}: header says 0 images", images_file));
  if (rows == 0 || cols == 0 || data_bytes % (rows * cols) != 0 || data_bytes / (rows * cols) != count)
    throw DatasetError(fmt::format("{}: header says {} images of {}x{} ({} bytes) but the data is {} bytes",
                            images_file, count, rows, cols, 16 + static_cast<unsigned __int128>(count) * rows * cols,
                            images.size()));

  const std::vector<uint8_t> labels = read_all(labels_file);
  if (labels.size() < 8)
    throw DatasetError(fmt::format("{}: {} bytes, too short for an IDX labels header", labels_file, labels.size()));
  if (big_endian(labels, 0) != 0x00000801)
    throw DatasetError(fmt::format("{}: magic number {:#010x} is not an IDX uint8 1-D labels file (0x00000801)",
                            labels_file, big_endian(labels, 0)));
  const uint64_t label_count = big_endian(labels, 4);
  if (8 + label_count != labels.size())
    throw DatasetError(fmt::format("{}: header says {} labels but the data holds {}", labels_file,
                            label_count, labels.size() - 8));
  if (label_count != count)
    throw DatasetError(fmt::format("{}: {} labels for the {} images of {}", labels_file, label_count,
                            count, images_file));

  ImageSet set;
  set.images = torch::from_blob(const_cast<uint8_t*>(images.data()) + 16,
                                {int64_t(count), 1, int64_t(rows), int64_t(cols)}, torch::kUInt8)
                   .clone();
  set.labels = torch::from_blob(const_cast<uint8_t*>(labels.data()) + 8, {int64_t(count)}, torch::kUInt8)
                   .to(torch::kLong);
  set.ids.reserve(count);
  for (uint64_t i = 0; i < count; ++i) set.ids.push_back(fmt::format("{}#{}", images_file, i));
  return set;
}

}  // namespace piade
