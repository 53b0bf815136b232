// The dataset registry: the table of formats piade reads (name, default
// location, loader) and the one entry point that loads a one-class split
// from a request. The CLI fills a DatasetRequest from its options; library
// users fill it directly. Errors are DatasetErrors naming the setting
// (`data_root`, `normal_class`, `category`, ...) or the file at fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "piade/datasets/folder.h"
#include "piade/datasets/image_files.h"
#include "piade/datasets/one_class.h"
#include "piade/datasets/transforms.h"

namespace piade {

/// What to load, under the one-class protocol of the paper's sec. 4.1.
struct DatasetRequest {
  std::string name = "fmnist";       ///< dataset: a format of dataset_formats()
  std::optional<std::string> root;   ///< data_root; unset = the format's default
  std::optional<int64_t> normal_class;  ///< unset = 0 (or COIL-100's first object)
  std::optional<std::string> category;  ///< mvtec only
  /// folder with named directories (train_dir, test_normal_dir,
  /// test_anomalous_dir, mask_dir); all empty = the layout under root.
  FolderSources folders;
  int64_t max_train = 0;  ///< at most N training images (seeded); 0 = all
  int64_t max_test = 0;   ///< at most N test images (stratified, seeded); 0 = all
  uint64_t seed = 0;
  bool with_train = true;  ///< false: decode the test split only
  DecodeOptions decode;    ///< file decoding (channels, image_size, resize, skip_bad)
  Preprocess preprocess;   ///< the network input geometry

  bool has_named_folders() const;
};

/// One dataset format.
struct DatasetFormat {
  const char* name;          ///< what `dataset` takes
  const char* default_root;  ///< "" when there is none
  const char* about;         ///< one line
  OneClassSplit (*load)(const DatasetRequest&);
};

/// Every format, in the order help texts list them.
const std::vector<DatasetFormat>& dataset_formats();

/// The format called `name`; throws DatasetError("dataset", ...) with the
/// supported names and a did-you-mean otherwise.
const DatasetFormat& dataset_format(const std::string& name);

/// Checks the request (settings that belong to another format, bounds),
/// loads the split and, for IDX and CIFAR-10, applies `resize` now (file
/// formats are decoded to their final geometry). Files or records dropped by
/// skip_bad are listed in `skipped_items`. Throws DatasetError.
OneClassSplit load_one_class(const DatasetRequest& request);

}  // namespace piade
