// `piade train`: builds the pipeline from plugins and trains it on the
// normal images of a dataset, leaving a self-describing checkpoint in --out.
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include "cli/cli.h"
#include "cli/data_options.h"
#include "cli/logging.h"
#include "cli/run_dir.h"
#include "piade/core/checkpoint.h"
#include "piade/core/trainer.h"

namespace piade {

namespace {

// "loss 0.1234 (mse 0.0100, ssim 0.1134)".
std::string losses_text(double loss, const std::vector<std::pair<std::string, double>>& terms) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : terms) parts.push_back(fmt::format("{} {:.4f}", name, value));
  return fmt::format("loss {:.4f} ({})", loss, fmt::join(parts, ", "));
}

// Whether the run in `checkpoint` has nothing left to do for `settings`.
bool finished(const nlohmann::json& meta, const TrainSettings& settings) {
  const nlohmann::json training = meta.value("training", nlohmann::json::object());
  if (training.value("stopped_early", false)) return true;
  return meta.contains("score_stats") && training.value("epochs_done", int64_t{0}) >= settings.epochs;
}

}  // namespace

po::options_description train_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("DIR"),
       "output directory: checkpoint.pt, train_log.csv (required)")
      ((prefix + "resume").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "continue the run in --out (a finished run is left as it is)")
      ((prefix + "overwrite").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "replace the run in --out: its checkpoint, log and evaluations are removed first");
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
  settings.val_fraction = command_line.get<double>("val-fraction");
  settings.early_stop = command_line.get<int64_t>("early-stop");
  settings.precision = parse_precision(command_line.get<std::string>("amp"));
  if (settings.epochs < 1) throw Error(fmt::format("--epochs: must be at least 1, got {}", settings.epochs));
  if (settings.batch_size < 2)
    throw Error(fmt::format("--batch-size: must be at least 2 (batch norm), got {}", settings.batch_size));
  if (!(settings.lr > 0)) throw Error(fmt::format("--lr: must be positive, got {}", settings.lr));
  if (!(settings.weight_decay >= 0)) throw Error("--weight-decay: must not be negative");
  if (settings.checkpoint_every < 0)
    throw Error(fmt::format("--checkpoint-every: must not be negative, got {}", settings.checkpoint_every));
  if (!(settings.val_fraction >= 0 && settings.val_fraction <= 0.5))
    throw Error(fmt::format("--val-fraction: must be in [0, 0.5], got {}", settings.val_fraction));
  if (settings.early_stop < 0)
    throw Error(fmt::format("--early-stop: must not be negative, got {}", settings.early_stop));
  return settings;
}

int commands::train(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("train"));
  if (!parsed) return 0;
  CommandLine& command_line = *parsed;
  expect_no_positional(command_line);
  if (!command_line.values.count("out")) throw Error("--out DIR is required");
  apply_threads(command_line);
  const torch::Device device = parse_device(command_line.get<std::string>("device"));
  TrainSettings settings = train_settings(command_line);
  const PluginRegistry registry = load_plugins(command_line);
  const PipelineConfig pipeline = resolve_pipeline(registry, command_line, warn);

  const std::filesystem::path out = command_line.get<std::string>("out");
  const bool resume = command_line.get<bool>("resume");
  if (resume && std::filesystem::exists(out / "checkpoint.pt")) {
    const nlohmann::json saved = read_checkpoint_meta(out / "checkpoint.pt");
    if (finished(saved, settings)) {
      spdlog::info("{} is a finished run ({}); nothing to do", (out / "checkpoint.pt").string(),
                   count_of(saved["training"].value("epochs_done", int64_t{0}), "epoch"));
      return 0;
    }
  }
  const std::size_t removed = prepare_out_dir(out, RunKind::train, command_line.get<bool>("overwrite"), resume);
  if (command_line.get<bool>("overwrite") && removed > 0)
    spdlog::info("--overwrite: removed the earlier run's {} in {}", count_of(int64_t(removed), "output"), out.string());

  const OneClassSplit data = load_dataset(command_line, settings.seed);
  // A batch larger than the training set is the whole set; clamped here so
  // that no step count or index is computed from an absurd size.
  if (settings.batch_size > data.train.size() && data.train.size() >= 2) {
    spdlog::info("--batch-size: {} is more than the {}; using {}", settings.batch_size,
                 count_of(data.train.size(), "training image"), data.train.size());
    settings.batch_size = data.train.size();
  }
  Preprocess preprocess_config = preprocess_settings(command_line);
  // The decoded geometry, from one image (a streamed set holds none decoded).
  const torch::Tensor sample = data.train.images_at({0});
  if (preprocess_config.channels == 0) preprocess_config.channels = sample.size(1);
  if (preprocess_config.image_size == 0) {
    if (sample.size(2) != sample.size(3))
      throw Error("--image-size: the dataset's images are not square; give a size");
    preprocess_config.image_size = sample.size(2);
  }
  const ImageShape image{preprocess_config.channels, preprocess_config.image_size, preprocess_config.image_size};

  // One seed fixes the initial weights (plugins initialise in their
  // constructors) as well as the data order.
  torch::manual_seed(settings.seed);
  PiadeModel model(registry, pipeline, image, /*restoring=*/resume);

  nlohmann::json meta = {
      {"format", "piade-checkpoint-1"},
      {"pipeline", pipeline_to_json(pipeline, model.get())},
      {"image", {{"channels", image.channels}, {"height", image.height}, {"width", image.width}}},
      {"preprocess", {{"image_size", preprocess_config.image_size}, {"channels", preprocess_config.channels},
                      {"resize", preprocess_config.resize}, {"range", "[-1,1]"}}},
      {"dataset", dataset_to_json(command_line, data)},
      {"config", stored_configuration(command_line, pipeline)}};
  spdlog::info("training on {} of {}x{}x{} for {} on {}", count_of(data.train.size(), "normal image"),
               image.channels, image.height, image.width, count_of(settings.epochs, "epoch"), device.str());

  // A bar for the running epoch on a terminal; a line per epoch always.
  std::unique_ptr<Progress> bar;
  const bool show_bar = command_line.get<bool>("progress");
  TrainObserver observer;
  observer.on_step = [&](const StepProgress& step) {
    if (!show_bar || !stderr_is_terminal()) return;
    if (step.batch == 1)
      bar = std::make_unique<Progress>(fmt::format("epoch {}/{}", step.epoch, step.epochs), step.batches, "steps",
                                       true);
    bar->update(step.batch, fmt::format("| {} | {:.1f} img/s", losses_text(step.loss, step.terms),
                                        step.images_per_second));
  };
  observer.on_epoch = [&](const EpochRecord& epoch) {
    if (bar) bar->finish();
    spdlog::info("epoch {}/{}: {}{} | {:.1f} img/s | {} | ETA {}{}", epoch.epoch, epoch.epochs,
                 losses_text(epoch.loss, epoch.terms),
                 epoch.val_loss ? fmt::format(", val_loss {:.4f}", *epoch.val_loss) : "", epoch.images_per_second,
                 clock_text(epoch.seconds), clock_text(epoch.eta_seconds),
                 settings.early_stop > 0 && !epoch.improved
                     ? fmt::format(" | best epoch {}", epoch.best_epoch)
                     : "");
  };
  const TrainResult result = train(model, data.train, preprocess_config, settings, device, out, meta, resume,
                                   observer);
  bar.reset();
  const std::string checkpoint = (out / "checkpoint.pt").string();
  if (result.already_finished) {
    spdlog::info("{} is a finished run; nothing to do", checkpoint);
    return 0;
  }
  if (result.stopped_early)
    spdlog::info("stopped early after epoch {}: no improvement of the {} for {}; kept epoch {} ({:.6g}) as the "
                 "checkpoint",
                 result.epochs_done, settings.val_fraction > 0 ? "validation loss" : "training loss",
                 count_of(settings.early_stop, "epoch"), result.best_epoch, result.best_loss.value_or(0.0));
  fmt::print("{} after {}: {}\n", result.interrupted ? "interrupted" : "trained", count_of(result.epochs_done, "epoch"),
             checkpoint);
  return result.interrupted ? 130 : 0;
}

}  // namespace piade
