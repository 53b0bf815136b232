// Self-describing checkpoints: one file holding the weights, the optimizer
// state and the full configuration (plugin names, versions and parameters,
// image shape, preprocessing, training settings, score statistics, a
// calibrated threshold), so that the pipeline can be rebuilt from the
// checkpoint alone. Writes are atomic.
//
// A model file (`piade export --format model`, `m.piade`) is the same
// without the optimizer state, behind a checksum: one header line
//   piade-model 1 sha256 <64 hex digits> <payload bytes>\n
// then the payload, the LibTorch archive a checkpoint.pt is (its weights and
// its whole configuration). Loading checks the length and the SHA-256 of the
// payload (what `tail -c +N m.piade | sha256sum` prints, N = the header's
// length + 1), so a flipped byte anywhere is an error naming the file. Every
// function here that reads a checkpoint also reads a model file: it is
// recognised by its header, or by the .piade extension (so a damaged
// header says so).
#pragma once

#include <filesystem>
#include <functional>
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

/// `--checkpoint` accepts the training output directory, its checkpoint.pt,
/// or a model file.
fs::path checkpoint_file(const fs::path& path);

/// The extension model files are given (`piade export --format model`).
inline constexpr const char* kModelFileExtension = ".piade";

/// True for a model file: it starts with the model-file header, or its
/// name ends in .piade.
bool is_model_file(const fs::path& file);

/// The configuration part of a checkpoint for `config` (plugin names,
/// versions, the plugin's library file name (`file`: "loss_mse.so") and
/// every parameter as text). With the `model` built from it,
/// each part also records its layout: its parameter schema, its tensors
/// (name, shape, dtype) and a hash of both, which lets another version of
/// the plugin with the same major number load the checkpoint.
nlohmann::json pipeline_to_json(const PipelineConfig& config, const PiadeModelImpl* model = nullptr);

/// Whether two configurations of pipeline_to_json() describe the same
/// pipeline: equal apart from the plugin file names, which older
/// checkpoints do not record and a renamed file changes.
bool same_pipeline(const nlohmann::json& a, const nlohmann::json& b);

/// Rebuilds the pipeline configuration recorded in a checkpoint. Throws
/// piade::Error naming the plugin when it is missing (and the file it came
/// from, which was rejected or is not loaded, with the registry's
/// plugin_dir_hint()), its major version
/// differs (or any version, for a part that records no layout), or a
/// recorded parameter no longer validates.
PipelineConfig pipeline_from_json(const PluginRegistry& registry, const nlohmann::json& pipeline,
                                  const std::string& source);

/// Writes model (+ optimizer, if given) and `meta` to `file` via a temporary
/// file and rename, so a crash never leaves a half-written checkpoint.
void save_checkpoint(const fs::path& file, PiadeModel& model, torch::optim::Optimizer* optimizer,
                     const nlohmann::json& meta);

/// Writes `model`'s weights and `meta` as a model file (see the top of this
/// header): no optimizer state, a checksummed payload, atomically. Throws
/// piade::Error naming the file.
void save_model_file(const fs::path& file, PiadeModel& model, const nlohmann::json& meta);

/// A checkpoint's configuration from its text, as read_checkpoint_meta
/// checks it: nesting depth, JSON, and the type of every field piade reads
/// (an integer must be one that fits int64). Throws piade::Error naming
/// `file`.
nlohmann::json parse_checkpoint_meta(const std::string& text, const fs::path& file);

/// Reads only the configuration of a checkpoint or model file (a model
/// file's checksum is verified).
nlohmann::json read_checkpoint_meta(const fs::path& file);

/// Reads the configuration of a checkpoint or model file, lets `update`
/// change it, and writes the file again with every tensor (and a
/// checkpoint's optimizer state) as it was, atomically (temporary file and
/// rename: a crash leaves the old file or the new one); a model file gets
/// its new checksum. Returns the configuration written.
nlohmann::json update_checkpoint_meta(const fs::path& file, const std::function<void(nlohmann::json&)>& update);

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

/// The decision threshold a checkpoint holds (`score > threshold` is
/// anomalous) and how it was chosen.
struct StoredThreshold {
  double value = 0;    ///< NaN when there is none (the run never finished)
  /// "training-p99" (score_stats.threshold, written at the end of training),
  /// or the calibration's method ("f1", "balanced", "percentile:P"); ""
  /// when there is none.
  std::string method;
  std::string rule;  ///< the method in words, with the data it was chosen on
};

/// The threshold in effect: the calibrated one (`calibration.threshold`,
/// written by `piade eval --calibrate`) where there is one, else the one
/// recorded at the end of training (`score_stats.threshold`).
StoredThreshold stored_threshold(const nlohmann::json& meta);

/// stored_threshold(meta).value.
double checkpoint_threshold(const nlohmann::json& meta);

/// Every tensor of `model` (parameters and buffers, under the model's own
/// names) as one safetensors file, with `meta` (a checkpoint's
/// configuration) as JSON in the metadata entry "piade_config": what Python
/// reads (benchmarks/eager/piade_eager.py). Written atomically; throws
/// piade::Error naming the file.
void save_model_safetensors(const fs::path& file, PiadeModel& model, const nlohmann::json& meta);

}  // namespace piade
