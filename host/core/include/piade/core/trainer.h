// The training loop (paper sec. 4.2, Table 1): Adam on the per-image loss
// averaged over the batch, a progress bar, a per-epoch CSV log, periodic and
// final checkpoints, resume, and a clean stop on Ctrl-C.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "piade/datasets/dataset.h"
#include "piade/datasets/transforms.h"
#include "piade/core/model.h"
#include "piade/core/precision.h"

namespace piade {

struct TrainSettings {
  int64_t epochs = 400;       ///< Table 1
  int64_t batch_size = 120;   ///< Table 1
  double lr = 1e-3;           ///< Table 1 (Adam)
  double weight_decay = 1e-4; ///< Table 1
  uint64_t seed = 0;
  int64_t checkpoint_every = 10;  ///< epochs; 0 = only at the end
  bool progress = true;
  Precision precision = Precision::fp32;  ///< --amp
};

struct TrainResult {
  int64_t epochs_done = 0;
  bool interrupted = false;
  double last_loss = 0;
};

/// A duration for progress lines: mm:ss, or h:mm:ss from an hour on.
std::string clock_text(double seconds);

/// One optimisation step on a batch already on the model's device: the
/// per-image loss averaged over the batch, backward, and `optimizer`'s step.
/// Gradients are released rather than zero-filled before the backward pass
/// (a full write of every gradient saved per step). Returns the per-batch
/// BatchScores (terms, total) of the forward pass. The forward pass runs in
/// `precision`; backward and the step in the parameters' fp32.
BatchScores train_step(PiadeModel& model, torch::optim::Optimizer& optimizer, const torch::Tensor& images,
                  Precision precision = Precision::fp32);

/// Trains `model` on `train` and writes DIR/checkpoint.pt and
/// DIR/train_log.csv. `meta` (pipeline, preprocessing, dataset) is stored in
/// every checkpoint, with the training state and, at the end, the score
/// statistics on the training set. With `resume`, continues from the
/// checkpoint in DIR (same configuration) at the first unfinished epoch.
TrainResult train(PiadeModel& model, const ImageSet& train, const Preprocess& preprocess,
                  const TrainSettings& settings, const torch::Device& device,
                  const std::filesystem::path& out_dir, nlohmann::json meta, bool resume);

}  // namespace piade
