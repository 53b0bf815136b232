#include "piade/datasets/one_class.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {
namespace {

std::vector<int64_t> where(const torch::Tensor& labels, bool equal, int64_t value) {
  std::vector<int64_t> indices;
  const torch::Tensor contiguous = labels.to(torch::kLong).contiguous();
  auto accessor = contiguous.accessor<int64_t, 1>();
  for (int64_t i = 0; i < contiguous.size(0); ++i)
    if ((accessor[i] == value) == equal) indices.push_back(i);
  return indices;
}

// A seeded random `keep` of `indices`, returned in ascending order.
std::vector<int64_t> sample(std::vector<int64_t> indices, int64_t keep, std::mt19937_64& rng) {
  if (keep <= 0 || keep >= static_cast<int64_t>(indices.size())) return indices;
  std::shuffle(indices.begin(), indices.end(), rng);
  indices.resize(static_cast<std::size_t>(keep));
  std::sort(indices.begin(), indices.end());
  return indices;
}

torch::Tensor labels_of(const std::vector<ImageFile>& files) {
  torch::Tensor labels = torch::empty({int64_t(files.size())}, torch::kLong);
  auto accessor = labels.accessor<int64_t, 1>();
  for (std::size_t i = 0; i < files.size(); ++i) accessor[int64_t(i)] = files[i].label;
  return labels;
}

}  // namespace

OneClassIndices one_class_indices(const torch::Tensor& train_labels, const torch::Tensor& test_labels,
                                  int64_t normal_class, int64_t max_train, int64_t max_test, uint64_t seed) {
  OneClassIndices kept;
  if (train_labels.defined()) {
    std::mt19937_64 rng(seed);
    const std::vector<int64_t> normal_train = where(train_labels, true, normal_class);
    if (normal_train.empty())
      throw DatasetError("normal_class", fmt::format("class {} has no training images", normal_class));
    kept.train = sample(normal_train, max_train, rng);
  }
  // A stream of its own, so that the test subset is the same whether or not
  // the training split is loaded (piade eval loads the test split alone).
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<int64_t> normal_test = where(test_labels, true, normal_class);
  std::vector<int64_t> anomalous_test = where(test_labels, false, normal_class);
  if (normal_test.empty() || anomalous_test.empty())
    throw DatasetError("normal_class", fmt::format("the test split needs normal and anomalous images; "
                            "class {} has {} normal and {} anomalous",
                            normal_class, normal_test.size(), anomalous_test.size()));
  const int64_t test_size = test_labels.size(0);
  if (max_test > 0 && max_test < test_size) {
    // Stratified: keep the normal share, at least one image of each label.
    const double share = double(normal_test.size()) / double(test_size);
    const int64_t keep_normal = std::clamp<int64_t>(std::llround(share * max_test), 1, max_test - 1);
    normal_test = sample(normal_test, keep_normal, rng);
    anomalous_test = sample(anomalous_test, max_test - keep_normal, rng);
  }
  kept.test = normal_test;
  kept.test.insert(kept.test.end(), anomalous_test.begin(), anomalous_test.end());
  std::sort(kept.test.begin(), kept.test.end());
  return kept;
}

OneClassSplit one_class_split(const ImageSet& train, const ImageSet& test, int64_t normal_class,
                              int64_t max_train, int64_t max_test, uint64_t seed) {
  const OneClassIndices kept = one_class_indices(train.labels, test.labels, normal_class, max_train, max_test, seed);
  OneClassSplit split;
  if (train.labels.defined()) {
    split.train = train.select(kept.train);
    split.train.labels.zero_();
  }
  split.test = test.select(kept.test);
  const torch::Tensor classes = split.test.labels.to(torch::kLong).contiguous();
  const auto class_of = classes.accessor<int64_t, 1>();
  for (int64_t i = 0; i < classes.size(0); ++i) split.test_classes.push_back(std::to_string(class_of[i]));
  split.test.labels = (split.test.labels != normal_class).to(torch::kLong);
  return split;
}

OneClassSplit one_class_files(const std::vector<ImageFile>& train, const std::vector<ImageFile>& test,
                              int64_t normal_class, int64_t max_train, int64_t max_test, uint64_t seed,
                              const DecodeOptions& decode) {
  const OneClassIndices kept =
      one_class_indices(train.empty() ? torch::Tensor() : labels_of(train), labels_of(test), normal_class, max_train,
                        max_test, seed);
  // One decode for both splits, so that with `image_size` 0 or `channels` 0
  // the test files must match the training files' size and channels. Each
  // file's label is its index in `files` until the split below.
  std::vector<ImageFile> files;
  files.reserve(kept.train.size() + kept.test.size());
  for (int64_t i : kept.train) files.push_back(train[std::size_t(i)]);
  for (int64_t i : kept.test) files.push_back(test[std::size_t(i)]);
  for (std::size_t i = 0; i < files.size(); ++i) files[i].label = int64_t(i);
  std::vector<SkippedItem> skipped;
  // Streamed instead of decoded when above decode.memory_budget (issue 17).
  const ImageSet all = load_image_files(files, decode, &skipped);

  const int64_t train_count = int64_t(kept.train.size());
  std::vector<int64_t> train_rows, test_rows;
  std::vector<int64_t> test_labels;
  auto origin = all.labels.accessor<int64_t, 1>();
  for (int64_t row = 0; row < all.size(); ++row) {
    if (origin[row] < train_count) {
      train_rows.push_back(row);
    } else {
      test_rows.push_back(row);
      test_labels.push_back(test[std::size_t(kept.test[std::size_t(origin[row] - train_count)])].label == normal_class ? 0 : 1);
    }
  }
  if (train_rows.empty() && !train.empty())
    throw DatasetError("skip_bad",
                       fmt::format("no training image left after skipping {} unreadable file(s)", skipped.size()));
  if (test_rows.empty())
    throw DatasetError("skip_bad",
                       fmt::format("no test image left after skipping {} unreadable file(s)", skipped.size()));
  OneClassSplit split;
  split.skipped_items = std::move(skipped);
  if (!train_rows.empty()) {
    split.train = all.select(train_rows);
    split.train.labels.zero_();
    split.train.masks = torch::Tensor();  // normal images: nothing to mark
  }
  split.test = all.select(test_rows);
  split.test.labels = torch::tensor(test_labels, torch::kLong);
  const int64_t anomalous = split.test.labels.sum().item<int64_t>();
  if (anomalous == 0 || anomalous == split.test.size())
    throw DatasetError("skip_bad", fmt::format("the test split has no {} image left after skipping {} unreadable file(s)",
                            anomalous == 0 ? "anomalous" : "normal", skipped.size()));
  return split;
}

}  // namespace piade
