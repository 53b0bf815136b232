// `piade plugins [info NAME] [--json]`: what plugins are found, which are
// broken and why, and each component's documented parameter schema.
// `piade plugins check [ID...]`: the conformance run for plugin authors
// (piade/core/conformance.h), one line per rule and component.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "piade/core/conformance.h"

namespace piade {
namespace {

nlohmann::json param_json(const ParamInfo& p) {
  nlohmann::json j = {{"name", p.name}, {"type", param_type_name(p.type)}, {"doc", p.doc}};
  j["default"] = p.default_value ? nlohmann::json(*p.default_value) : nlohmann::json(nullptr);
  j["required"] = !p.default_value.has_value();
  if (p.min) j["min"] = *p.min;
  if (p.max) j["max"] = *p.max;
  if (!p.choices.empty()) j["choices"] = p.choices;
  return j;
}

nlohmann::json component_json(const ComponentInfo& c, bool with_params) {
  nlohmann::json j = {{"kind", kind_name(c.kind)},       {"name", c.name},
                      {"id", c.id()},                    {"doc", c.doc},
                      {"plugin", c.plugin->name},        {"version", c.plugin->version},
                      {"file", c.plugin->file.string()}};
  if (with_params) {
    j["params"] = nlohmann::json::array();
    for (const ParamInfo& p : c.params) j["params"].push_back(param_json(p));
  }
  return j;
}

std::vector<const ComponentInfo*> all_components(const PluginRegistry& registry) {
  std::vector<const ComponentInfo*> all;
  for (Kind kind : {Kind::backbone, Kind::pooling, Kind::routing, Kind::decoder, Kind::loss})
    for (const ComponentInfo* c : registry.components(kind)) all.push_back(c);
  return all;
}

int list(const PluginRegistry& registry, bool json) {
  const auto components = all_components(registry);
  if (json) {
    nlohmann::json out = {{"plugins", nlohmann::json::array()}, {"broken", nlohmann::json::array()}};
    for (const ComponentInfo* c : components) out["plugins"].push_back(component_json(*c, false));
    for (const RejectedPlugin& r : registry.rejected())
      out["broken"].push_back({{"file", r.file.string()}, {"reason", r.reason}});
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::size_t name_width = 4, version_width = 7;
  for (const ComponentInfo* c : components) {
    name_width = std::max(name_width, c->name.size());
    version_width = std::max(version_width, c->plugin->version.size());
  }
  fmt::print("{:<9} {:<{}} {:<{}} {}\n", "KIND", "NAME", name_width, "VERSION", version_width, "FILE");
  for (const ComponentInfo* c : components)
    fmt::print("{:<9} {:<{}} {:<{}} {}\n", kind_name(c->kind), c->name, name_width,
               c->plugin->version, version_width, c->plugin->file.string());
  if (components.empty()) fmt::print("(no plugins found; check --plugin-dir and PIADE_PLUGIN_PATH)\n");
  if (!registry.rejected().empty()) {
    fmt::print("\nbroken plugins ({}):\n", registry.rejected().size());
    for (const RejectedPlugin& r : registry.rejected()) fmt::print("  {}\n", r.reason);
  }
  return 0;
}

int info(const PluginRegistry& registry, const std::string& query, bool json) {
  // NAME or KIND/NAME; a bare NAME must be unambiguous.
  std::vector<const ComponentInfo*> matches;
  std::vector<std::string> ids;
  for (const ComponentInfo* c : all_components(registry)) {
    ids.push_back(c->id());
    if (c->id() == query || c->name == query) matches.push_back(c);
  }
  if (matches.empty()) {
    std::vector<std::string> names = ids;
    for (const ComponentInfo* c : all_components(registry)) names.push_back(c->name);
    for (const RejectedPlugin& r : registry.rejected())
      for (const auto& [kind, name] : r.components)
        if (name == query || std::string(kind_name(kind)) + "/" + name == query)
          throw Error(fmt::format("plugin '{}' is broken: {}", query, r.reason));
    throw Error(fmt::format("no plugin named '{}'{}", query, did_you_mean(query, names)));
  }
  if (matches.size() > 1) {
    std::vector<std::string> which;
    for (const ComponentInfo* c : matches) which.push_back(c->id());
    throw Error(fmt::format("'{}' is ambiguous: {}; give KIND/NAME", query, fmt::join(which, ", ")));
  }
  const ComponentInfo& c = *matches.front();
  if (json) {
    std::cout << component_json(c, true).dump(2) << "\n";
    return 0;
  }
  fmt::print("{} — {}\n", c.id(), c.doc);
  fmt::print("plugin {} {} ({}): {}\n", c.plugin->name, c.plugin->version, c.plugin->file.string(),
             c.plugin->description);
  fmt::print("built with piade SDK {}, LibTorch {}, {}\n", c.plugin->build.sdk_version,
             c.plugin->build.torch_version, c.plugin->build.compiler);
  const std::string prefix = c.kind == Kind::loss ? "loss." + c.name : kind_name(c.kind);
  if (c.params.empty()) {
    fmt::print("\nno parameters\n");
    return 0;
  }
  fmt::print("\nparameters (set with --set {}.NAME=VALUE or a [{}] config section):\n", prefix, prefix);
  for (const ParamInfo& p : c.params) {
    std::string extra;
    if (!p.choices.empty()) extra = fmt::format(", one of {}", fmt::join(p.choices, "|"));
    if (p.min || p.max)
      extra += fmt::format(", range [{}, {}]", p.min ? fmt::format("{}", *p.min) : "-inf",
                           p.max ? fmt::format("{}", *p.max) : "inf");
    fmt::print("  {:<14} {:<10} default {}{}\n      {}\n", p.name, param_type_name(p.type),
               p.default_value ? "'" + *p.default_value + "'" : "(required)", extra, p.doc);
  }
  return 0;
}

// The components `check` takes: every loaded one, or those named by ID
// (KIND/NAME, or a NAME of one kind only).
std::vector<const ComponentInfo*> checked_components(const PluginRegistry& registry,
                                                     const std::vector<std::string>& ids) {
  if (ids.empty()) return all_components(registry);
  std::vector<const ComponentInfo*> chosen;
  for (const std::string& id : ids) {
    std::vector<const ComponentInfo*> matches;
    std::vector<std::string> known;
    for (const ComponentInfo* c : all_components(registry)) {
      known.push_back(c->id());
      if (c->id() == id || c->name == id) matches.push_back(c);
    }
    if (matches.empty()) {
      for (const RejectedPlugin& r : registry.rejected())
        for (const auto& [kind, name] : r.components)
          if (name == id || std::string(kind_name(kind)) + "/" + name == id)
            throw Error(fmt::format("check: plugin '{}' is broken: {}", id, r.reason));
      throw Error(fmt::format("check: no component '{}'{}", id, did_you_mean(id, known)));
    }
    if (matches.size() > 1) throw Error(fmt::format("check: '{}' is ambiguous; give KIND/NAME", id));
    chosen.push_back(matches.front());
  }
  return chosen;
}

int check(const PluginRegistry& registry, const std::vector<std::string>& ids) {
  const std::vector<const ComponentInfo*> components = checked_components(registry, ids);
  int ok = 0, failed = 0, skipped = 0;
  for (const ComponentInfo* component : components) {
    for (const ConformanceCheck& c : check_conformance(registry, *component)) {
      const char* outcome = c.outcome == ConformanceCheck::Outcome::ok     ? "ok"
                            : c.outcome == ConformanceCheck::Outcome::fail ? "FAIL"
                                                                           : "skip";
      (c.outcome == ConformanceCheck::Outcome::ok ? ok : c.outcome == ConformanceCheck::Outcome::fail ? failed
                                                                                                       : skipped)++;
      fmt::print("{:<4} {} {}: {}\n", outcome, c.component, c.rule, c.detail);
    }
    std::fflush(stdout);
  }
  fmt::print("{} {} checked: {} ok, {} failed, {} skipped\n", components.size(),
             components.size() == 1 ? "component" : "components", ok, failed, skipped);
  return failed > 0 ? 1 : 0;
}

}  // namespace

po::options_description plugins_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()((prefix + "json").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
                        "print JSON");
  return options;
}

int commands::plugins(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("plugins"));
  if (!parsed) return 0;
  const CommandLine& command_line = *parsed;
  const PluginRegistry registry = load_plugins(command_line);
  const bool json = command_line.get<bool>("json");
  const auto& words = command_line.positional;
  if (words.empty()) return list(registry, json);
  if (words[0] == "info" && words.size() == 2) return info(registry, words[1], json);
  if (words[0] == "check") {
    if (json) throw Error("check: --json is not supported; it prints one line per check");
    return check(registry, std::vector<std::string>(words.begin() + 1, words.end()));
  }
  // main() prefixes "piade plugins: ", so messages start with the subcommand.
  if (words[0] == "info") throw Error("info: expects one NAME (or KIND/NAME)");
  std::string hint = did_you_mean(words[0], {"info", "check"});
  if (hint.empty()) hint = "; use `piade plugins`, `piade plugins info NAME` or `piade plugins check [ID...]`";
  throw Error(fmt::format("unknown subcommand '{}'{}", words[0], hint));
}

}  // namespace piade
