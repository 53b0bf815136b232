#include "piade/datasets/registry.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "piade/datasets/cifar10.h"
#include "piade/datasets/coil100.h"
#include "piade/datasets/error.h"
#include "piade/datasets/idx.h"
#include "piade/datasets/mvtec.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

// The request's root, which the format needs.
const std::string& need_root(const DatasetRequest& request, const std::string& root, const char* hint = "") {
  if (root.empty()) throw DatasetError("data_root", fmt::format("needed for `dataset` {}", request.name));
  if (!fs::is_directory(root)) throw DatasetError("data_root", fmt::format("'{}' is not a directory{}", root, hint));
  return root;
}

std::string root_of(const DatasetRequest& request) {
  return request.root ? *request.root : dataset_format(request.name).default_root;
}

int64_t class_0_to_9(const DatasetRequest& request) {
  const int64_t normal = request.normal_class.value_or(0);
  if (normal < 0 || normal > 9)
    throw DatasetError("normal_class", fmt::format("must be 0..9 for {}, got {}", request.name, normal));
  return normal;
}

void no_normal_class(const DatasetRequest& request, const char* normal_images) {
  if (request.normal_class)
    throw DatasetError("normal_class", fmt::format("not used by `dataset` {}; its normal images are {}",
                                                   request.name, normal_images));
}

// Class numbers in `split.test_classes` as the names in `classes`.
void name_classes(OneClassSplit& split, const std::vector<std::string>& classes) {
  for (std::string& name : split.test_classes) {
    const std::size_t number = std::stoul(name);
    if (number < classes.size()) name = classes[number];
  }
}

// The IDX file in `root` named `stem`, gzipped or not.
std::string idx_file(const fs::path& root, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    fs::path file = root / (stem + suffix);
    if (fs::exists(file)) return file.string();
  }
  throw DatasetError("data_root", fmt::format("'{}' has no {} (or {}.gz)", root.string(), stem, stem));
}

OneClassSplit load_idx(const DatasetRequest& request, const std::string& title,
                       const std::vector<std::string>& classes) {
  const std::string root = need_root(
      request, root_of(request),
      request.name == "fmnist" ? " (apt-get install dataset-fashion-mnist provides the default)" : "");
  // Looked up one by one, in this order, so a missing file is named predictably.
  std::vector<std::string> files;
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"})
    files.push_back(idx_file(root, stem));
  const ImageSet train = request.with_train ? read_idx(files[0], files[1]) : ImageSet();
  const ImageSet test = read_idx(files[2], files[3]);
  const int64_t normal = class_0_to_9(request);
  OneClassSplit split = one_class_split(train, test, normal, request.max_train, request.max_test, request.seed);
  name_classes(split, classes);
  split.description = classes.empty() ? fmt::format("{} class {}", title, normal)
                                      : fmt::format("{} class {} ({})", title, normal, classes[std::size_t(normal)]);
  return split;
}

OneClassSplit load_fmnist(const DatasetRequest& request) {
  static const std::vector<std::string> classes = {"T-shirt/top", "trouser", "pullover", "dress", "coat",
                                                   "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
  return load_idx(request, "Fashion-MNIST", classes);
}

OneClassSplit load_mnist(const DatasetRequest& request) { return load_idx(request, "MNIST", {}); }

OneClassSplit load_cifar10(const DatasetRequest& request) {
  const std::string root = need_root(request, root_of(request));
  const int64_t normal = class_0_to_9(request);
  std::vector<SkippedItem> skipped;  // training batches first, as read
  const ImageSet train =
      request.with_train ? read_cifar10(root, true, request.decode.skip_bad, &skipped) : ImageSet();
  const ImageSet test = read_cifar10(root, false, request.decode.skip_bad, &skipped);
  OneClassSplit split = one_class_split(train, test, normal, request.max_train, request.max_test, request.seed);
  split.skipped_items = std::move(skipped);
  name_classes(split, cifar10_classes());
  split.description = fmt::format("CIFAR-10 class {} ({})", normal, cifar10_classes()[std::size_t(normal)]);
  return split;
}

OneClassSplit load_coil100(const DatasetRequest& request) {
  const std::string root = need_root(request, root_of(request));
  const Coil100Files files = coil100_files(root, request.seed);
  // Objects are numbered from 1 (obj1__0.png): the default is the first.
  const int64_t normal = request.normal_class.value_or(files.objects.front());
  if (!std::binary_search(files.objects.begin(), files.objects.end(), normal))
    throw DatasetError("normal_class", fmt::format("COIL-100 object {} is not in {} (objects: {})", normal, root,
                                                   number_ranges(files.objects)));
  OneClassSplit split = one_class_files(request.with_train ? files.train : std::vector<ImageFile>(), files.test,
                                        normal, request.max_train, request.max_test, request.seed, request.decode);
  split.description = fmt::format("COIL-100 object {}", normal);
  return split;
}

OneClassSplit load_sources(const DatasetRequest& request, const FolderSources& sources, std::string description) {
  std::vector<SkippedItem> unmatched;
  const FolderFiles files = list_folder(sources, request.decode.skip_bad, &unmatched);
  OneClassSplit split = one_class_files(request.with_train ? files.train : std::vector<ImageFile>(), files.test, 0,
                                        request.max_train, request.max_test, request.seed, request.decode);
  // Listing comes before decoding: the unmatched masks and images first.
  split.skipped_items.insert(split.skipped_items.begin(), unmatched.begin(), unmatched.end());
  split.description = std::move(description);
  return split;
}

OneClassSplit load_mvtec(const DatasetRequest& request) {
  no_normal_class(request, "<category>/train/good");
  const std::string root = need_root(request, root_of(request));
  if (!request.category) {
    const std::vector<std::string> categories = mvtec_categories(root);
    throw DatasetError("category",
                       fmt::format("needed for `dataset` mvtec (available in {}: {})", root,
                                   categories.empty() ? std::string("none") : fmt::format("{}", fmt::join(categories, ", "))));
  }
  return load_sources(request, mvtec_sources(root, *request.category), fmt::format("MVTec AD {}", *request.category));
}

OneClassSplit load_folder(const DatasetRequest& request) {
  no_normal_class(request, "train/good, or `train_dir`");
  if (!request.has_named_folders()) {
    if (!request.root)
      throw DatasetError("data_root",
                         "needed for `dataset` folder (a directory with train/good/, test/good/ and "
                         "test/<anomaly>/), or name the directories with `train_dir`, `test_normal_dir` and "
                         "`test_anomalous_dir`");
    return load_sources(request, folder_layout(need_root(request, *request.root)),
                        fmt::format("image folder {}", *request.root));
  }
  if (request.root)
    throw DatasetError("data_root",
                       "give either `data_root` (laid out as train/good/, test/good/, test/<anomaly>/) or "
                       "`train_dir`, `test_normal_dir` and `test_anomalous_dir`, not both");
  const FolderSources& sources = request.folders;
  const std::pair<const char*, const std::vector<std::string>*> needed[] = {
      {"train_dir", &sources.train_dirs},
      {"test_normal_dir", &sources.test_normal_dirs},
      {"test_anomalous_dir", &sources.test_anomalous_dirs}};
  for (const auto& [setting, dirs] : needed)
    if (dirs->empty())
      throw DatasetError(setting, "needed for `dataset` folder with named directories (`train_dir`, "
                                  "`test_normal_dir`, `test_anomalous_dir`, optional `mask_dir`)");
  if (!sources.mask_dir.empty() && !fs::is_directory(sources.mask_dir))
    throw DatasetError("mask_dir", fmt::format("'{}' is not a directory", sources.mask_dir));
  return load_sources(request, sources, fmt::format("image folder {}", fmt::join(sources.train_dirs, ", ")));
}

// With resize, IDX and CIFAR-10 images get their final geometry here, as
// file datasets get it when decoded (preprocess() cannot tell a 32x32 image
// still to be resized to 40 and cropped to 32 from one already cropped).
void resize_and_crop_now(ImageSet& set, const Preprocess& settings) {
  if (!set.images.defined() || settings.resize <= 0) return;
  Preprocess to_resize;
  to_resize.image_size = settings.resize;
  Preprocess to_crop;
  to_crop.image_size = settings.image_size;
  to_crop.resize = settings.resize;
  set.images = resize_and_crop(resize_and_crop(set.images, to_resize), to_crop);
}

}  // namespace

namespace {
// The folder settings of a request, each with whether it is given: what
// has_named_folders() and the check against other formats both read.
std::vector<std::pair<const char*, bool>> folder_settings(const FolderSources& folders) {
  return {{"train_dir", !folders.train_dirs.empty()},
          {"test_normal_dir", !folders.test_normal_dirs.empty()},
          {"test_anomalous_dir", !folders.test_anomalous_dirs.empty()},
          {"mask_dir", !folders.mask_dir.empty()}};
}
}  // namespace

bool DatasetRequest::has_named_folders() const {
  for (const auto& [setting, given] : folder_settings(folders))
    if (given) return true;
  return false;
}

// Debian's dataset-fashion-mnist package provides the default Fashion-MNIST.
const std::vector<DatasetFormat>& dataset_formats() {
  static const std::vector<DatasetFormat> formats = {
      {"fmnist", "/usr/share/datasets/fashion-mnist", "Fashion-MNIST IDX files (gzipped or not)", load_fmnist},
      {"mnist", "", "MNIST IDX files (gzipped or not)", load_mnist},
      {"cifar10", "", "CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)", load_cifar10},
      {"coil100", "", "COIL-100 obj<N>__<angle>.png, split 80%/20% per object", load_coil100},
      {"mvtec", "", "MVTec AD, one category at a time", load_mvtec},
      {"folder", "", "your own images: train/good/, test/good/, test/<anomaly>/, ground_truth/", load_folder},
  };
  return formats;
}

const DatasetFormat& dataset_format(const std::string& name) {
  std::vector<std::string> names;
  for (const DatasetFormat& format : dataset_formats()) {
    if (name == format.name) return format;
    names.push_back(format.name);
  }
  throw DatasetError("dataset", fmt::format("'{}' is not supported (supported: {})", name, fmt::join(names, ", ")));
}

OneClassSplit load_one_class(const DatasetRequest& request) {
  const DatasetFormat& format = dataset_format(request.name);
  if (request.category && request.name != "mvtec")
    throw DatasetError("category", fmt::format("only for `dataset` mvtec, not {}", request.name));
  if (request.name != "folder") {
    for (const auto& [setting, given] : folder_settings(request.folders))
      if (given) throw DatasetError(setting, fmt::format("only for `dataset` folder, not {}", request.name));
  }
  if (request.max_train < 0) throw DatasetError("max_train", "must be 0 (all) or positive");
  if (request.max_test < 0) throw DatasetError("max_test", "must be 0 (all) or positive");
  if (request.max_test == 1) throw DatasetError("max_test", "needs at least 2 images (one normal, one anomalous)");

  OneClassSplit split = format.load(request);
  if (request.name == "fmnist" || request.name == "mnist" || request.name == "cifar10") {
    resize_and_crop_now(split.train, request.preprocess);
    resize_and_crop_now(split.test, request.preprocess);
  }
  return split;
}

}  // namespace piade
