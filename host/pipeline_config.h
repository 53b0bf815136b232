// The chosen plugin for each pipeline part with its validated parameters:
// everything needed to build a pipeline, and what a checkpoint records.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "host/options.h"
#include "host/plugin_registry.h"

namespace piade {

struct PartConfig {
  const ComponentInfo* component = nullptr;
  ParamSet params;
};

struct PipelineConfig {
  PartConfig backbone;
  PartConfig pooling;
  PartConfig routing;
  PartConfig decoder;
  std::vector<PartConfig> losses;

  /// Every part in build order: backbone, pooling, routing, decoder, losses.
  std::vector<const PartConfig*> parts() const;
};

/// The (kind, name) pairs the command line selects.
std::vector<std::pair<Kind, std::string>> selected_components(const CommandLine& command_line);

/// Looks up each selected plugin and validates its parameters. Broken
/// plugins the pipeline does not need are reported through `warn`; a needed
/// one, an unknown name or a bad parameter throws piade::Error.
PipelineConfig resolve_pipeline(const PluginRegistry& registry, const CommandLine& command_line,
                                void (*warn)(const std::string&));

}  // namespace piade
