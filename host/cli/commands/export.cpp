// `piade export`: a trained model for somewhere else.
// - `--format model` (m.piade): the slim model file that score, eval,
//   config --checkpoint and piade::Detector read wherever they read a
//   checkpoint: the weights and the checkpoint's whole configuration
//   (pipeline, preprocessing, training settings, score and map statistics,
//   the calibrated threshold), without the optimizer state, behind a SHA-256
//   checked on every load (format: piade/core/checkpoint.h).
// - `--format safetensors`: the tensors for Python. Names are the model's
//   own: "backbone.<torchvision name>", "pooling.*", "routing.*",
//   "decoder.*", "loss_<name>.*" (e.g. the frozen VGG layers);
//   "__metadata__" holds the checkpoint's configuration as JSON under
//   "piade_config".
#include <algorithm>

#include <fmt/format.h>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"
#include "piade/eval/calibration.h"

namespace piade {
namespace {

const std::vector<std::string> kFormats = {"model", "safetensors"};

}  // namespace

po::options_description export_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "format").c_str(), po::value<std::string>()->default_value("safetensors")->value_name("FORMAT"),
       "output format: model (a .piade file for score, eval and piade::Detector: weights and configuration "
       "without the optimizer state, checksummed) or safetensors (the tensors for Python)")
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("FILE"), "file to write (required)");
  return options;
}

int commands::export_model(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("export"));
  if (!parsed) return 0;
  CommandLine& command_line = *parsed;
  expect_no_positional(command_line);
  if (!command_line.values.count("checkpoint")) throw Error("--checkpoint DIR is required");
  if (!command_line.values.count("out")) throw Error("--out FILE is required");
  const std::string format = command_line.get<std::string>("format");
  if (std::find(kFormats.begin(), kFormats.end(), format) == kFormats.end())
    throw Error(fmt::format("--format: '{}' is not supported; use model or safetensors{}", format,
                            did_you_mean(format, kFormats)));

  const fs::path file = checkpoint_file(command_line.get<std::string>("checkpoint"));
  nlohmann::json meta = read_checkpoint_meta(file);
  const PluginRegistry registry = load_plugins(command_line);
  PiadeModel model = restore_model(registry, file, meta, torch::kCPU);

  const std::string out = command_line.get<std::string>("out");
  const std::size_t tensors = model->named_parameters().size() + model->named_buffers().size();
  if (format == "model") {
    meta["exported"] = {{"from", fs::absolute(file).lexically_normal().string()}, {"time", utc_time_now()}};
    save_model_file(out, model, meta);
    fmt::print("exported {} tensors and the configuration to {} ({:.1f} MiB)\n", tensors, out,
               static_cast<double>(fs::file_size(out)) / (1 << 20));
    return 0;
  }
  save_model_safetensors(out, model, meta);
  fmt::print("exported {} tensors to {}\n", tensors, out);
  return 0;
}

}  // namespace piade
