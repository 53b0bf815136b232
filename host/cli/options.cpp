#include "cli/options.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace {

const std::set<std::string> kSingleParts = {"backbone", "pooling", "routing", "decoder"};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

// `--set KEY=VALUE` (or --set=KEY=VALUE) becomes `--KEY=VALUE`, so a set key
// means exactly what the same key means on the command line or in a file.
std::vector<std::string> expand_set(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string assignment;
    if (args[i] == "--set") {
      if (i + 1 >= args.size()) throw Error("--set: expects KEY=VALUE, got nothing");
      assignment = args[++i];
    } else if (args[i].rfind("--set=", 0) == 0) {
      assignment = args[i].substr(6);
    } else {
      out.push_back(args[i]);
      continue;
    }
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("--set: expects KEY=VALUE, got '{}'", assignment));
    out.push_back("--" + assignment);
  }
  return out;
}

std::vector<std::string> option_names(const po::options_description& options) {
  std::vector<std::string> names;
  for (const auto& option : options.options()) names.push_back(option->long_name());
  return names;
}

// Files plugin parameters under their owner, or throws for an unknown key.
void collect_unregistered(const po::parsed_options& parsed, const po::options_description& options,
                          const std::string& where, CommandLine& out, bool from_file) {
  for (const po::option& option : parsed.options) {
    if (!option.unregistered) continue;
    const std::string& key = option.string_key;
    const std::vector<std::string> parts = split(key, '.');
    std::string owner, param;
    if (parts.size() == 2 && kSingleParts.count(parts[0])) {
      owner = parts[0];
      param = parts[1];
    } else if (parts.size() == 3 && parts[0] == "loss") {
      owner = "loss." + parts[1];
      param = parts[2];
    } else {
      const std::string shown = from_file ? key : "--" + key;
      const auto match = closest_match(key, option_names(options));
      const std::string hint =
          match ? fmt::format(", did you mean '{}{}'?", from_file ? "" : "--", *match) : "";
      throw Error(fmt::format("{}unknown option '{}'{}", where, shown, hint));
    }
    if (option.value.empty())
      throw Error(fmt::format("{}option '{}' needs a value: write {}{}=VALUE", where, key,
                              from_file ? "" : "--set ", key));
    auto& params = out.plugin_params[owner];
    // The command line is parsed first and wins over the config file.
    if (from_file && params.count(param)) continue;
    params[param] = option.value.back();
  }
}

}  // namespace

po::options_description common_options() {
  po::options_description options("General options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>(), "read options from an INI file; the command line wins")
      ("set", po::value<std::vector<std::string>>(),
       "KEY=VALUE: set any option or plugin parameter (repeatable), e.g. --set routing.vectors=1")
      ("plugin-dir", po::value<std::vector<std::string>>()->composing(),
       "search this directory for plugins first (repeatable)")
      ("threads", po::value<int>()->default_value(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
       "CPU threads for LibTorch (default: all cores)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda, cuda:N or auto")
      ("amp", po::value<std::string>()->default_value("off"),
       "mixed precision: off, or bf16 (convolutions and matrix products in bfloat16; the loss terms stay fp32)");
  return options;
}

po::options_description pipeline_options() {
  const PipelineSelection paper;  // the defaults live there, once
  po::options_description options("Pipeline (one plugin per part; see `piade plugins`)");
  options.add_options()
      ("backbone", po::value<std::string>()->default_value(paper.backbone), "feature extractor")
      ("pooling", po::value<std::string>()->default_value(paper.pooling), "features to capsules")
      ("routing", po::value<std::string>()->default_value(paper.routing), "capsules to vectors")
      ("decoder", po::value<std::string>()->default_value(paper.decoder), "vector to image")
      ("loss", po::value<std::vector<std::string>>()->composing(),
       fmt::format("loss term (repeatable or comma-separated; default {})", fmt::join(paper.losses, ",")).c_str());
  return options;
}

// A bool option with an implicit value (`--skip-bad`) would take the next
// word as its value, so `--skip-bad images/` read "images/" as a bool: such
// a switch only takes a value written `--switch=VALUE`.
std::vector<std::string> bind_switches(std::vector<std::string> args, const po::options_description& options) {
  for (std::string& arg : args) {
    if (arg.rfind("--", 0) != 0 || arg.find('=') != std::string::npos) continue;
    const po::option_description* option = options.find_nothrow(arg.substr(2), false);
    if (option != nullptr && option->semantic()->min_tokens() == 0 &&
        dynamic_cast<const po::typed_value<bool>*>(option->semantic().get()) != nullptr)
      arg += "=true";
  }
  return args;
}

CommandLine parse_options(const std::vector<std::string>& raw_args,
                          const po::options_description& options) {
  CommandLine out;
  const std::vector<std::string> args = bind_switches(expand_set(raw_args), options);
  // Positional words are collected here; each command checks its own.
  po::options_description with_words = options;
  with_words.add_options()("positional-words", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("positional-words", -1);
  po::parsed_options parsed(&with_words);
  try {
    parsed = po::command_line_parser(args)
                 .options(with_words)
                 .positional(positional)
                 .allow_unregistered()
                 .style(po::command_line_style::default_style &
                        ~po::command_line_style::allow_guessing)
                 .run();
  } catch (const po::error& e) {
    throw Error(e.what());
  }
  collect_unregistered(parsed, options, "", out, false);
  try {
    po::store(parsed, out.values);
  } catch (const po::error& e) {
    throw Error(e.what());
  }
  if (out.values.count("positional-words"))
    out.positional = out.values["positional-words"].as<std::vector<std::string>>();

  if (out.values.count("config")) {
    const std::string file = out.values["config"].as<std::string>();
    std::ifstream in(file);
    if (!in) throw Error(fmt::format("--config: cannot read '{}'", file));
    try {
      po::parsed_options from_file = po::parse_config_file(in, options, true);
      // The command line wins. po::store keeps the first value of a plain
      // option but appends to a composing one (--loss, --plugin-dir), so the
      // file's values of options the command line gives are dropped here.
      auto& file_options = from_file.options;
      file_options.erase(std::remove_if(file_options.begin(), file_options.end(),
                                        [&](const po::option& option) {
                                          return !option.unregistered &&
                                                 out.values.count(option.string_key) &&
                                                 !out.values[option.string_key].defaulted();
                                        }),
                         file_options.end());
      collect_unregistered(from_file, options, file + ": ", out, true);
      po::store(from_file, out.values);
    } catch (const po::error& e) {
      throw Error(fmt::format("{}: {}", file, e.what()));
    }
  }
  try {
    po::notify(out.values);
  } catch (const po::error& e) {
    throw Error(e.what());
  }
  return out;
}

std::vector<std::string> loss_names(const CommandLine& command_line) {
  std::vector<std::string> names;
  if (!command_line.values.count("loss")) return PipelineSelection().losses;
  for (const std::string& value : command_line.get<std::vector<std::string>>("loss"))
    for (const std::string& name : split(value, ','))
      if (!name.empty()) names.push_back(name);
  return names;
}

PipelineSelection pipeline_selection(const CommandLine& command_line) {
  PipelineSelection selection;
  selection.backbone = command_line.get<std::string>("backbone");
  selection.pooling = command_line.get<std::string>("pooling");
  selection.routing = command_line.get<std::string>("routing");
  selection.decoder = command_line.get<std::string>("decoder");
  selection.losses = loss_names(command_line);
  selection.params = command_line.plugin_params;
  return selection;
}

PipelineConfig resolve_pipeline(const PluginRegistry& registry, const CommandLine& command_line,
                                void (*warn)(const std::string&)) {
  return resolve_pipeline(registry, pipeline_selection(command_line), warn);
}

}  // namespace piade
