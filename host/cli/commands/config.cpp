// `piade config`: the fully resolved pipeline configuration (every plugin
// parameter, defaults filled in) as an INI file that --config reads back,
// or as JSON. Shows what a run would use without running anything.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "piade/core/pipeline_config.h"

namespace piade {
namespace {

std::string owner_of(const ComponentInfo& c) {
  return c.kind == Kind::loss ? "loss." + c.name : kind_name(c.kind);
}

}  // namespace

int commands::config(const std::vector<std::string>& args) {
  po::options_description options = common_options();
  options.add(pipeline_options());
  options.add_options()("json", "print JSON");
  CommandLine command_line = parse_options(args, options);
  if (print_help_if_asked(command_line, "piade config [pipeline options] [--set KEY=VALUE]... [--json]",
                          options))
    return 0;
  if (!command_line.positional.empty())
    throw Error(fmt::format("unexpected argument '{}'; give options only", command_line.positional[0]));
  const PluginRegistry registry = load_plugins(command_line);
  const PipelineConfig config = resolve_pipeline(registry, command_line, warn);

  if (command_line.values.count("json")) {
    nlohmann::json out;
    for (const PartConfig* part : config.parts()) {
      nlohmann::json params = nlohmann::json::object();
      for (const auto& [name, value] : part->params.values()) params[name] = part->params.text(name);
      nlohmann::json entry = {{"name", part->component->name},
                              {"version", part->component->plugin->version},
                              {"params", params}};
      if (part->component->kind == Kind::loss) out["loss"].push_back(entry);
      else out[kind_name(part->component->kind)] = entry;
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::vector<std::string> losses;
  for (const PartConfig& loss : config.losses) losses.push_back(loss.component->name);
  fmt::print("backbone = {}\npooling = {}\nrouting = {}\ndecoder = {}\nloss = {}\n",
             config.backbone.component->name, config.pooling.component->name,
             config.routing.component->name, config.decoder.component->name,
             fmt::join(losses, ","));
  for (const PartConfig* part : config.parts()) {
    if (part->params.values().empty()) continue;
    fmt::print("\n[{}]\n", owner_of(*part->component));
    for (const auto& [name, value] : part->params.values())
      fmt::print("{} = {}\n", name, part->params.text(name));
  }
  return 0;
}

}  // namespace piade
