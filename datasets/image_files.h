// Users' own image files (png, jpg, bmp, tif), decoded with OpenCV.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace piade {

/// Expands files and directories (not recursive) into the image files they
/// name, sorted. Throws piade::Error for a missing path or an empty result.
std::vector<std::string> list_images(const std::vector<std::string>& inputs);

/// Decodes each file as `channels` (1 gray, 3 RGB) resized to size x size
/// (area interpolation when shrinking). Throws piade::Error naming a file
/// that cannot be decoded, unless `skip_bad`, which drops it and counts it.
ImageSet read_images(const std::vector<std::string>& files, int64_t channels, int64_t size,
                     bool skip_bad = false, int64_t* skipped = nullptr);

}  // namespace piade
