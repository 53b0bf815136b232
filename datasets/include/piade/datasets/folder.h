// Users' own image folders: normal training images, normal and anomalous
// test images, optional masks, either laid out as one MVTec AD category or
// named directory by directory.
#pragma once

#include <string>
#include <vector>

#include "piade/datasets/image_files.h"

namespace piade {

/// Where a folder dataset's images are.
struct FolderSources {
  std::vector<std::string> train_dirs;           ///< normal training images
  std::vector<std::string> test_normal_dirs;     ///< normal test images (label 0)
  std::vector<std::string> test_anomalous_dirs;  ///< anomalous test images (label 1)
  /// Optional masks of the anomalous images ("" = none). For an anomalous
  /// directory named D they are in mask_dir/D/ when that exists, else in
  /// mask_dir itself; the mask of NAME.ext is NAME_mask.* or NAME.* (any
  /// image extension; NAME_mask wins).
  std::string mask_dir;
};

/// `root` laid out as one MVTec AD category: root/train/<normal>/,
/// root/test/<normal>/, every other root/test/<name>/ anomalous, masks in
/// root/ground_truth/<name>/ when root/ground_truth exists. Throws
/// piade::DatasetError naming what is missing.
FolderSources folder_layout(const std::string& root, const std::string& normal = "good");

/// The labelled files of a folder dataset, sorted within each directory.
struct FolderFiles {
  std::vector<ImageFile> train;  ///< labels 0
  std::vector<ImageFile> test;   ///< labels 0 normal / 1 anomalous, anomalous ones with their masks
};

/// Lists `sources`. Throws piade::DatasetError naming the directory or file for a
/// missing or empty directory, a mask without its image, or an anomalous
/// image without a mask when there are masks; with skip_bad the last two
/// are dropped and appended to `*skipped` instead (item = the mask's or the
/// image's path): masks of unknown directories, then unmatched masks by
/// mask folder, then images without masks in listing order.
FolderFiles list_folder(const FolderSources& sources, bool skip_bad = false,
                        std::vector<SkippedItem>* skipped = nullptr);

}  // namespace piade
