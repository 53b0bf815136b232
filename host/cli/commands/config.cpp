// `piade config`: the whole resolved configuration (general, pipeline with
// every plugin parameter, data, training, evaluation, and each command's own
// keys) as an INI file that every command reads back with --config, or as
// JSON; with --sources, where each value came from; with --checkpoint, the
// configuration a checkpoint was trained with. Runs nothing.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "piade/core/pipeline_config.h"

namespace piade {

po::options_description config_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "json").c_str(), po::value<bool>()->default_value(false)->implicit_value(true), "print JSON")
      ((prefix + "sources").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "say where each value comes from: default, file, --set, command line or checkpoint");
  return options;
}

int commands::config(const std::vector<std::string>& args) {
  const CommandSpec& spec = command_spec("config");
  std::optional<CommandLine> parsed = parse_command(args, spec);
  if (!parsed) return 0;
  CommandLine& command_line = *parsed;
  expect_no_positional(command_line);
  const PluginRegistry registry = load_plugins(command_line);
  const PipelineConfig config = resolve_pipeline(registry, command_line, warn);
  // Every parameter of every part, the defaults filled in.
  for (const PartConfig* part : config.parts()) {
    const std::string owner =
        part->component->kind == Kind::loss ? "loss." + part->component->name : kind_name(part->component->kind);
    for (const auto& [name, value] : part->params.values())
      command_line.plugin_params[owner][name] = part->params.text(name);
  }
  const bool sources = command_line.get<bool>("sources");
  if (command_line.get<bool>("json")) {
    nlohmann::json out = configuration_json(command_line, spec, sources);
    for (const PartConfig* part : config.parts()) {
      nlohmann::json params = nlohmann::json::object();
      for (const auto& [name, value] : part->params.values()) params[name] = part->params.text(name);
      nlohmann::json entry = {
          {"name", part->component->name}, {"version", part->component->plugin->version}, {"params", params}};
      if (part->component->kind == Kind::loss) out["components"]["loss"].push_back(entry);
      else out["components"][kind_name(part->component->kind)] = entry;
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << configuration_ini(command_line, spec, sources);
  return 0;
}

}  // namespace piade
