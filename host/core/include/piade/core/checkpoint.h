// Self-describing checkpoints: one file holding the weights, the optimizer
// state and the full configuration (plugin names, versions and parameters,
// image shape, preprocessing, training settings, score statistics), so that
// the pipeline can be rebuilt from the checkpoint alone. Writes are atomic.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "piade/datasets/transforms.h"
#include "piade/core/file_io.h"  // write_file_atomic, which checkpoint users also write with
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"
#include "piade/core/plugin_registry.h"

namespace piade {

namespace fs = std::filesystem;

/// `--checkpoint` accepts the training output directory or the file itself.
fs::path checkpoint_file(const fs::path& path);

/// The configuration part of a checkpoint for `config` (plugin names,
/// versions and every parameter as text). With the `model` built from it,
/// each part also records its layout: its parameter schema, its tensors
/// (name, shape, dtype) and a hash of both, which lets another version of
/// the plugin with the same major number load the checkpoint.
nlohmann::json pipeline_to_json(const PipelineConfig& config, const PiadeModelImpl* model = nullptr);

/// Rebuilds the pipeline configuration recorded in a checkpoint. Throws
/// piade::Error naming the plugin when it is missing, its major version
/// differs (or any version, for a part that records no layout), or a
/// recorded parameter no longer validates.
PipelineConfig pipeline_from_json(const PluginRegistry& registry, const nlohmann::json& pipeline,
                                  const std::string& source);

/// Writes model (+ optimizer, if given) and `meta` to `file` via a temporary
/// file and rename, so a crash never leaves a half-written checkpoint.
void save_checkpoint(const fs::path& file, PiadeModel& model, torch::optim::Optimizer* optimizer,
                     const nlohmann::json& meta);

/// Reads only the configuration of a checkpoint file.
nlohmann::json read_checkpoint_meta(const fs::path& file);

/// Loads weights (and the optimizer state, when asked and present) into an
/// already built model. Throws piade::Error naming the file on mismatch.
void load_checkpoint_state(const fs::path& file, PiadeModel& model,
                           torch::optim::Optimizer* optimizer, const torch::Device& device);

/// Rebuilds the model a checkpoint file describes, from its recorded
/// configuration alone, with its weights loaded, on `device`. A part whose
/// recorded layout differs from the installed plugin's is refused, naming the
/// first parameter or tensor that differs.
PiadeModel restore_model(const PluginRegistry& registry, const fs::path& file, const nlohmann::json& meta,
                         const torch::Device& device);

/// The network input a checkpoint's model expects, from its `preprocess`
/// entry (image_size, channels, and resize where recorded) or, failing
/// that, its `image` shape: what scoring must decode pictures to.
Preprocess checkpoint_preprocess(const nlohmann::json& meta);

/// The decision threshold recorded at the end of training
/// (`score_stats.threshold`); NaN when the run never finished.
double checkpoint_threshold(const nlohmann::json& meta);

/// Every tensor of `model` (parameters and buffers, under the model's own
/// names) as one safetensors file, with `meta` (a checkpoint's
/// configuration) as JSON in the metadata entry "piade_config": what Python
/// reads (benchmarks/eager/piade_eager.py). Written atomically; throws
/// piade::Error naming the file.
void save_model_safetensors(const fs::path& file, PiadeModel& model, const nlohmann::json& meta);

}  // namespace piade
