// COIL-100 (Nene, Nayar, Murase 1996): 100 objects on a turntable, 72
// 128x128 colour views each, one folder of obj<N>__<angle>.png files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "piade/datasets/image_files.h"

namespace piade {

/// COIL-100 has no training/test split: the paper (sec. 4.1) follows
/// Pidhorskyi et al. (GPND) with 80% : 20% per object.
struct Coil100Files {
  std::vector<ImageFile> train;  ///< labels: object numbers (the N of obj<N>)
  std::vector<ImageFile> test;
  std::vector<int64_t> objects;  ///< the object numbers found, ascending
};

/// Lists root's obj<N>__<angle>.png files (other files are ignored) and
/// splits each object's views, sorted by angle and then shuffled with
/// `seed`: floor(80%) to train, the rest to test (72 views: 57 / 15). Throws
/// piade::DatasetError naming root when it holds no such file.
Coil100Files coil100_files(const std::string& root, uint64_t seed);

/// "1-3, 5, 7-100": object numbers as ranges, for messages.
std::string number_ranges(const std::vector<int64_t>& numbers);

}  // namespace piade
