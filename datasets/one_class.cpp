#include "datasets/one_class.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "host/error.h"

namespace piade {
namespace {

std::vector<int64_t> where(const torch::Tensor& labels, bool equal, int64_t value) {
  std::vector<int64_t> indices;
  auto accessor = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < labels.size(0); ++i)
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

}  // namespace

OneClassSplit one_class_split(const ImageSet& train, const ImageSet& test, int64_t normal_class,
                              int64_t max_train, int64_t max_test, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> normal_train = where(train.labels, true, normal_class);
  if (normal_train.empty())
    throw Error(fmt::format("--normal-class: class {} has no training images", normal_class));
  OneClassSplit split;
  split.train = train.select(sample(normal_train, max_train, rng));
  split.train.labels.zero_();

  std::vector<int64_t> normal_test = where(test.labels, true, normal_class);
  std::vector<int64_t> anomalous_test = where(test.labels, false, normal_class);
  if (normal_test.empty() || anomalous_test.empty())
    throw Error(fmt::format("--normal-class: the test split needs normal and anomalous images; "
                            "class {} has {} normal and {} anomalous",
                            normal_class, normal_test.size(), anomalous_test.size()));
  if (max_test > 0 && max_test < test.size()) {
    // Stratified: keep the normal share, at least one image of each label.
    const double share = double(normal_test.size()) / double(test.size());
    int64_t keep_normal = std::clamp<int64_t>(std::llround(share * max_test), 1, max_test - 1);
    normal_test = sample(normal_test, keep_normal, rng);
    anomalous_test = sample(anomalous_test, max_test - keep_normal, rng);
  }
  std::vector<int64_t> test_indices = normal_test;
  test_indices.insert(test_indices.end(), anomalous_test.begin(), anomalous_test.end());
  std::sort(test_indices.begin(), test_indices.end());
  split.test = test.select(test_indices);
  split.test.labels = (split.test.labels != normal_class).to(torch::kLong);
  return split;
}

}  // namespace piade
