#include "host/data_options.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include <fmt/format.h>

#include "datasets/cifar10.h"
#include "datasets/coil100.h"
#include "datasets/folder.h"
#include "datasets/idx.h"
#include "datasets/mvtec.h"
#include "host/checkpoint.h"
#include "host/error.h"
#include "piade/sdk/log.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

// What load_dataset hands to a format's loader, read from the options once.
struct Request {
  const CommandLine* command_line = nullptr;
  std::string name;  // --dataset
  std::string root;  // --data-root, the format's default, or ""
  bool normal_given = false;
  int64_t normal = 0;
  int64_t max_train = 0, max_test = 0;
  uint64_t seed = 0;
  bool with_train = true;  // false: DatasetSplits::test_only
  DecodeOptions decode;
  Preprocess preprocess;

  // The root, which the format needs.
  const std::string& need_root(const char* hint = "") const {
    if (root.empty()) throw Error(fmt::format("--data-root: needed for --dataset {}", name));
    if (!fs::is_directory(root)) throw Error(fmt::format("--data-root: '{}' is not a directory{}", root, hint));
    return root;
  }
  int64_t class_0_to_9() const {
    if (normal < 0 || normal > 9) throw Error(fmt::format("--normal-class: must be 0..9 for {}, got {}", name, normal));
    return normal;
  }
  void no_normal_class(const char* normal_images) const {
    if (normal_given)
      throw Error(fmt::format("--normal-class: not used by --dataset {}; its normal images are {}", name, normal_images));
  }
};

using Loader = OneClassSplit (*)(const Request&);

struct DatasetFormat {
  const char* name;
  const char* default_root;
  const char* about;
  Loader load;
};

// The IDX file in `root` named `stem`, gzipped or not.
std::string idx_file(const fs::path& root, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    fs::path file = root / (stem + suffix);
    if (fs::exists(file)) return file.string();
  }
  throw Error(fmt::format("--data-root: '{}' has no {} (or {}.gz)", root.string(), stem, stem));
}

OneClassSplit load_idx(const Request& request, const std::string& title,
                       const std::vector<std::string>& classes) {
  const std::string& root =
      request.need_root(request.name == "fmnist" ? " (apt-get install dataset-fashion-mnist provides the default)" : "");
  // Looked up one by one, in this order, so a missing file is named predictably.
  std::vector<std::string> files;
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"})
    files.push_back(idx_file(root, stem));
  const ImageSet train = request.with_train ? read_idx(files[0], files[1]) : ImageSet();
  const ImageSet test = read_idx(files[2], files[3]);
  const int64_t normal = request.class_0_to_9();
  OneClassSplit split = one_class_split(train, test, normal, request.max_train, request.max_test, request.seed);
  split.description = classes.empty() ? fmt::format("{} class {}", title, normal)
                                      : fmt::format("{} class {} ({})", title, normal, classes[std::size_t(normal)]);
  return split;
}

OneClassSplit load_fmnist(const Request& request) {
  static const std::vector<std::string> classes = {"T-shirt/top", "trouser", "pullover", "dress", "coat",
                                                   "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
  return load_idx(request, "Fashion-MNIST", classes);
}

OneClassSplit load_mnist(const Request& request) { return load_idx(request, "MNIST", {}); }

OneClassSplit load_cifar10(const Request& request) {
  const std::string& root = request.need_root();
  const int64_t normal = request.class_0_to_9();
  int64_t skipped_train = 0, skipped_test = 0;
  const ImageSet train =
      request.with_train ? read_cifar10(root, true, request.decode.skip_bad, &skipped_train) : ImageSet();
  const ImageSet test = read_cifar10(root, false, request.decode.skip_bad, &skipped_test);
  OneClassSplit split = one_class_split(train, test, normal, request.max_train, request.max_test, request.seed);
  split.skipped = skipped_train + skipped_test;
  split.description = fmt::format("CIFAR-10 class {} ({})", normal, cifar10_classes()[std::size_t(normal)]);
  return split;
}

OneClassSplit load_coil100(const Request& request) {
  const Coil100Files files = coil100_files(request.need_root(), request.seed);
  // Objects are numbered from 1 (obj1__0.png): the default is the first.
  const int64_t normal = request.normal_given ? request.normal : files.objects.front();
  if (!std::binary_search(files.objects.begin(), files.objects.end(), normal))
    throw Error(fmt::format("--normal-class: COIL-100 object {} is not in {} (objects: {})", normal, request.root,
                            number_ranges(files.objects)));
  OneClassSplit split = one_class_files(request.with_train ? files.train : std::vector<ImageFile>(), files.test,
                                        normal, request.max_train, request.max_test, request.seed, request.decode);
  split.description = fmt::format("COIL-100 object {}", normal);
  return split;
}

OneClassSplit load_sources(const Request& request, const FolderSources& sources, std::string description) {
  int64_t unmatched = 0;
  const FolderFiles files = list_folder(sources, request.decode.skip_bad, &unmatched);
  OneClassSplit split = one_class_files(request.with_train ? files.train : std::vector<ImageFile>(), files.test, 0,
                                        request.max_train, request.max_test, request.seed, request.decode);
  split.skipped += unmatched;
  split.description = std::move(description);
  return split;
}

OneClassSplit load_mvtec(const Request& request) {
  request.no_normal_class("<category>/train/good");
  const std::string& root = request.need_root();
  const CommandLine& command_line = *request.command_line;
  if (!command_line.values.count("category")) {
    const std::vector<std::string> categories = mvtec_categories(root);
    throw Error(fmt::format("--category: needed for --dataset mvtec (available in {}: {})", root,
                            categories.empty() ? std::string("none") : fmt::format("{}", fmt::join(categories, ", "))));
  }
  const std::string category = command_line.get<std::string>("category");
  return load_sources(request, mvtec_sources(root, category), fmt::format("MVTec AD {}", category));
}

const char* const kFolderOptions[] = {"train-dir", "test-normal-dir", "test-anomalous-dir", "mask-dir"};
const char* const kFolderDirLists[] = {"train-dir", "test-normal-dir", "test-anomalous-dir"};

OneClassSplit load_folder(const Request& request) {
  request.no_normal_class("train/good, or --train-dir");
  const CommandLine& command_line = *request.command_line;
  const bool named = std::any_of(std::begin(kFolderOptions), std::end(kFolderOptions),
                                 [&](const char* option) { return command_line.values.count(option) > 0; });
  if (!named) {
    if (request.root.empty())
      throw Error("--data-root: needed for --dataset folder (a directory with train/good/, test/good/ and "
                  "test/<anomaly>/), or name the directories with --train-dir, --test-normal-dir and "
                  "--test-anomalous-dir");
    return load_sources(request, folder_layout(request.need_root()), fmt::format("image folder {}", request.root));
  }
  if (command_line.values.count("data-root"))
    throw Error("--data-root: give either --data-root (laid out as train/good/, test/good/, test/<anomaly>/) or "
                "--train-dir, --test-normal-dir and --test-anomalous-dir, not both");
  FolderSources sources;
  auto dirs = [&](const char* option) {
    if (!command_line.values.count(option))
      throw Error(fmt::format("--{}: needed for --dataset folder with named directories (--train-dir, "
                              "--test-normal-dir, --test-anomalous-dir, optional --mask-dir)",
                              option));
    return command_line.get<std::vector<std::string>>(option);
  };
  sources.train_dirs = dirs("train-dir");
  sources.test_normal_dirs = dirs("test-normal-dir");
  sources.test_anomalous_dirs = dirs("test-anomalous-dir");
  if (command_line.values.count("mask-dir")) {
    sources.mask_dir = command_line.get<std::string>("mask-dir");
    if (!fs::is_directory(sources.mask_dir))
      throw Error(fmt::format("--mask-dir: '{}' is not a directory", sources.mask_dir));
  }
  return load_sources(request, sources, fmt::format("image folder {}", fmt::join(sources.train_dirs, ", ")));
}

// Debian's dataset-fashion-mnist package provides the default Fashion-MNIST.
const DatasetFormat kFormats[] = {
    {"fmnist", "/usr/share/datasets/fashion-mnist", "Fashion-MNIST IDX files (gzipped or not)", load_fmnist},
    {"mnist", "", "MNIST IDX files (gzipped or not)", load_mnist},
    {"cifar10", "", "CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)", load_cifar10},
    {"coil100", "", "COIL-100 obj<N>__<angle>.png, split 80%/20% per object", load_coil100},
    {"mvtec", "", "MVTec AD, one --category", load_mvtec},
    {"folder", "", "your own images: train/good/, test/good/, test/<anomaly>/, ground_truth/", load_folder},
};

// With --resize, IDX and CIFAR-10 images get their final geometry here, as
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

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

// Sets an option as if the user had given it.
template <class T>
void set_option(CommandLine& command_line, const std::string& name, const T& value) {
  command_line.values.erase(name);
  command_line.values.insert({name, po::variable_value(boost::any(value), false)});
}

}  // namespace

po::options_description dataset_options() {
  po::options_description options("Dataset");
  options.add_options()
      ("dataset", po::value<std::string>()->default_value("fmnist"), "fmnist, mnist, cifar10, coil100, mvtec or folder")
      ("data-root", po::value<std::string>(), "dataset directory (default for fmnist: /usr/share/datasets/fashion-mnist)")
      ("normal-class", po::value<int64_t>()->default_value(0), "the normal class (one-class protocol): 0..9 for fmnist, mnist, cifar10; the object N of obj<N> for coil100 (default: the first)")
      ("category", po::value<std::string>(), "MVTec AD category (bottle, cable, ...)")
      ("max-train", po::value<int64_t>()->default_value(0), "keep at most N training images (seeded; 0 = all)")
      ("max-test", po::value<int64_t>()->default_value(0), "keep at most N test images (stratified, seeded; 0 = all)")
      ("image-size", po::value<int64_t>()->default_value(0), "resize images to S x S (0 = keep the dataset's size)")
      ("resize", po::value<int64_t>()->default_value(0), "resize to R x R first, then center-crop to --image-size (the authors' code: --resize 156 --image-size 120; 0 = no crop)")
      ("channels", po::value<int64_t>()->default_value(0), "1 or 3 (0 = the dataset's); gray is repeated")
      ("skip-bad", po::value<bool>()->default_value(false)->implicit_value(true), "skip unreadable images or records, and say how many")
      ("train-dir", po::value<std::vector<std::string>>()->composing(), "folder dataset: normal training images (repeatable)")
      ("test-normal-dir", po::value<std::vector<std::string>>()->composing(), "folder dataset: normal test images (repeatable)")
      ("test-anomalous-dir", po::value<std::vector<std::string>>()->composing(), "folder dataset: anomalous test images (repeatable)")
      ("mask-dir", po::value<std::string>(), "folder dataset: masks of the anomalous images, NAME_mask.png (in a sub-directory named after each anomalous directory, if there is one)");
  return options;
}

Preprocess preprocess_settings(const CommandLine& command_line) {
  Preprocess settings;
  settings.image_size = command_line.get<int64_t>("image-size");
  settings.channels = command_line.get<int64_t>("channels");
  settings.resize = command_line.values.count("resize") ? command_line.get<int64_t>("resize") : 0;
  if (settings.image_size < 0 || (settings.image_size > 0 && settings.image_size < 16))
    throw Error(fmt::format("--image-size: must be at least 16, got {}", settings.image_size));
  if (settings.channels != 0 && settings.channels != 1 && settings.channels != 3)
    throw Error(fmt::format("--channels: must be 1 or 3, got {}", settings.channels));
  if (settings.resize < 0 || (settings.resize > 0 && settings.resize < 16))
    throw Error(fmt::format("--resize: must be at least 16, got {}", settings.resize));
  if (settings.resize > 0 && settings.image_size == 0) std::swap(settings.image_size, settings.resize);  // no crop
  if (settings.resize > 0 && settings.resize < settings.image_size)
    throw Error(fmt::format("--resize: must be at least --image-size ({}), got {}", settings.image_size,
                            settings.resize));
  if (settings.resize == settings.image_size) settings.resize = 0;
  return settings;
}

DecodeOptions decode_settings(const CommandLine& command_line) {
  const Preprocess geometry = preprocess_settings(command_line);
  DecodeOptions options;
  options.channels = geometry.channels;
  options.image_size = geometry.image_size;
  options.resize = geometry.resize;
  options.skip_bad = command_line.values.count("skip-bad") && command_line.get<bool>("skip-bad");
  return options;
}

OneClassSplit load_dataset(const CommandLine& command_line, uint64_t seed, DatasetSplits splits) {
  Request request;
  request.command_line = &command_line;
  request.name = command_line.get<std::string>("dataset");
  const DatasetFormat* format = nullptr;
  std::vector<std::string> names;
  for (const DatasetFormat& f : kFormats) {
    names.push_back(f.name);
    if (request.name == f.name) format = &f;
  }
  if (!format)
    throw Error(fmt::format("--dataset: '{}' is not supported (supported: {}){}", request.name,
                            fmt::join(names, ", "), did_you_mean(request.name, names)));
  if (command_line.values.count("category") && request.name != "mvtec")
    throw Error(fmt::format("--category: only for --dataset mvtec, not {}", request.name));
  for (const char* option : kFolderOptions)
    if (command_line.values.count(option) && request.name != "folder")
      throw Error(fmt::format("--{}: only for --dataset folder, not {}", option, request.name));

  request.root = command_line.values.count("data-root") ? command_line.get<std::string>("data-root")
                                                        : format->default_root;
  request.normal_given = command_line.has("normal-class");
  request.normal = command_line.get<int64_t>("normal-class");
  request.max_train = command_line.get<int64_t>("max-train");
  request.max_test = command_line.get<int64_t>("max-test");
  if (request.max_train < 0 || request.max_test < 0) throw Error("--max-train/--max-test: must be 0 (all) or positive");
  if (request.max_test == 1) throw Error("--max-test: needs at least 2 images (one normal, one anomalous)");
  request.seed = seed;
  request.with_train = splits == DatasetSplits::both;
  request.preprocess = preprocess_settings(command_line);
  request.decode = decode_settings(command_line);

  OneClassSplit split = format->load(request);
  if (request.name == "fmnist" || request.name == "mnist" || request.name == "cifar10") {
    resize_and_crop_now(split.train, request.preprocess);
    resize_and_crop_now(split.test, request.preprocess);
  }
  if (split.skipped > 0)
    warn(fmt::format("--skip-bad: skipped {} unreadable file(s) or record(s) of {}", split.skipped,
                     split.description));
  return split;
}

nlohmann::json dataset_to_json(const CommandLine& command_line, const OneClassSplit& data) {
  nlohmann::json options = {{"dataset", command_line.get<std::string>("dataset")}};
  if (command_line.values.count("data-root")) options["data-root"] = absolute(command_line.get<std::string>("data-root"));
  if (command_line.has("normal-class")) options["normal-class"] = command_line.get<int64_t>("normal-class");
  if (command_line.values.count("category")) options["category"] = command_line.get<std::string>("category");
  for (const char* option : kFolderDirLists)
    if (command_line.values.count(option)) {
      std::vector<std::string> dirs;
      for (const std::string& dir : command_line.get<std::vector<std::string>>(option)) dirs.push_back(absolute(dir));
      options[option] = dirs;
    }
  if (command_line.values.count("mask-dir")) options["mask-dir"] = absolute(command_line.get<std::string>("mask-dir"));
  return {{"name", command_line.get<std::string>("dataset")},
          {"description", data.description},
          {"normal_class", command_line.get<int64_t>("normal-class")},
          {"train_images", data.train.size()},
          {"options", options}};
}

void apply_checkpoint_dataset(CommandLine& command_line, const nlohmann::json& meta, const std::string& file) {
  // The network's input: the images must be decoded as they were in training.
  // What the user gave is compared after the same normalisation
  // (--resize R alone means --image-size R).
  const Preprocess trained = checkpoint_preprocess(meta);
  const Preprocess given = preprocess_settings(command_line);
  const bool size_given = command_line.has("image-size") || command_line.has("resize");
  const std::tuple<const char*, bool, int64_t, int64_t> geometry[] = {
      {"image-size", size_given, given.image_size, trained.image_size},
      {"resize", command_line.has("resize"), given.resize, trained.resize},
      {"channels", command_line.has("channels"), given.channels, trained.channels}};
  for (const auto& [option, is_given, value, wanted] : geometry)
    if (is_given && value != wanted)
      throw Error(fmt::format("--{}: {} was trained with --{} {}; leave the option out or give {}", option, file,
                              option, wanted, wanted));
  set_option(command_line, "image-size", trained.image_size);
  set_option(command_line, "resize", trained.resize);
  set_option(command_line, "channels", trained.channels);

  const nlohmann::json recorded = meta.value("dataset", nlohmann::json::object());
  nlohmann::json options = recorded.value("options", nlohmann::json::object());
  if (options.empty() && recorded.contains("name")) {  // checkpoints from before "options"
    options["dataset"] = recorded["name"];
    if (recorded.contains("normal_class")) options["normal-class"] = recorded["normal_class"];
  }
  if (!options.contains("dataset")) return;
  const std::string name = options["dataset"].get<std::string>();
  if (command_line.has("dataset") && command_line.get<std::string>("dataset") != name) return;  // other data
  // The folder layout (--data-root) and the named directories exclude each
  // other: what the user gave decides.
  const bool root_given = command_line.has("data-root");
  const bool dirs_given = std::any_of(std::begin(kFolderOptions), std::end(kFolderOptions),
                                      [&](const char* option) { return command_line.has(option); });
  try {
    for (const auto& [option, value] : options.items()) {
      const bool folder_option =
          std::find(std::begin(kFolderOptions), std::end(kFolderOptions), option) != std::end(kFolderOptions);
      if (command_line.has(option) || (folder_option && root_given) || (option == "data-root" && dirs_given))
        continue;
      if (value.is_string()) set_option(command_line, option, value.get<std::string>());
      else if (value.is_number_integer()) set_option(command_line, option, value.get<int64_t>());
      else if (value.is_array()) set_option(command_line, option, value.get<std::vector<std::string>>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed dataset entry ({})", file, e.what()));
  }
}

}  // namespace piade
