#include "cli/data_options.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include <fmt/format.h>

#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/datasets/registry.h"
#include "piade/sdk/log.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

const char* const kFolderOptions[] = {"train-dir", "test-normal-dir", "test-anomalous-dir", "mask-dir"};
const char* const kFolderDirLists[] = {"train-dir", "test-normal-dir", "test-anomalous-dir"};

// A dataset setting as the flag that sets it: data_root -> --data-root.
std::string flag_of(const std::string& setting) {
  std::string flag = "--" + setting;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

// Sets an option as if the user had given it.
template <class T>
void set_option(CommandLine& command_line, const std::string& name, const T& value) {
  command_line.values.erase(name);
  command_line.values.insert({name, po::variable_value(boost::any(value), false)});
}

}  // namespace

// --dataset's help: the registry's formats, one per line.
static std::string dataset_help() {
  std::string help = "the dataset format:";
  for (const DatasetFormat& format : dataset_formats()) help += fmt::format("\n  {}: {}", format.name, format.about);
  return help;
}

po::options_description dataset_options() {
  po::options_description options("Dataset");
  options.add_options()
      ("dataset", po::value<std::string>()->default_value(DatasetRequest().name), dataset_help().c_str())
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

std::string cli_message(const DatasetError& error) {
  // The settings the message names (`image_size`) become flags (--image-size).
  std::string text;
  const std::string& message = error.message();
  for (std::size_t i = 0; i < message.size(); ++i) {
    const std::size_t close = message[i] == '`' ? message.find('`', i + 1) : std::string::npos;
    if (close == std::string::npos) {
      text += message[i];
      continue;
    }
    text += flag_of(message.substr(i + 1, close - i - 1));
    i = close;
  }
  return error.setting().empty() ? text : flag_of(error.setting()) + ": " + text;
}

OneClassSplit load_dataset(const CommandLine& command_line, uint64_t seed, DatasetSplits splits) {
  DatasetRequest request;
  request.name = command_line.get<std::string>("dataset");
  std::vector<std::string> names;
  for (const DatasetFormat& format : dataset_formats()) names.push_back(format.name);
  if (std::find(names.begin(), names.end(), request.name) == names.end())
    throw Error(fmt::format("--dataset: '{}' is not supported (supported: {}){}", request.name,
                            fmt::join(names, ", "), did_you_mean(request.name, names)));
  auto text = [&](const char* option) -> std::optional<std::string> {
    if (!command_line.values.count(option)) return std::nullopt;
    return command_line.get<std::string>(option);
  };
  auto dirs = [&](const char* option) {
    return command_line.values.count(option) ? command_line.get<std::vector<std::string>>(option)
                                             : std::vector<std::string>();
  };
  request.root = text("data-root");
  if (command_line.has("normal-class")) request.normal_class = command_line.get<int64_t>("normal-class");
  request.category = text("category");
  request.folders.train_dirs = dirs("train-dir");
  request.folders.test_normal_dirs = dirs("test-normal-dir");
  request.folders.test_anomalous_dirs = dirs("test-anomalous-dir");
  request.folders.mask_dir = text("mask-dir").value_or("");
  request.max_train = command_line.get<int64_t>("max-train");
  request.max_test = command_line.get<int64_t>("max-test");
  request.seed = seed;
  request.with_train = splits == DatasetSplits::both;
  request.preprocess = preprocess_settings(command_line);
  request.decode = decode_settings(command_line);

  OneClassSplit split;
  try {
    split = load_one_class(request);
  } catch (const DatasetError& e) {
    throw Error(cli_message(e));
  }
  warn_skipped(fmt::format("--skip-bad: skipped {} unreadable file(s) or record(s) of {}", split.skipped_items.size(),
                           split.description),
               split.skipped_items);
  return split;
}

void warn_skipped(const std::string& summary, const std::vector<SkippedItem>& skipped) {
  if (skipped.empty()) return;
  // A handful is enough on the terminal; the rest would bury the run's output.
  constexpr std::size_t kShown = 5;
  warn(summary);
  for (std::size_t i = 0; i < std::min(skipped.size(), kShown); ++i) {
    const SkippedItem& skip = skipped[i];
    // Reasons about a file start with its path, which the line already names.
    const std::string prefix = skip.item + ": ";
    const bool named = skip.reason.compare(0, prefix.size(), prefix) == 0;
    warn(fmt::format("skipped {}: {}", skip.item, named ? skip.reason.substr(prefix.size()) : skip.reason));
  }
  if (skipped.size() > kShown) warn(fmt::format("... and {} more", skipped.size() - kShown));
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
