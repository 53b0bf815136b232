// MNIST / Fashion-MNIST IDX files (LeCun et al. 1998's format), gzipped or not.
#pragma once

#include <string>

#include "piade/datasets/dataset.h"

namespace piade {

/// Reads an IDX images file (magic 0x00000803, uint8 [N,rows,cols]) as
/// [N,1,rows,cols] and its labels file (0x00000801, uint8 [N]). Throws
/// piade::DatasetError naming the file on a bad magic number, a header that
/// disagrees with the file's size, or image and label counts that differ.
ImageSet read_idx(const std::string& images_file, const std::string& labels_file);

}  // namespace piade
