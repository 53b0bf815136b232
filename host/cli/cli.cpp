#include "cli/cli.h"

#include <iostream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include "cli/data_options.h"
#include "cli/logging.h"

namespace piade {
namespace {

// The general keys of commands that compute (threads, device, ...) and of
// those that only read files.
const std::vector<std::string> kComputeKeys = {"plugin-dir", "threads",   "device", "amp",
                                               "progress",   "log-level", "log-file", "quiet"};
const std::vector<std::string> kFileKeys = {"plugin-dir", "log-level", "log-file", "quiet"};

KeyGroup own(const std::string& command, po::options_description (*options)(const std::string&)) {
  return {command, options("")};
}

CommandSpec make_spec(const std::string& name) {
  CommandSpec spec;
  spec.name = name;
  if (name == "plugins") {
    spec.usage =
        "piade plugins [info NAME] [--json] [--plugin-dir DIR]...\n"
        "       piade plugins check [ID...] [--plugin-dir DIR]...";
    spec.groups = std::vector<KeyGroup>{own(name, plugins_own_options), {"General", general_options(kFileKeys)}};
  } else if (name == "config") {
    spec.usage = "piade config [--checkpoint DIR] [--config FILE] [--set KEY=VALUE]... [--json] [--sources]";
    spec.groups = std::vector<KeyGroup>{own(name, config_own_options),
                   {"General", general_options()},
                   {"Pipeline", pipeline_options()},
                   {"Data", dataset_options()},
                   {"Training", training_options()},
                   {"Evaluation", evaluation_options()}};
    for (const std::string& command : command_names())
      if (command != "config") {
        static const std::map<std::string, po::options_description (*)(const std::string&)> builders = {
            {"plugins", plugins_own_options}, {"train", train_own_options},   {"eval", eval_own_options},
            {"score", score_own_options},     {"export", export_own_options}, {"bench", bench_own_options},
            {"compare", compare_own_options}};
        spec.groups.push_back({command, builders.at(command)(command + ".")});
      }
    spec.plugin_params = true;
    spec.checkpoint_defaults = true;
  } else if (name == "train") {
    spec.usage = "piade train [--config FILE] [options] --out DIR";
    spec.groups = std::vector<KeyGroup>{own(name, train_own_options),
                   {"General", general_options(kComputeKeys)},
                   {"Pipeline", pipeline_options()},
                   {"Data", dataset_options()},
                   {"Training", training_options()}};
    spec.plugin_params = true;
  } else if (name == "eval") {
    spec.usage =
        "piade eval --checkpoint DIR|MODEL.piade [--dataset ... (default: the checkpoint's)] --out DIR "
        "[--calibrate f1|balanced|percentile:P]";
    spec.groups = std::vector<KeyGroup>{own(name, eval_own_options),
                   {"General", general_options(kComputeKeys)},
                   {"Data", except(dataset_options(), {"max-train"})},
                   {"Training", training_options({"batch-size", "seed"})},
                   {"Evaluation", evaluation_options()}};
    spec.checkpoint_defaults = true;
  } else if (name == "score") {
    spec.usage =
        "piade score --checkpoint DIR|MODEL.piade (IMAGE_OR_DIR... | --dataset ...) [--out FILE.csv] [--threshold T] "
        "[--maps DIR [--strips]]";
    spec.groups = std::vector<KeyGroup>{own(name, score_own_options),
                   {"General", general_options(kComputeKeys)},
                   {"Data", except(dataset_options(), {"max-train"})},
                   {"Training", training_options({"batch-size", "seed"})},
                   {"Evaluation", evaluation_options({"checkpoint"})}};
    spec.checkpoint_defaults = true;
  } else if (name == "export") {
    spec.usage = "piade export --checkpoint DIR --format model|safetensors --out FILE";
    spec.groups = std::vector<KeyGroup>{own(name, export_own_options),
                   {"General", general_options(kFileKeys)},
                   {"Evaluation", evaluation_options({"checkpoint"})}};
  } else if (name == "bench") {
    spec.usage = "piade bench [pipeline options] [--image-size 120 --batch-size 32] [--out FILE]";
    spec.groups = std::vector<KeyGroup>{own(name, bench_own_options),
                   {"General", general_options({"plugin-dir", "threads", "device", "amp", "log-level", "log-file",
                                                "quiet"})},
                   {"Pipeline", pipeline_options()},
                   {"Training", training_options({"seed"})}};
    spec.plugin_params = true;
  } else if (name == "compare") {
    spec.usage =
        "piade compare GRID --out DIR [--jobs N] [--shard k/n] [--set KEY=VALUE]... [--seeds N]\n"
        "       piade compare GRID --out DIR --slurm [--slurm-partition P] [--slurm-time T] [--slurm-cpus N] ...\n"
        "       piade compare DIR --status\n"
        "       piade compare merge SHARD_DIR... --out DIR";
    spec.groups = std::vector<KeyGroup>{own(name, compare_own_options),
                   {"General", general_options({"plugin-dir", "threads", "device", "progress", "log-level",
                                                "log-file", "quiet"})}};
  } else {
    throw std::logic_error("no command '" + name + "'");
  }
  return spec;
}

// Whether `a` and `b` name the same file: the same inode when both exist,
// else the same path once made absolute and normal.
bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
  const fs::path left = fs::weakly_canonical(fs::absolute(a, ec), ec);
  const fs::path right = fs::weakly_canonical(fs::absolute(b, ec), ec);
  return left == right;
}

// Refuses an output (--out, --log-file) that is one of the command's inputs
// (the --checkpoint file, the --config file, a positional image), before any
// work: the command would replace what it just read, and exit 0.
void refuse_outputs_over_inputs(const CommandLine& command_line) {
  std::vector<std::pair<std::string, fs::path>> inputs;
  if (command_line.values.count("checkpoint")) {
    const fs::path checkpoint = command_line.get<std::string>("checkpoint");
    std::error_code ec;
    inputs.emplace_back("--checkpoint", fs::is_directory(checkpoint, ec) ? checkpoint / "checkpoint.pt" : checkpoint);
  }
  if (command_line.values.count("config")) inputs.emplace_back("--config", command_line.get<std::string>("config"));
  for (const std::string& word : command_line.positional) inputs.emplace_back("the input", word);
  for (const char* output : {"out", "log-file"}) {
    if (!command_line.values.count(output) || command_line.values[output].empty()) continue;
    const fs::path out = command_line.get<std::string>(output);
    for (const auto& [option, input] : inputs)
      if (same_file(out, input))
        throw Error(fmt::format("--{}: '{}' is {} '{}'; the command would replace what it reads; choose another "
                                "--{}",
                                output, out.string(), option, input.string(), output));
  }
}

}  // namespace

std::vector<std::string> command_names() {
  return {"plugins", "config", "train", "score", "eval", "compare", "bench", "export"};
}

const CommandSpec& command_spec(const std::string& name) {
  static std::map<std::string, CommandSpec> specs;
  auto it = specs.find(name);
  if (it == specs.end()) it = specs.emplace(name, make_spec(name)).first;
  return it->second;
}

std::optional<CommandLine> parse_command(const std::vector<std::string>& args, const CommandSpec& spec) {
  CommandLine command_line =
      parse_options(args, spec,
                    spec.checkpoint_defaults
                        ? CheckpointLayer([](const std::string& checkpoint, const KeyTexts& given) {
                            return checkpoint_configuration(checkpoint, given);
                          })
                        : nullptr);
  if (command_line.values.count("help")) {
    std::cout << help_text(spec);
    return std::nullopt;
  }
  refuse_outputs_over_inputs(command_line);
  configure_logging(command_line);
  if (command_line.values.count("show-config")) {
    std::cout << configuration_ini(command_line, spec, /*sources=*/true);
    return std::nullopt;
  }
  std::string words;
  for (const std::string& arg : args) words += " " + arg;
  log_to_file_only(fmt::format("piade {}{}", spec.name, words));
  return command_line;
}

void expect_no_positional(const CommandLine& command_line) {
  if (!command_line.positional.empty())
    throw Error(fmt::format("unexpected argument '{}'; give options only", command_line.positional[0]));
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
  tables.train.add(command_spec("train").all_options());
  tables.dataset.add(dataset_options());
  tables.check_train = [](const std::vector<std::string>& args, const PluginRegistry& registry) {
    const CommandLine command_line = parse_options(args, command_spec("train"));
    train_settings(command_line);
    preprocess_settings(command_line);
    resolve_pipeline(registry, command_line, [](const std::string&) {});
  };
  tables.check_eval = [](const std::vector<std::string>& args) { parse_options(args, command_spec("eval")); };
  return tables;
}

}  // namespace piade
