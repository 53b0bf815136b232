// The chosen plugin for each pipeline part with its validated parameters:
// everything needed to build a pipeline, and what a checkpoint records.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "piade/core/plugin_registry.h"

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

/// What a user picks: one component per part, the loss terms, and plugin
/// parameters as text. The defaults are the paper's pipeline (sec. 3, eq. 5);
/// the CLI's --backbone ... --loss take theirs from here.
struct PipelineSelection {
  std::string backbone = "se_resnet18";
  std::string pooling = "pyramid";
  std::string routing = "dynamic";
  std::string decoder = "transposed";
  std::vector<std::string> losses = {"mse", "ssim", "perceptual"};
  /// Parameters by owner: "backbone", "pooling", "routing", "decoder", or
  /// "loss.<name>" for each loss term; values as the user typed them.
  std::map<std::string, std::map<std::string, std::string>> params;

  /// The (kind, name) pairs selected, in build order.
  std::vector<std::pair<Kind, std::string>> components() const;
};

/// Looks up each selected plugin and validates its parameters. Broken
/// plugins the pipeline does not need are reported through `warn`; a needed
/// one, an unknown name or a bad parameter throws piade::Error.
PipelineConfig resolve_pipeline(const PluginRegistry& registry, const PipelineSelection& selection,
                                void (*warn)(const std::string&));

}  // namespace piade
