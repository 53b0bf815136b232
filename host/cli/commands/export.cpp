// `piade export`: the trained model's tensors as safetensors, for Python.
// Names are the model's own: "backbone.<torchvision name>", "pooling.*",
// "routing.*", "decoder.*", "loss_<name>.*" (e.g. the frozen VGG layers);
// "__metadata__" holds the checkpoint's configuration as JSON under
// "piade_config".
#include <fmt/format.h>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"

namespace piade {

int commands::export_model(const std::vector<std::string>& args) {
  po::options_description options = common_options();
  options.add_options()
      ("checkpoint", po::value<std::string>(), "checkpoint directory or file from `piade train`")
      ("format", po::value<std::string>()->default_value("safetensors"), "output format: safetensors")
      ("out", po::value<std::string>(), "file to write");
  CommandLine command_line = parse_options(args, options);
  if (print_help_if_asked(command_line, "piade export --checkpoint DIR --format safetensors --out FILE", options))
    return 0;
  if (!command_line.positional.empty())
    throw Error(fmt::format("unexpected argument '{}'; give options only", command_line.positional[0]));
  if (!command_line.values.count("checkpoint")) throw Error("--checkpoint is required");
  if (!command_line.values.count("out")) throw Error("--out FILE is required");
  const std::string format = command_line.get<std::string>("format");
  if (format != "safetensors")
    throw Error(fmt::format("--format: '{}' is not supported; the only format is safetensors{}", format,
                            did_you_mean(format, {"safetensors"})));

  const fs::path file = checkpoint_file(command_line.get<std::string>("checkpoint"));
  const nlohmann::json meta = read_checkpoint_meta(file);
  const PluginRegistry registry = load_plugins(command_line);
  PiadeModel model = restore_model(registry, file, meta, torch::kCPU);

  const std::string out = command_line.get<std::string>("out");
  save_model_safetensors(out, model, meta);
  fmt::print("exported {} tensors to {}\n", model->named_parameters().size() + model->named_buffers().size(), out);
  return 0;
}

}  // namespace piade
