#include "cli/data_options.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/datasets/limits.h"
#include "piade/datasets/registry.h"
#include "piade/sdk/log.h"
#include "cli/logging.h"

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

}  // namespace

// --dataset's help: the registry's formats, one per line.
static std::string dataset_help() {
  std::string help = "the dataset format:";
  for (const DatasetFormat& format : dataset_formats()) help += fmt::format("\n  {}: {}", format.name, format.about);
  return help;
}

po::options_description dataset_options() {
  po::options_description options;
  options.add_options()
      ("dataset", po::value<std::string>()->default_value(DatasetRequest().name)->value_name("NAME"), dataset_help().c_str())
      ("data-root", po::value<std::string>()->value_name("DIR"), "dataset directory (fmnist without it: /usr/share/datasets/fashion-mnist)")
      ("normal-class", po::value<int64_t>()->default_value(0)->value_name("N"), "the normal class (one-class protocol): 0..9 for fmnist, mnist, cifar10; the object N of obj<N> for coil100 (unset: its first object)")
      ("category", po::value<std::string>()->value_name("NAME"), "MVTec AD category (bottle, cable, ...)")
      ("max-train", po::value<int64_t>()->default_value(0)->value_name("N"), "keep at most N training images (seeded; 0 = all)")
      ("max-test", po::value<int64_t>()->default_value(0)->value_name("N"), "keep at most N test images (stratified, seeded; 0 = all)")
      ("image-size", po::value<int64_t>()->default_value(0)->value_name("S"), "resize images to S x S (0 = keep the dataset's size)")
      ("resize", po::value<int64_t>()->default_value(0)->value_name("R"), "resize to R x R first, then center-crop to --image-size (the authors' code: --resize 156 --image-size 120; 0 = no crop)")
      ("channels", po::value<int64_t>()->default_value(0)->value_name("C"), "1 or 3 (0 = the dataset's); gray is repeated")
      ("skip-bad", po::value<bool>()->default_value(false)->implicit_value(true), "skip unreadable images or records, and name them")
      ("memory-budget", po::value<std::string>()->value_name("SIZE"), "most memory an image-file dataset may take decoded (N x C x S x S bytes), e.g. 4G, 512M; a larger one is decoded batch by batch while training and scoring (default: a quarter of RAM or of the cgroup limit)")
      ("train-dir", po::value<std::vector<std::string>>()->composing()->value_name("DIR"), "folder dataset: normal training images")
      ("test-normal-dir", po::value<std::vector<std::string>>()->composing()->value_name("DIR"), "folder dataset: normal test images")
      ("test-anomalous-dir", po::value<std::vector<std::string>>()->composing()->value_name("DIR"), "folder dataset: anomalous test images")
      ("mask-dir", po::value<std::string>()->value_name("DIR"), "folder dataset: masks of the anomalous images, NAME_mask.png (in a sub-directory named after each anomalous directory, if there is one)");
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
  options.memory_budget = command_line.values.count("memory-budget")
                              ? parse_memory_budget(command_line.get<std::string>("memory-budget"))
                              : default_memory_budget();
  return options;
}

uint64_t parse_memory_budget(const std::string& text) {
  const std::string expected =
      fmt::format("--memory-budget: expected a size such as 4G, 512M or 65536 (bytes), got '{}'", text);
  std::size_t end = 0;
  double number = 0;
  try {
    number = std::stod(text, &end);
  } catch (const std::exception&) {
    throw Error(expected);
  }
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) throw Error(expected);
  std::string unit = text.substr(end);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  // Binary units, as free(1) and Slurm's --mem count them.
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"B", 1},
      {"K", 0x1p10},    {"KB", 0x1p10}, {"KIB", 0x1p10},
      {"M", 0x1p20},    {"MB", 0x1p20}, {"MIB", 0x1p20},
      {"G", 0x1p30},    {"GB", 0x1p30}, {"GIB", 0x1p30},
      {"T", 0x1p40},    {"TB", 0x1p40}, {"TIB", 0x1p40}};
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    const double bytes = std::floor(number * scale);
    if (!(bytes >= 1))
      throw Error(fmt::format("--memory-budget: must be at least 1 byte, got '{}'", text));
    if (!(bytes < 0x1p63)) throw Error(fmt::format("--memory-budget: '{}' is more than 8 EiB", text));
    return uint64_t(bytes);
  }
  throw Error(expected);
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
  request.max_train = command_line.values.count("max-train") ? command_line.get<int64_t>("max-train") : 0;
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
  if (split.train.streamed() || split.test.streamed())
    spdlog::info("streaming {}: decoded it would take more than --memory-budget ({} MiB), so its images are "
                 "decoded batch by batch as training and scoring need them",
                 split.description, request.decode.memory_budget >> 20);
  warn_skipped(fmt::format("--skip-bad: skipped {} of {}",
                           count_of(int64_t(split.skipped_items.size()), "unreadable file or record",
                                    "unreadable files or records"),
                           split.description),
               split.skipped_items);
  return split;
}

void warn_skipped(const std::string& summary, const std::vector<SkippedItem>& skipped) {
  if (skipped.empty()) return;
  // A handful is enough on the terminal; the rest would bury the run's output.
  constexpr std::size_t kShown = 5;
  warn(summary);
  for (std::size_t i = 0; i < skipped.size(); ++i) {
    const SkippedItem& skip = skipped[i];
    // Reasons about a file start with its path, which the line already names.
    const std::string prefix = skip.item + ": ";
    const bool named = skip.reason.compare(0, prefix.size(), prefix) == 0;
    const std::string line =
        fmt::format("skipped {}: {}", skip.item, named ? skip.reason.substr(prefix.size()) : skip.reason);
    if (i < kShown) warn(line);
    else log_to_file_only(line);  // the log file lists every one
  }
  if (skipped.size() > kShown)
    warn(fmt::format("... and {} more{}", skipped.size() - kShown,
                     logging_to_file() ? " (all of them in --log-file)" : " (--log-file FILE lists them all)"));
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

nlohmann::json stored_configuration(const CommandLine& command_line, const PipelineConfig& pipeline) {
  static const std::set<std::string> paths = {"data-root", "train-dir", "test-normal-dir", "test-anomalous-dir",
                                              "mask-dir"};
  // A setting of the machine, not of the run (results do not depend on it).
  static const std::set<std::string> machine = {"memory-budget"};
  nlohmann::json stored = nlohmann::json::object();
  // Data keys only as chosen: a default such as --normal-class 0 means
  // nothing to an MVTec category, and eval would pass it on.
  const std::pair<po::options_description, bool> groups[] = {
      {pipeline_options(), false}, {dataset_options(), true}, {training_options(), false}};
  for (const auto& [group, only_chosen] : groups)
    for (const auto& option : group.options()) {
      const std::string& key = option->long_name();
      if (!command_line.values.count(key) || machine.count(key)) continue;
      if (only_chosen && command_line.values[key].defaulted()) continue;
      std::vector<std::string> values = value_texts(command_line.values[key]);
      if (paths.count(key))
        for (std::string& value : values) value = absolute(value);
      if (values.empty()) continue;
      if (option->semantic()->is_composing()) stored[key] = values;
      else stored[key] = values.front();
    }
  stored["loss"] = nlohmann::json(loss_names(command_line));
  for (const PartConfig* part : pipeline.parts()) {
    const std::string owner = part->component->kind == Kind::loss ? "loss." + part->component->name
                                                                 : kind_name(part->component->kind);
    for (const auto& [name, value] : part->params.values()) stored[owner + "." + name] = part->params.text(name);
  }
  return stored;
}

KeyTexts checkpoint_configuration(const std::string& checkpoint, const KeyTexts& given) {
  const fs::path file = checkpoint_file(checkpoint);
  return checkpoint_configuration(read_checkpoint_meta(file), file.string(), given);
}

KeyTexts checkpoint_configuration(const nlohmann::json& meta, const std::string& file, const KeyTexts& given) {
  KeyTexts stored;
  try {
    nlohmann::json config = meta.value("config", nlohmann::json::object());
    if (config.empty()) {  // checkpoints from before meta["config"]: the dataset they record
      const nlohmann::json recorded = meta.value("dataset", nlohmann::json::object());
      config = recorded.value("options", nlohmann::json::object());
      if (config.empty() && recorded.contains("name")) {
        config["dataset"] = recorded["name"];
        if (recorded.contains("normal_class")) config["normal-class"] = recorded["normal_class"];
      }
    }
    for (const auto& [key, value] : config.items()) {
      if (value.is_array()) stored[key] = value.get<std::vector<std::string>>();
      else if (value.is_string()) stored[key] = {value.get<std::string>()};
      else if (value.is_number_integer()) stored[key] = {std::to_string(value.get<int64_t>())};
      else if (value.is_boolean()) stored[key] = {value.get<bool>() ? "true" : "false"};
      else if (value.is_number()) stored[key] = {fmt::format("{}", value.get<double>())};
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed configuration ({})", file, e.what()));
  }
  // The network's input: the images must be decoded as they were in training.
  const Preprocess trained = checkpoint_preprocess(meta);
  stored["image-size"] = {std::to_string(trained.image_size)};
  stored["resize"] = {std::to_string(trained.resize)};
  stored["channels"] = {std::to_string(trained.channels)};

  const auto stored_dataset = stored.find("dataset");
  const bool other_data = given.count("dataset") && stored_dataset != stored.end() &&
                          given.at("dataset").back() != stored_dataset->second.back();
  const bool root_given = given.count("data-root") != 0;
  const bool dirs_given = std::any_of(std::begin(kFolderOptions), std::end(kFolderOptions),
                                      [&](const char* option) { return given.count(option) != 0; });
  const po::options_description data = dataset_options();
  for (auto it = stored.begin(); it != stored.end();) {
    const std::string& key = it->first;
    const bool data_key = data.find_nothrow(key, false) != nullptr && key != "image-size" && key != "resize" &&
                          key != "channels";
    const bool folder_key =
        std::find(std::begin(kFolderOptions), std::end(kFolderOptions), key) != std::end(kFolderOptions);
    const bool dropped = (data_key && other_data) || (folder_key && root_given) || (key == "data-root" && dirs_given);
    it = dropped ? stored.erase(it) : std::next(it);
  }
  return stored;
}

void check_checkpoint_geometry(const CommandLine& command_line, const nlohmann::json& meta, const std::string& file) {
  const Preprocess trained = checkpoint_preprocess(meta);
  const Preprocess given = preprocess_settings(command_line);
  if (given.image_size == trained.image_size && given.resize == trained.resize && given.channels == trained.channels)
    return;
  const std::tuple<const char*, int64_t> geometry[] = {
      {"image-size", trained.image_size}, {"resize", trained.resize}, {"channels", trained.channels}};
  for (const auto& [option, wanted] : geometry)
    if (command_line.given_by_user(option) && command_line.get<int64_t>(option) != wanted)
      throw Error(fmt::format("--{}: {} was trained with --{} {}; leave the option out or give {}", option, file,
                              option, wanted, wanted));
  throw Error(fmt::format("--image-size, --resize, --channels: {} was trained on {}x{} images (resize {}, {} "
                          "channels); leave these options out",
                          file, trained.image_size, trained.image_size, trained.resize, trained.channels));
}

}  // namespace piade
