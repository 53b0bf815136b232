// The one-class protocol (paper sec. 4.1): one class is normal; train on its
// training images only; test on the whole test split, that class normal
// (label 0) and every other class anomalous (label 1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "piade/datasets/dataset.h"
#include "piade/datasets/image_files.h"

namespace piade {

struct OneClassSplit {
  ImageSet train;  ///< normal images only, labels all 0
  ImageSet test;   ///< labels 0 = normal, 1 = anomalous
  std::string description;  ///< what was loaded, e.g. "MVTec AD bottle", "CIFAR-10 class 3 (cat)"
  /// One per test image where the format has classes (IDX, CIFAR-10): the
  /// image's class before the protocol relabelled it, as its name where the
  /// format has names ("dress"), else its number ("3"). Empty for image
  /// files, whose kind is their test sub-directory (`test/crack/000.png`).
  std::vector<std::string> test_classes;
  /// Unreadable files or records dropped with skip_bad, in the order read.
  std::vector<SkippedItem> skipped_items;
};

/// The indices the protocol keeps, each list ascending.
struct OneClassIndices {
  std::vector<int64_t> train;  ///< into the training labels: the normal class, maybe subsampled
  std::vector<int64_t> test;   ///< into the test labels
};

/// `max_train` / `max_test` (0 = all) keep a seeded random subset; the test
/// subset is stratified so the normal/anomalous ratio is kept (at least one
/// of each), and does not depend on the training labels or `max_train`. An
/// undefined `train_labels` selects the test split alone (`train` empty).
/// Throws piade::DatasetError when the class has no training images, or the test
/// labels lack normal or anomalous images.
OneClassIndices one_class_indices(const torch::Tensor& train_labels, const torch::Tensor& test_labels,
                                  int64_t normal_class, int64_t max_train, int64_t max_test, uint64_t seed);

/// one_class_indices applied to decoded sets; test labels become 0/1 (the
/// class numbers stay in `test_classes`). A
/// `train` without labels (an empty ImageSet) selects the test split alone.
OneClassSplit one_class_split(const ImageSet& train, const ImageSet& test, int64_t normal_class,
                              int64_t max_train, int64_t max_test, uint64_t seed);

/// The same on files: subsamples first, then decodes only the files kept
/// (read_image_files; both splits in one decode, so with image_size 0 they
/// must share one size). An empty `train` decodes the test split alone.
/// Files that skip_bad drops are listed in `skipped_items`; a split left
/// without training images, or without normal or anomalous test images, is
/// an error.
OneClassSplit one_class_files(const std::vector<ImageFile>& train, const std::vector<ImageFile>& test,
                              int64_t normal_class, int64_t max_train, int64_t max_test, uint64_t seed,
                              const DecodeOptions& decode);

}  // namespace piade
