// The training loop (paper sec. 4.2, Table 1): Adam on the per-image loss
// averaged over the batch, a per-epoch CSV log, an optional validation
// hold-out and early stopping, periodic and final checkpoints, resume, and a
// clean stop on Ctrl-C. Progress goes to a TrainObserver: the loop itself
// prints nothing but the interruption warning.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "piade/datasets/dataset.h"
#include "piade/datasets/transforms.h"
#include "piade/core/distributed.h"
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
  Precision precision = Precision::fp32;  ///< --amp
  /// Share of the training images held out, [0, 0.5]: a split fixed by `seed`
  /// (validation_split) whose mean per-image loss, in eval mode, is logged
  /// each epoch as val_loss. 0 = none; every image is trained on.
  double val_fraction = 0;
  /// Stop after this many epochs in a row without improvement of the
  /// monitored loss, which is the validation loss with a hold-out and the
  /// epoch's training loss without; improving means falling below the best
  /// so far times (1 - 1e-4). The checkpoint then holds the best epoch's
  /// weights. 0 = off: all `epochs` run and the last weights are kept.
  int64_t early_stop = 0;
  /// Data-parallel runs only: batch-norm statistics of the whole global
  /// batch (piade::sdk::set_batch_norm_sync) instead of each rank's share.
  bool sync_bn = false;
};

/// After every optimisation step (a last batch of one image takes no step).
struct StepProgress {
  int64_t epoch = 0, epochs = 0;   ///< epoch is 1-based (the one running)
  int64_t batch = 0, batches = 0;  ///< batch is 1-based
  double loss = 0;                 ///< this batch's mean per-image loss
  std::vector<std::pair<std::string, double>> terms;  ///< per loss term, batch mean
  double images_per_second = 0;    ///< since the run (or resume) started
  double eta_seconds = 0;          ///< for the remaining epochs at that rate
};

/// After every finished epoch: what its row of train_log.csv holds, and more.
struct EpochRecord {
  int64_t epoch = 0, epochs = 0;   ///< 1-based finished epoch
  double loss = 0;                 ///< mean per-image training loss
  std::vector<std::pair<std::string, double>> terms;  ///< per loss term, mean per image
  std::optional<double> val_loss;  ///< with a validation hold-out
  double images_per_second = 0;    ///< this epoch's
  double seconds = 0;              ///< this epoch's training time (validation not included)
  double eta_seconds = 0;          ///< for the remaining epochs at the run's rate
  bool improved = false;           ///< the monitored loss improved (always true for epoch 1)
  int64_t best_epoch = 0;          ///< best epoch so far (monitored loss)
};

/// Where train() reports progress; either may be empty. Both run on the
/// training thread, between steps, so they should be quick.
struct TrainObserver {
  std::function<void(const StepProgress&)> on_step;
  std::function<void(const EpochRecord&)> on_epoch;
};

struct TrainResult {
  int64_t epochs_done = 0;  ///< epochs run in all, resumed ones included
  bool interrupted = false;
  double last_loss = 0;     ///< the last epoch's training loss (0 when none ran in this call)
  /// The epoch with the lowest monitored loss (see TrainSettings::early_stop)
  /// and that loss; with early stopping, the epoch whose weights were saved.
  int64_t best_epoch = 0;
  std::optional<double> best_loss;
  bool stopped_early = false;  ///< `early_stop` epochs passed without improvement
  /// A resume of a run that had already finished (all its epochs, or stopped
  /// early): nothing was trained or written, the model holds the checkpoint's
  /// weights, and epochs_done, stopped_early and, with early stopping,
  /// best_epoch and best_loss are the checkpoint's.
  bool already_finished = false;
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

/// The hold-out of `fraction` of `n` training images: (train indices, val
/// indices), each ascending, disjoint and together 0..n-1. Depends only on
/// (n, fraction, seed). round(fraction * n) images are held out, at least
/// one; throws piade::Error when `fraction` is outside [0, 0.5] or fewer than
/// two images would be left to train on. fraction 0 holds out none.
std::pair<torch::Tensor, torch::Tensor> validation_split(int64_t n, double fraction, uint64_t seed);

/// Trains `model` on `train` and writes DIR/checkpoint.pt and
/// DIR/train_log.csv (epoch, loss, one column per loss term, val_loss with a
/// hold-out, images_per_second, seconds). `meta` (pipeline, preprocessing,
/// dataset) is stored in every checkpoint, with the training state and, at
/// the end, the score statistics on the images trained on. With early
/// stopping, every periodic or interrupt checkpoint comes with DIR/best.pt,
/// the best weights so far, removed when the run finishes. With `resume`,
/// continues from the checkpoint in DIR (same configuration, val_fraction and
/// early_stop) at the first unfinished epoch, or returns `already_finished`
/// when that run is over; a run that finished all its epochs with early
/// stopping can only be given more when its best epoch was its last. The
/// model ends with the weights the checkpoint holds. Progress goes to
/// `observer`.
///
/// With a process `group` of W ranks (data-parallel training, issue 17),
/// every rank calls train() with the same arguments; `settings.batch_size` is
/// per rank, so a global batch holds batch_size x W images. Each epoch's
/// seeded order is the same on every rank, and rank r takes the r-th
/// contiguous share of each global batch (sizes differing by at most one).
/// Each rank's gradient of its share's mean loss is weighted by its share's
/// size, summed over the ranks in buckets and divided by the global batch's
/// size: the gradient of the global batch's mean loss, as one process would
/// take it. A global batch with a share under two images (the last one of
/// an epoch, below 2 x W images) takes no step on any rank (batch norm needs
/// two). Parameters and buffers start from rank 0's; the buffers (batch-norm
/// running statistics) are rank 0's after every step, so validation and the
/// score statistics, which every rank computes on all images, come out the
/// same everywhere. Logged losses are the global means. Only rank 0 writes
/// DIR (which every rank must see, for --resume) and calls `observer`. An
/// interrupt on any rank stops all of them after the same step; a rank that
/// dies makes the others fail within the group's timeout.
TrainResult train(PiadeModel& model, const ImageSet& train, const Preprocess& preprocess,
                  const TrainSettings& settings, const torch::Device& device,
                  const std::filesystem::path& out_dir, nlohmann::json meta, bool resume,
                  const TrainObserver& observer = {}, ProcessGroup* group = nullptr);

}  // namespace piade
