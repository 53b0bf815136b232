// `piade export`: the trained model's tensors as safetensors, for Python.
// Names are the model's own: "backbone.<torchvision name>", "pooling.*",
// "routing.*", "decoder.*", "loss_<name>.*" (e.g. the frozen VGG layers);
// "__metadata__" holds the checkpoint's configuration as JSON under
// "piade_config".
#include <fmt/format.h>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"

namespace piade {

po::options_description export_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "format").c_str(), po::value<std::string>()->default_value("safetensors")->value_name("FORMAT"),
       "output format: safetensors")
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
