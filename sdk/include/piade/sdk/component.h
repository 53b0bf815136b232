// What every pipeline part has in common: its kind and what the host tells
// it when it is built.
#pragma once

#include <optional>

#include <torch/nn/module.h>

#include "piade/sdk/export.h"
#include "piade/sdk/params.h"
#include "piade/sdk/plugin_abi.h"
#include "piade/sdk/shapes.h"

namespace piade {

enum class Kind {
  backbone = PIADE_KIND_BACKBONE,
  pooling = PIADE_KIND_POOLING,
  routing = PIADE_KIND_ROUTING,
  decoder = PIADE_KIND_DECODER,
  loss = PIADE_KIND_LOSS,
};

/// "backbone", "pooling", ...; the word users type (`--backbone NAME`).
PIADE_SDK_API const char* kind_name(Kind kind);

/// What a component is built from: its validated parameters and the shapes
/// of everything upstream of it. The host builds the pipeline in order
/// (backbone, pooling, routing, decoder, losses), so each part sees the
/// shapes it needs to size its layers:
///   backbone: image;  pooling: image, features;
///   routing: image, features, capsules;
///   decoder: image, features, capsules, vectors;  loss: image.
struct ComponentContext {
  ParamSet params;
  ImageShape image;
  std::optional<FeatureShape> features;
  std::optional<CapsuleShape> capsules;
  std::optional<VectorShape> vectors;
  /// True when the host will overwrite every weight from a checkpoint right
  /// after construction (score, eval, resume): skip loading pretrained files
  /// (they may not exist on this machine) and warnings about their absence.
  bool restoring = false;
};

}  // namespace piade
