#include "cli/cli.h"

#include "cli/data_options.h"

#include <iostream>

#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/utils.h>

namespace piade {

bool print_help_if_asked(const CommandLine& command_line, const std::string& usage,
                         const po::options_description& options) {
  if (!command_line.values.count("help")) return false;
  std::cout << "usage: " << usage << "\n\n" << options << "\n";
  return true;
}

PluginRegistry load_plugins(const CommandLine& command_line) {
  std::vector<fs::path> dirs;
  if (command_line.values.count("plugin-dir"))
    for (const std::string& dir : command_line.get<std::vector<std::string>>("plugin-dir")) {
      if (!fs::is_directory(dir))
        throw Error(fmt::format("--plugin-dir: '{}' is not a directory", dir));
      dirs.emplace_back(dir);
    }
  PluginRegistry registry;
  registry.scan(plugin_search_path(dirs));
  return registry;
}

void apply_threads(const CommandLine& command_line) {
  const int threads = command_line.get<int>("threads");
  if (threads < 1) throw Error(fmt::format("--threads: must be at least 1, got {}", threads));
  torch::set_num_threads(threads);
}

torch::Device parse_device(const std::string& text) {
  if (text == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(text);
  } catch (const std::exception&) {
    throw Error(fmt::format("--device: '{}' is not a device; use cpu, cuda, cuda:N or auto", text));
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      throw Error(fmt::format("--device: '{}' asked for, but this LibTorch has no usable CUDA "
                              "device; use --device cpu or a CUDA build of piade",
                              text));
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
      throw Error(fmt::format("--device: '{}' does not exist; this machine has {} CUDA device(s)",
                              text, torch::cuda::device_count()));
  } else if (!device.is_cpu()) {
    throw Error(fmt::format("--device: '{}' is not supported; use cpu, cuda, cuda:N or auto", text));
  }
  return device;
}

compare::CommandTables command_tables() {
  compare::CommandTables tables;
  tables.train.add(train_command_options());
  tables.dataset.add(dataset_options());
  tables.check_train = [](const std::vector<std::string>& args, const PluginRegistry& registry) {
    const CommandLine command_line = parse_options(args, train_command_options());
    train_settings(command_line);
    preprocess_settings(command_line);
    resolve_pipeline(registry, command_line, [](const std::string&) {});
  };
  tables.check_eval = [](const std::vector<std::string>& args) { parse_options(args, eval_command_options()); };
  return tables;
}

}  // namespace piade
