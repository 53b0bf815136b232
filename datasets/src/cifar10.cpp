#include "piade/datasets/cifar10.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "piade/datasets/error.h"
#include "piade/datasets/limits.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;
constexpr int64_t kRecord = 1 + kPixels;

const char* const kTrainFiles[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin"};
const char* const kTestFile = "test_batch.bin";

// The file's `size` bytes, already checked against the limits.
std::vector<uint8_t> read_bytes(const std::string& file, uint64_t size) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DatasetError(fmt::format("{}: cannot open ({})", file, std::strerror(errno)));
  std::vector<uint8_t> data(size);
  in.read(reinterpret_cast<char*>(data.data()), std::streamsize(size));
  if (uint64_t(in.gcount()) != size)
    throw DatasetError(fmt::format("{}: read error after {} of {} bytes ({})", file, in.gcount(), size,
                                   std::strerror(errno)));
  return data;
}

}  // namespace

const std::vector<std::string>& cifar10_classes() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

ImageSet read_cifar10_batch(const std::string& file, bool skip_bad, std::vector<SkippedItem>* skipped) {
  // Sizes come from the file system and are checked before anything is
  // read or allocated; a directory or a FIFO is named before opening it.
  require_regular_file(file);
  std::error_code ec;
  const uint64_t file_size = fs::file_size(file, ec);
  if (ec) throw DatasetError(fmt::format("{}: cannot open ({})", file, ec.message()));
  if (file_size == 0) throw DatasetError(fmt::format("{}: empty file, expected 3073-byte CIFAR-10 records", file));
  if (file_size > kMaxDatasetBytes)
    throw DatasetError(fmt::format("{}: {} bytes, more than piade's limit of {} GiB for one dataset; a CIFAR-10 "
                                   "batch is 30730000 bytes",
                                   file, file_size, kMaxDatasetBytes >> 30));
  const int64_t size = int64_t(file_size);
  const int64_t records = size / kRecord;
  std::string partial;  // why the trailing partial record is dropped; "" = there is none
  if (size % kRecord != 0) {
    partial = fmt::format("{}: {} bytes is not a whole number of 3073-byte records (1 label byte + 32x32x3 "
                          "pixels); the file is truncated or not a CIFAR-10 binary batch",
                          file, size);
    if (!skip_bad || records == 0) throw DatasetError(partial);
  }
  const std::vector<uint8_t> data = read_bytes(file, file_size);
  std::vector<int64_t> good;
  std::vector<SkippedItem> dropped;
  good.reserve(std::size_t(records));
  for (int64_t r = 0; r < records; ++r) {
    const int label = data[std::size_t(r * kRecord)];
    if (label <= 9) {
      good.push_back(r);
      continue;
    }
    const std::string error = fmt::format("{}: record {} (byte {}) has label {}, CIFAR-10 labels are 0..9; the file "
                                          "is corrupt or not a CIFAR-10 batch",
                                          file, r, r * kRecord, label);
    if (!skip_bad) throw DatasetError(error);
    dropped.push_back({fmt::format("{}#{}", file, r), error});
  }
  // The partial record is the last one in the file, so it is listed last.
  if (!partial.empty()) dropped.push_back({fmt::format("{}#{}", file, records), partial});
  if (good.empty()) throw DatasetError(fmt::format("{}: no record with a valid label", file));
  const int64_t n = int64_t(good.size());
  ImageSet set;
  set.images = torch::empty({n, 3, kSide, kSide}, torch::kUInt8);
  set.labels = torch::empty({n}, torch::kLong);
  uint8_t* pixels = set.images.data_ptr<uint8_t>();
  auto labels = set.labels.accessor<int64_t, 1>();
  set.ids.reserve(std::size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = data.data() + good[std::size_t(i)] * kRecord;
    labels[i] = record[0];
    // The planes are stored R, G, B, each row-major: exactly [3,32,32].
    std::memcpy(pixels + i * kPixels, record + 1, std::size_t(kPixels));
    set.ids.push_back(fmt::format("{}#{}", file, good[std::size_t(i)]));
  }
  if (skipped) skipped->insert(skipped->end(), dropped.begin(), dropped.end());
  return set;
}

std::string cifar10_dir(const std::string& root) {
  std::error_code ec;
  if (fs::exists(fs::path(root) / kTestFile, ec) || fs::exists(fs::path(root) / kTrainFiles[0], ec)) return root;
  const fs::path nested = fs::path(root) / "cifar-10-batches-bin";
  if (fs::is_directory(nested, ec)) return nested.string();
  return root;
}

ImageSet read_cifar10(const std::string& root, bool train, bool skip_bad, std::vector<SkippedItem>* skipped) {
  const fs::path dir = cifar10_dir(root);
  std::vector<std::string> files;
  if (train) {
    for (const char* name : kTrainFiles) files.push_back((dir / name).string());
  } else {
    files.push_back((dir / kTestFile).string());
  }
  std::error_code ec;
  for (const std::string& file : files)
    if (!fs::exists(file, ec))
      throw DatasetError("data_root", fmt::format("'{}' has no {} (the CIFAR-10 binary version: data_batch_1..5.bin, "
                              "test_batch.bin)",
                              root, fs::path(file).filename().string()));
  std::vector<torch::Tensor> images, labels;
  ImageSet set;
  for (const std::string& file : files) {
    ImageSet batch = read_cifar10_batch(file, skip_bad, skipped);
    images.push_back(batch.images);
    labels.push_back(batch.labels);
    set.ids.insert(set.ids.end(), batch.ids.begin(), batch.ids.end());
  }
  set.images = images.size() == 1 ? images[0] : torch::cat(images);
  set.labels = labels.size() == 1 ? labels[0] : torch::cat(labels);
  return set;
}

}  // namespace piade
