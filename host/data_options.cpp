#include "host/data_options.h"

#include <filesystem>

#include <fmt/format.h>

#include "datasets/idx.h"
#include "host/error.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

struct DatasetFormat {
  const char* name;
  const char* default_root;
  const char* about;
};

// Debian's dataset-fashion-mnist package provides the default Fashion-MNIST.
const DatasetFormat kFormats[] = {
    {"fmnist", "/usr/share/datasets/fashion-mnist", "Fashion-MNIST IDX files (gzipped or not)"},
    {"mnist", "", "MNIST IDX files (gzipped or not)"},
};

// The IDX file in `root` named `stem`, gzipped or not.
std::string idx_file(const fs::path& root, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    fs::path file = root / (stem + suffix);
    if (fs::exists(file)) return file.string();
  }
  throw Error(fmt::format("--data-root: '{}' has no {} (or {}.gz)", root.string(), stem, stem));
}

}  // namespace

po::options_description dataset_options() {
  po::options_description options("Dataset");
  options.add_options()
      ("dataset", po::value<std::string>()->default_value("fmnist"), "fmnist or mnist")
      ("data-root", po::value<std::string>(), "dataset directory (default for fmnist: /usr/share/datasets/fashion-mnist)")
      ("normal-class", po::value<int64_t>()->default_value(0), "the class that is normal (one-class protocol)")
      ("max-train", po::value<int64_t>()->default_value(0), "keep at most N training images (seeded; 0 = all)")
      ("max-test", po::value<int64_t>()->default_value(0), "keep at most N test images (stratified, seeded; 0 = all)")
      ("image-size", po::value<int64_t>()->default_value(0), "resize images to S x S (0 = keep the dataset's size)")
      ("channels", po::value<int64_t>()->default_value(0), "1 or 3 (0 = the dataset's)");
  return options;
}

Preprocess preprocess_settings(const CommandLine& command_line) {
  Preprocess settings;
  settings.image_size = command_line.get<int64_t>("image-size");
  settings.channels = command_line.get<int64_t>("channels");
  if (settings.image_size < 0 || (settings.image_size > 0 && settings.image_size < 16))
    throw Error(fmt::format("--image-size: must be at least 16, got {}", settings.image_size));
  if (settings.channels != 0 && settings.channels != 1 && settings.channels != 3)
    throw Error(fmt::format("--channels: must be 1 or 3, got {}", settings.channels));
  return settings;
}

OneClassSplit load_dataset(const CommandLine& command_line, uint64_t seed) {
  const std::string name = command_line.get<std::string>("dataset");
  const DatasetFormat* format = nullptr;
  std::vector<std::string> names;
  for (const DatasetFormat& f : kFormats) {
    names.push_back(f.name);
    if (name == f.name) format = &f;
  }
  if (!format)
    throw Error(fmt::format("--dataset: '{}' is not supported (supported: {}){}", name,
                            fmt::join(names, ", "), did_you_mean(name, names)));
  std::string root = command_line.values.count("data-root") ? command_line.get<std::string>("data-root")
                                                            : format->default_root;
  if (root.empty()) throw Error(fmt::format("--data-root: needed for --dataset {}", name));
  if (!fs::is_directory(root))
    throw Error(fmt::format("--data-root: '{}' is not a directory{}", root,
                            name == "fmnist" ? " (apt-get install dataset-fashion-mnist provides the default)" : ""));
  // Looked up one by one, in this order, so a missing file is named predictably.
  std::vector<std::string> files;
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"})
    files.push_back(idx_file(root, stem));
  const ImageSet train = read_idx(files[0], files[1]);
  const ImageSet test = read_idx(files[2], files[3]);
  const int64_t normal = command_line.get<int64_t>("normal-class");
  if (normal < 0 || normal > 9) throw Error(fmt::format("--normal-class: must be 0..9 for {}, got {}", name, normal));
  const int64_t max_train = command_line.get<int64_t>("max-train");
  const int64_t max_test = command_line.get<int64_t>("max-test");
  if (max_train < 0 || max_test < 0) throw Error("--max-train/--max-test: must be 0 (all) or positive");
  if (max_test == 1) throw Error("--max-test: needs at least 2 images (one normal, one anomalous)");
  return one_class_split(train, test, normal, max_train, max_test, seed);
}

}  // namespace piade
