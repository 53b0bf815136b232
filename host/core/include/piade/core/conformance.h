// The conformance run of `piade plugins check`: one component built into
// the default pipeline (its kind swapped in) at a few image geometries, run
// on a batch in training and in eval mode, and held to every rule of the
// part contract (contract.h), with those only a plugin author needs to
// check once: gradients, pretty_print, clone() and the state-dict round trip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "piade/core/plugin_registry.h"
#include "piade/sdk/shapes.h"

namespace piade {

struct ConformanceSettings {
  /// The geometry every component must accept: Fashion-MNIST's, the paper's first.
  ImageShape default_geometry{1, 28, 28};
  /// More geometries; one the pipeline refuses to build is skipped.
  std::vector<ImageShape> geometries = {{3, 28, 28}, {1, 32, 32}, {3, 32, 32}, {1, 64, 64}, {3, 64, 64}};
  /// Images per batch: two at least, for batch norm in training mode; not
  /// a count the parts use for anything else (1, 2, 3 channels, 2 vectors).
  int64_t batch_size = 5;
  /// A map's mean may differ from the per-image loss by this share of it:
  /// a map upsampled from coarser features (loss/perceptual's, bilinear)
  /// keeps the mean only up to its borders.
  double map_mean_tolerance = 0.05;
  uint64_t seed = 0;
};

/// The outcome of one rule for one component.
struct ConformanceCheck {
  enum class Outcome { ok, fail, skip };
  std::string component;  ///< "loss/ssim"
  std::string rule;       ///< one of rule::k... (contract.h)
  Outcome outcome = Outcome::ok;
  /// ok: the geometries it held at; fail: where and why (one line);
  /// skip: why it was not checked.
  std::string detail;
};

/// Checks every rule for `component`. The rest of the pipeline is the
/// default one (PipelineSelection), with loss/mse as its only loss term
/// when `component` is not a loss (the other terms would only add time),
/// and the component's parameters are its defaults. Never throws for
/// what the component does; each broken rule is a `fail`.
std::vector<ConformanceCheck> check_conformance(const PluginRegistry& registry, const ComponentInfo& component,
                                                const ConformanceSettings& settings = {});

}  // namespace piade
