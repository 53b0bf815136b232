// MVTec AD (Bergmann et al., CVPR 2019): one folder per category, each laid
// out as category/train/good/, category/test/good/, category/test/<defect>/
// and category/ground_truth/<defect>/NNN_mask.png; `good` is normal. A
// category is read as a folder dataset (datasets/folder.h).
#pragma once

#include <string>
#include <vector>

#include "piade/datasets/folder.h"

namespace piade {

/// The categories under an MVTec AD root: its sub-directories with a
/// train/good/ directory, sorted.
std::vector<std::string> mvtec_categories(const std::string& root);

/// One category's sources. Throws piade::DatasetError naming the available
/// categories when `category` is not one of them.
FolderSources mvtec_sources(const std::string& root, const std::string& category);

}  // namespace piade
