// `piade train`: builds the pipeline from plugins and trains it on the
// normal images of a dataset, leaving a self-describing checkpoint in --out.
#include <filesystem>

#include <fmt/format.h>
#include <torch/utils.h>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"
#include "cli/data_options.h"
#include "piade/core/trainer.h"

namespace piade {

namespace {

po::options_description training_options() {
  const TrainSettings defaults;
  po::options_description options("Training (defaults: the paper's Table 1)");
  options.add_options()
      ("out", po::value<std::string>(), "output directory (checkpoint.pt, train_log.csv)")
      ("epochs", po::value<int64_t>()->default_value(defaults.epochs), "training epochs")
      ("batch-size", po::value<int64_t>()->default_value(defaults.batch_size), "images per step")
      ("lr", po::value<double>()->default_value(defaults.lr), "Adam learning rate")
      ("weight-decay", po::value<double>()->default_value(defaults.weight_decay), "Adam weight decay")
      ("seed", po::value<uint64_t>()->default_value(defaults.seed), "seed for init, data order and subsets")
      ("checkpoint-every", po::value<int64_t>()->default_value(defaults.checkpoint_every), "epochs between checkpoints (0 = end only)")
      ("resume", po::value<bool>()->default_value(false)->implicit_value(true), "continue the run in --out")
      ("progress", po::value<bool>()->default_value(true)->implicit_value(true), "show a progress bar");
  return options;
}

}  // namespace

po::options_description train_command_options() {
  po::options_description options = common_options();
  options.add(pipeline_options()).add(dataset_options()).add(training_options());
  return options;
}

TrainSettings train_settings(const CommandLine& command_line) {
  TrainSettings settings;
  settings.epochs = command_line.get<int64_t>("epochs");
  settings.batch_size = command_line.get<int64_t>("batch-size");
  settings.lr = command_line.get<double>("lr");
  settings.weight_decay = command_line.get<double>("weight-decay");
  settings.seed = command_line.get<uint64_t>("seed");
  settings.checkpoint_every = command_line.get<int64_t>("checkpoint-every");
  settings.precision = parse_precision(command_line.get<std::string>("amp"));
  if (settings.epochs < 1) throw Error(fmt::format("--epochs: must be at least 1, got {}", settings.epochs));
  if (settings.batch_size < 2)
    throw Error(fmt::format("--batch-size: must be at least 2 (batch norm), got {}", settings.batch_size));
  if (!(settings.lr > 0)) throw Error(fmt::format("--lr: must be positive, got {}", settings.lr));
  if (settings.weight_decay < 0) throw Error("--weight-decay: must not be negative");
  if (settings.checkpoint_every < 0)
    throw Error(fmt::format("--checkpoint-every: must not be negative, got {}", settings.checkpoint_every));
  return settings;
}

int commands::train(const std::vector<std::string>& args) {
  const po::options_description options = train_command_options();
  CommandLine command_line = parse_options(args, options);
  if (print_help_if_asked(command_line, "piade train [--config FILE] [options] --out DIR", options)) return 0;
  if (!command_line.positional.empty())
    throw Error(fmt::format("train: unexpected argument '{}'", command_line.positional[0]));
  if (!command_line.values.count("out")) throw Error("train: --out DIR is required");
  apply_threads(command_line);
  const torch::Device device = parse_device(command_line.get<std::string>("device"));

  const TrainSettings settings = train_settings(command_line);
  const PluginRegistry registry = load_plugins(command_line);
  const PipelineConfig pipeline = resolve_pipeline(registry, command_line, warn);
  const OneClassSplit data = load_dataset(command_line, settings.seed);
  Preprocess preprocess_config = preprocess_settings(command_line);
  if (preprocess_config.channels == 0) preprocess_config.channels = data.train.images.size(1);
  if (preprocess_config.image_size == 0) {
    if (data.train.images.size(2) != data.train.images.size(3))
      throw Error("--image-size: the dataset's images are not square; give a size");
    preprocess_config.image_size = data.train.images.size(2);
  }
  const ImageShape image{preprocess_config.channels, preprocess_config.image_size, preprocess_config.image_size};

  // One seed fixes the initial weights (plugins initialise in their
  // constructors) as well as the data order.
  torch::manual_seed(settings.seed);
  const bool resume = command_line.get<bool>("resume");
  PiadeModel model(registry, pipeline, image, /*restoring=*/resume);

  nlohmann::json meta = {
      {"format", "piade-checkpoint-1"},
      {"pipeline", pipeline_to_json(pipeline, model.get())},
      {"image", {{"channels", image.channels}, {"height", image.height}, {"width", image.width}}},
      {"preprocess", {{"image_size", preprocess_config.image_size}, {"channels", preprocess_config.channels},
                      {"resize", preprocess_config.resize}, {"range", "[-1,1]"}}},
      {"dataset", dataset_to_json(command_line, data)}};
  const std::filesystem::path out = command_line.get<std::string>("out");
  fmt::print(stderr, "training on {} normal images of {}x{}x{} for {} epochs on {}\n", data.train.size(),
             image.channels, image.height, image.width, settings.epochs, device.str());
  const TrainResult result = train(model, data.train, preprocess_config, settings, device, out, meta,
                                   resume);
  fmt::print("{} after {} epochs: {}\n", result.interrupted ? "interrupted" : "trained",
             result.epochs_done, (out / "checkpoint.pt").string());
  return result.interrupted ? 130 : 0;
}

}  // namespace piade
