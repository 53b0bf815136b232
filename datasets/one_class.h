// The one-class protocol for labelled sets (paper sec. 4.1): one class is
// normal; train on its training images only; test on the whole test split,
// that class normal (label 0) and every other class anomalous (label 1).
#pragma once

#include <cstdint>

#include "datasets/dataset.h"

namespace piade {

struct OneClassSplit {
  ImageSet train;  ///< normal images only, labels all 0
  ImageSet test;   ///< labels 0 = normal, 1 = anomalous
};

/// `max_train` / `max_test` (0 = all) keep a seeded random subset; the test
/// subset is stratified so the normal/anomalous ratio is kept. Throws
/// piade::Error when the class has no training images.
OneClassSplit one_class_split(const ImageSet& train, const ImageSet& test, int64_t normal_class,
                              int64_t max_train, int64_t max_test, uint64_t seed);

}  // namespace piade
