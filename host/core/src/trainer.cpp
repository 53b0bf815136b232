#include "piade/core/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <torch/optim/adam.h>

#include "piade/core/checkpoint.h"
#include "piade/core/scoring.h"
#include "piade/datasets/prefetch.h"
#include "piade/sdk/log.h"

namespace piade {
namespace {

// An epoch improves on the best when its monitored loss is below
// best * (1 - kRelativeImprovement): the relative threshold of PyTorch's
// ReduceLROnPlateau (threshold_mode "rel", threshold 1e-4), so that a loss
// that only moves in its last digits counts as a plateau. A constant, not a
// setting: early_stop alone says how patient to be.
constexpr double kRelativeImprovement = 1e-4;

// Mixed into the seed for the validation hold-out, so that its permutation is
// a stream of its own and not one of the epochs' orders (seed * 1000003 + epoch).
constexpr uint64_t kSplitSeedSalt = 0x9E3779B97F4A7C15ull;

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

// Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal or ssh session went
// away) finish the current step, write a checkpoint and return; a second one kills as usual.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = false;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESETHAND;
    for (std::size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &action, &old_[i]);
  }
  ~InterruptGuard() {
    for (std::size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[std::size(kSignals)] {};
};

// The CSV log keeps the rows of finished epochs (< first_epoch) on resume.
void truncate_log(const fs::path& log, int64_t first_epoch, const std::string& header) {
  std::ostringstream kept;
  kept << header << "\n";
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const auto epoch = std::strtoll(line.c_str(), nullptr, 10);
    if (epoch >= 1 && epoch <= first_epoch) kept << line << "\n";
  }
  write_file_atomic(log, kept.str());
}

void check_val_fraction(double fraction) {
  if (!(fraction >= 0 && fraction <= 0.5))
    throw Error(fmt::format("--val-fraction: must be in [0, 0.5], got {}", fraction));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The tensors that make up the trained state: the parameters training
// changes and every buffer (batch-norm statistics). Frozen parameters (the
// perceptual loss's VGG) are the same in every epoch; copying them would only
// cost memory.
std::vector<torch::Tensor> trained_tensors(PiadeModel& model) {
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& parameter : model->parameters())
    if (parameter.requires_grad()) tensors.push_back(parameter);
  for (const torch::Tensor& buffer : model->buffers())
    if (buffer.defined()) tensors.push_back(buffer);
  return tensors;
}

// A deep copy of the trained state, on the model's device.
std::vector<torch::Tensor> copy_trained_state(PiadeModel& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> copy;
  for (const torch::Tensor& tensor : trained_tensors(model)) copy.push_back(tensor.detach().clone());
  return copy;
}

// Writes a copy_trained_state() back into the same model's tensors.
void load_trained_state(PiadeModel& model, const std::vector<torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> tensors = trained_tensors(model);
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(state[i]);
}

// Which loss term went non-finite first, for the one line that stops training.
std::string non_finite_loss_message(PiadeModel& model, const BatchScores& scores, double loss, int64_t epoch,
                                    int64_t step, int64_t steps, const std::string& kept) {
  std::string term = "the weighted sum of the terms";
  for (std::size_t t = 0; t < scores.terms.size(); ++t)
    if (!torch::isfinite(scores.terms[t].detach()).all().item<bool>()) {
      term = model->loss_labels()[t];
      break;
    }
  return fmt::format("epoch {}, step {} of {}: the training loss is {}, from {}; training stopped, {}", epoch,
                     step, steps, loss, term, kept);
}

// A resumed run goes on with the data it started with: another dataset or
// normal class would relabel the run (its checkpoint would claim data it
// was mostly not trained on). Compares what both configurations record in
// "dataset" (a configuration without one, as in library use, is not checked).
void check_same_data(const fs::path& checkpoint, const nlohmann::json& saved, const nlohmann::json& meta) {
  const auto recorded = saved.find("dataset");
  const auto given = meta.find("dataset");
  if (recorded == saved.end() || given == meta.end()) return;
  auto text = [](const nlohmann::json& value) {
    return value.is_string() ? value.get<std::string>() : value.is_null() ? std::string("(none)") : value.dump();
  };
  auto refuse = [&](const std::string& option, const nlohmann::json& was, const nlohmann::json& is) {
    throw Error(fmt::format("--resume: {} was trained with --{} {}, not {}; resume with the same data or use a new "
                            "--out",
                            checkpoint.string(), option, text(was), text(is)));
  };
  const nlohmann::json none;
  for (const auto& [key, option] : {std::pair<const char*, const char*>{"name", "dataset"}, {"normal_class", "normal-class"}}) {
    const nlohmann::json& was = recorded->contains(key) ? recorded->at(key) : none;
    const nlohmann::json& is = given->contains(key) ? given->at(key) : none;
    if (was != is) refuse(option, was, is);
  }
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& was_options = recorded->contains("options") ? recorded->at("options") : empty;
  const nlohmann::json& is_options = given->contains("options") ? given->at("options") : empty;
  std::set<std::string> keys;
  for (const auto& item : was_options.items()) keys.insert(item.key());
  for (const auto& item : is_options.items()) keys.insert(item.key());
  for (const std::string& key : keys) {
    if (key == "dataset" || key == "normal-class") continue;  // compared above
    const nlohmann::json& was = was_options.contains(key) ? was_options.at(key) : none;
    const nlohmann::json& is = is_options.contains(key) ? is_options.at(key) : none;
    if (was != is) refuse(key, was, is);
  }
}

}  // namespace

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{:02}:{:02}", s / 60, s % 60);
}

std::pair<torch::Tensor, torch::Tensor> validation_split(int64_t n, double fraction, uint64_t seed) {
  check_val_fraction(fraction);
  if (fraction == 0) return {torch::arange(n, torch::kLong), torch::empty({0}, torch::kLong)};
  const int64_t held_out = std::max<int64_t>(1, std::llround(fraction * static_cast<double>(n)));
  if (n - held_out < 2)
    throw Error(fmt::format("--val-fraction: holding out {} of the {} training images leaves fewer than 2 to "
                            "train on; use a smaller --val-fraction, 0 for none, or more images",
                            held_out, n));
  torch::Generator generator = at::detail::createCPUGenerator(seed ^ kSplitSeedSalt);
  const torch::Tensor order = torch::randperm(n, generator, torch::kLong);
  return {std::get<0>(order.slice(0, held_out).sort()), std::get<0>(order.slice(0, 0, held_out).sort())};
}

namespace {
// train_step without the optimizer's step: the gradients of the batch's mean loss.
BatchScores forward_backward(PiadeModel& model, torch::optim::Optimizer& optimizer, const torch::Tensor& images,
                             Precision precision) {
  BatchScores scores;
  {
    Autocast amp(images.device(), precision);
    scores = model->score(images);
  }
  for (auto& group : optimizer.param_groups())
    for (torch::Tensor& parameter : group.params()) parameter.mutable_grad() = torch::Tensor();
  scores.total.mean().backward();
  return scores;
}

// An index tensor's rows as a vector.
std::vector<int64_t> to_rows(const torch::Tensor& index) {
  const torch::Tensor rows = index.contiguous();
  return std::vector<int64_t>(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
}

// The buffers every rank takes from rank 0 (batch-norm running statistics).
std::vector<torch::Tensor> defined_buffers(PiadeModel& model) {
  std::vector<torch::Tensor> buffers;
  for (const torch::Tensor& buffer : model->buffers())
    if (buffer.defined()) buffers.push_back(buffer);
  return buffers;
}
}  // namespace

BatchScores train_step(PiadeModel& model, torch::optim::Optimizer& optimizer, const torch::Tensor& images,
                  Precision precision) {
  BatchScores scores = forward_backward(model, optimizer, images, precision);
  optimizer.step();
  return scores;
}

TrainResult train(PiadeModel& model, const ImageSet& train_set, const Preprocess& preprocess_settings,
                  const TrainSettings& settings, const torch::Device& device, const fs::path& out_dir,
                  nlohmann::json meta, bool resume, const TrainObserver& observer, ProcessGroup* group) {
  if (train_set.size() == 0) throw Error("the training set is empty");
  const int64_t world = group ? group->world_size() : 1;
  const int64_t rank = group ? group->rank() : 0;
  // Only rank 0 writes DIR and reports progress (see trainer.h).
  const bool writer = rank == 0;
  // Saturated rather than wrapped for a batch size near INT64_MAX.
  const int64_t global_batch = settings.batch_size > std::numeric_limits<int64_t>::max() / world
                                   ? std::numeric_limits<int64_t>::max()
                                   : settings.batch_size * world;
  check_val_fraction(settings.val_fraction);
  if (settings.early_stop < 0)
    throw Error(fmt::format("--early-stop: must not be negative (0 = off), got {}", settings.early_stop));
  if (train_set.size() < 2 * world)
    throw Error(fmt::format("{} processes need at least {} training images (two per process for batch norm), "
                            "got {}", world, 2 * world, train_set.size()));
  const bool validating = settings.val_fraction > 0;
  const bool stopping_early = settings.early_stop > 0;
  // The hold-out is never trained on; the score statistics at the end come
  // from the images that were.
  // Either may be streamed (ImageSet::source): its pixels then come batch by
  // batch from a Prefetcher, in the same order as from memory.
  ImageSet train_images = train_set;
  ImageSet val_images;
  if (validating) {
    const auto [train_index, val_index] = validation_split(train_set.size(), settings.val_fraction, settings.seed);
    train_images = train_set.select(to_rows(train_index));
    val_images = train_set.select(to_rows(val_index));
  }
  fs::create_directories(out_dir);
  const fs::path checkpoint = out_dir / "checkpoint.pt";
  const fs::path best_file = out_dir / "best.pt";
  const fs::path log = out_dir / "train_log.csv";

  model->to(device);
  torch::optim::Adam optimizer(model->parameters(),
                               torch::optim::AdamOptions(settings.lr).weight_decay(settings.weight_decay));
  // The monitored loss (see TrainSettings::early_stop): its best so far, in
  // which epoch, and how many epochs have passed since without improvement.
  // With early stopping, best_state is that epoch's trained state and
  // best_state_written the epoch DIR/best.pt holds (0: none).
  int64_t first_epoch = 0;
  // Where an interrupted epoch goes on (see "partial_epoch" below).
  int64_t resume_batch = 0;
  std::vector<double> resume_sums;
  int64_t best_epoch = 0;
  std::optional<double> best_loss;
  int64_t stale_epochs = 0;
  std::vector<torch::Tensor> best_state;
  int64_t best_state_written = 0;
  if (resume) {
    if (!fs::exists(checkpoint))
      throw Error(fmt::format("--resume: no checkpoint in '{}' to resume from", out_dir.string()));
    const nlohmann::json saved = read_checkpoint_meta(checkpoint);
    if (!same_pipeline(saved.at("pipeline"), meta.at("pipeline")) || saved.at("preprocess") != meta.at("preprocess"))
      throw Error(fmt::format("--resume: {} was trained with another pipeline or preprocessing; "
                              "resume with the same options or use a new --out",
                              checkpoint.string()));
    check_same_data(checkpoint, saved, meta);
    const nlohmann::json& training = saved.at("training");
    first_epoch = training.at("epochs_done").get<int64_t>();
    // Only the final checkpoint records all its epochs as done: periodic ones
    // are written before the last epoch, interrupt ones for an unfinished one.
    const bool ran_to_end = first_epoch >= training.at("epochs").get<int64_t>();
    const bool stopped = training.value("stopped_early", false);
    if (const auto recorded = training.find("best_loss"); recorded != training.end() && recorded->is_number())
      best_loss = recorded->get<double>();
    best_epoch = training.value("best_epoch", int64_t{0});
    if (stopped || (ran_to_end && first_epoch >= settings.epochs)) {
      load_checkpoint_state(checkpoint, model, nullptr, device);
      TrainResult finished;
      finished.already_finished = true;
      finished.epochs_done = first_epoch;
      finished.stopped_early = stopped;
      finished.best_epoch = best_epoch;
      finished.best_loss = best_loss;
      return finished;
    }
    const double saved_fraction = training.value("val_fraction", 0.0);
    const int64_t saved_early_stop = training.value("early_stop", int64_t{0});
    if (saved_fraction != settings.val_fraction || saved_early_stop != settings.early_stop)
      throw Error(fmt::format("--resume: {} was trained with --val-fraction {} --early-stop {}; resume with the "
                              "same values or use a new --out",
                              checkpoint.string(), saved_fraction, saved_early_stop));
    if (stopping_early) {
      stale_epochs = training.value("epochs_without_improvement", int64_t{0});
      // A finished run keeps the best epoch's weights, not the last one's; only
      // when they are the same can it go on as if it had never stopped.
      if (ran_to_end && best_epoch != first_epoch)
        throw Error(fmt::format("--resume: {} finished its {} epochs with --early-stop and holds the weights of "
                                "epoch {}, its best, not those of the last epoch to continue from; train anew "
                                "with more --epochs",
                                checkpoint.string(), first_epoch, best_epoch));
      if (!ran_to_end && best_epoch > 0) {
        if (!fs::exists(best_file))
          throw Error(fmt::format("--resume: {} is missing: {} needs it for the best weights so far (epoch {}); "
                                  "train anew",
                                  best_file.string(), checkpoint.string(), best_epoch));
        const int64_t held = read_checkpoint_meta(best_file).at("training").at("epochs_done").get<int64_t>();
        if (held != best_epoch)
          throw Error(fmt::format("--resume: {} holds the weights of epoch {}, but {} has epoch {} as the best; "
                                  "the two were not written together; train anew",
                                  best_file.string(), held, checkpoint.string(), best_epoch));
        load_checkpoint_state(best_file, model, nullptr, device);
        best_state = copy_trained_state(model);
        best_state_written = best_epoch;
      }
    }
    load_checkpoint_state(checkpoint, model, &optimizer, device);
    if (stopping_early && ran_to_end) best_state = copy_trained_state(model);
    // An interrupt checkpoint holds the weights after the first batches of an
    // unfinished epoch: go on from the next batch with that epoch's loss sums,
    // so that the run ends as an uninterrupted one would. The batches are the
    // same only with the same global batch (--batch-size x processes) and
    // number of images; another world size with the same global batch goes
    // on in the same global order.
    if (const auto partial = training.find("partial_epoch"); partial != training.end()) {
      const int64_t saved_batch_size = training.value("batch_size", int64_t{0});
      const int64_t saved_world = training.value("world_size", int64_t{1});
      const int64_t saved_images = partial->value("images", int64_t{-1});
      std::vector<double> sums = partial->value("loss_sums", std::vector<double>{});
      if (saved_batch_size * saved_world == global_batch && saved_images == train_images.size() &&
          sums.size() == model->loss_names().size() + 1) {
        resume_batch = partial->at("batches_done").get<int64_t>();
        resume_sums = std::move(sums);
      } else if (writer) {
        warn(fmt::format("--resume: epoch {} was interrupted with a global batch of {} ({} x {} process{}) on {} "
                         "images; it starts over with {} ({} x {}) on {}",
                         first_epoch + 1, saved_batch_size * saved_world, saved_batch_size, saved_world,
                         saved_world == 1 ? "" : "es", saved_images, global_batch, settings.batch_size, world,
                         train_images.size()));
      }
    }
  } else if (writer) {
    std::error_code ec;
    fs::remove(best_file, ec);  // left by an earlier run in DIR
  }
  if (group) {
    // Every rank starts from rank 0's weights and statistics (plugins may
    // initialise from other random streams than torch's seeded one).
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> state;
    // Frozen parameters (the perceptual loss's VGG) come from weight files.
    for (const torch::Tensor& parameter : model->parameters())
      if (parameter.requires_grad()) state.push_back(parameter.detach());
    for (const torch::Tensor& buffer : defined_buffers(model)) state.push_back(buffer);
    group->broadcast_from_rank0(state);
  }

  std::string header = "epoch,loss";
  for (const std::string& name : model->loss_names()) header += "," + name;
  if (validating) header += ",val_loss";
  header += ",images_per_second,seconds";
  if (writer) truncate_log(log, first_epoch, header);

  TrainResult result;
  result.epochs_done = first_epoch;
  result.best_epoch = best_epoch;
  result.best_loss = best_loss;

  // The epochs the checkpoint on disk holds, for the message when training
  // stops on a non-finite loss (0: this run has written none).
  int64_t saved_epochs = resume ? first_epoch : 0;

  auto training_meta = [&](int64_t epochs_done) {
    nlohmann::json training = {{"epochs_done", epochs_done}, {"epochs", settings.epochs},
                               {"batch_size", settings.batch_size}, {"lr", settings.lr},
                               {"weight_decay", settings.weight_decay}, {"seed", settings.seed},
                               {"precision", precision_name(settings.precision)},
                               {"val_fraction", settings.val_fraction}, {"early_stop", settings.early_stop},
                               {"world_size", world}, {"global_batch_size", global_batch},
                               {"sync_bn", settings.sync_bn}};
    if (validating) training["val_images"] = val_images.size();
    if (stopping_early) {
      training["monitored"] = validating ? "val_loss" : "loss";
      training["best_epoch"] = best_epoch;
      training["best_loss"] = best_loss ? nlohmann::json(*best_loss) : nlohmann::json();
      training["epochs_without_improvement"] = stale_epochs;
      training["stopped_early"] = result.stopped_early;
    }
    return training;
  };
  auto save = [&](int64_t epochs_done, const nlohmann::json* stats, const nlohmann::json* partial = nullptr) {
    if (!writer) return;
    meta["training"] = training_meta(epochs_done);
    if (partial) meta["training"]["partial_epoch"] = *partial;
    if (stats) meta["score_stats"] = *stats;
    save_checkpoint(checkpoint, model, &optimizer, meta);
    saved_epochs = epochs_done;
  };
  // A checkpoint to resume from, and with early stopping the best weights
  // beside it, written first so that checkpoint.pt never refers to a best.pt
  // that is not there yet. best.pt is a checkpoint without optimizer state
  // whose epochs_done is the best epoch.
  auto save_resumable = [&](int64_t epochs_done, const nlohmann::json* partial = nullptr) {
    if (writer && stopping_early && best_epoch > 0 && best_state_written != best_epoch) {
      const std::vector<torch::Tensor> current = copy_trained_state(model);
      load_trained_state(model, best_state);
      nlohmann::json best_meta = meta;
      best_meta["training"] = training_meta(best_epoch);
      try {
        save_checkpoint(best_file, model, nullptr, best_meta);
      } catch (...) {
        load_trained_state(model, current);
        throw;
      }
      load_trained_state(model, current);
      best_state_written = best_epoch;
    }
    save(epochs_done, nullptr, partial);
  };

  const std::vector<std::string>& loss_names = model->loss_names();
  const int64_t n = train_images.size();
  // Written so that no batch size overflows: (n + size - 1) / size wraps
  // for a size near INT64_MAX and made a run of zero steps.
  // With W ranks a batch is the global one (batch_size x W), split below.
  const int64_t batches = n / global_batch + (n % global_batch != 0 ? 1 : 0);
  // Where batch `b` ends (b < batches, so b * size <= n).
  auto batch_end = [&](int64_t b) { return b * global_batch + std::min(global_batch, n - b * global_batch); };
  {
    // The part contract in eval mode with maps, on the first batch, before
    // any step (model.h checks the training mode in the first step): the
    // maps are otherwise first computed for the statistics after the last
    // epoch, so that a wrong map would cost the whole run.
    torch::NoGradGuard no_grad;
    Autocast amp(device, settings.precision);
    model->eval();
    std::vector<int64_t> rows(std::size_t(std::min(n, settings.batch_size)));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = int64_t(i);
    model->score(preprocess(train_images.images_at(rows), preprocess_settings).to(device), /*with_maps=*/true);
  }

  InterruptGuard interrupt_guard;
  const auto run_start = std::chrono::steady_clock::now();
  int64_t images_seen = 0;
  for (int64_t epoch = first_epoch; epoch < settings.epochs; ++epoch) {
    model->train();
    // The order of each epoch depends only on (seed, epoch), so a resumed
    // run sees the same batches as an uninterrupted one.
    torch::Generator generator = at::detail::createCPUGenerator(settings.seed * 1000003u + epoch);
    torch::Tensor order = torch::randperm(n, generator, torch::kLong);
    std::vector<double> sums(loss_names.size() + 1, 0.0);
    int64_t b = 0;
    if (epoch == first_epoch && resume_batch > 0) {
      b = resume_batch;
      sums = resume_sums;
    }
    // The batch source is told the epoch's batches up front, so that a
    // streamed set is decoded ahead of the steps. BatchNorm needs two
    // images; a last batch of one is folded into no step, and with W ranks
    // one that leaves a rank fewer than two. Each rank's source holds its
    // contiguous share of every global batch.
    auto batch_rows = [&](int64_t batch) {
      const torch::Tensor index = order.slice(0, batch * global_batch, batch_end(batch));
      const int64_t count = index.size(0);
      return to_rows(index.slice(0, rank * count / world, (rank + 1) * count / world));
    };
    auto takes_step = [&](int64_t batch) { return batch_end(batch) - batch * global_batch >= 2 * world || batches == 1; };
    std::vector<std::vector<int64_t>> epoch_batches;
    for (int64_t c = b; c < batches; ++c)
      if (takes_step(c)) epoch_batches.push_back(batch_rows(c));
    Prefetcher source(train_images, std::move(epoch_batches));
    const auto epoch_start = std::chrono::steady_clock::now();
    // An interrupt ends the loop before the next batch; b is then the number
    // of batches done. With a process group, ranks agree on an interrupt of
    // any of them through each step's all-reduce (`stopping`), so that all
    // stop after the same step.
    bool stopping = false;
    auto stop_now = [&] { return group ? stopping : g_interrupted.load(); };
    for (; b < batches && !stop_now(); ++b) {
      if (!takes_step(b)) continue;
      const torch::Tensor index = order.slice(0, b * global_batch, batch_end(b));
      const double batch_n = static_cast<double>(index.size(0));
      BatchScores scores;
      double loss = 0;
      std::vector<double> term_sums(loss_names.size(), 0.0);
      if (!group) {
        torch::Tensor images = preprocess(source.next(), preprocess_settings).to(device);
        scores = train_step(model, optimizer, images, settings.precision);
        loss = scores.total.mean().item<double>();
        for (std::size_t t = 0; t < scores.terms.size(); ++t) term_sums[t] = scores.terms[t].sum().item<double>();
      } else {
        // This rank's contiguous share of the global batch (batch_rows).
        torch::Tensor images = preprocess(source.next(), preprocess_settings).to(device);
        const double share_n = static_cast<double>(images.size(0));
        scores = forward_backward(model, optimizer, images, settings.precision);
        // The global loss sums and the interrupt flag, in one all-reduce.
        torch::Tensor totals = torch::zeros({static_cast<int64_t>(loss_names.size()) + 2}, torch::kDouble);
        totals[0] = scores.total.detach().sum().to(torch::kDouble).cpu();
        for (std::size_t t = 0; t < scores.terms.size(); ++t)
          totals[static_cast<int64_t>(t) + 1] = scores.terms[t].detach().sum().to(torch::kDouble).cpu();
        totals[totals.size(0) - 1] = g_interrupted ? 1.0 : 0.0;
        if (device.is_cuda()) totals = totals.to(device);
        group->all_reduce_sum(totals);
        totals = totals.cpu();
        // The gradient of the global mean: each share's mean gradient
        // weighted by its size, summed, divided by the global count. Every
        // rank runs the same model, so the same gradients are defined.
        std::vector<torch::Tensor> gradients;
        {
          torch::NoGradGuard no_grad;
          for (auto& param_group : optimizer.param_groups())
            for (torch::Tensor& parameter : param_group.params())
              if (parameter.grad().defined()) {
                parameter.mutable_grad().mul_(share_n);
                gradients.push_back(parameter.mutable_grad());
              }
          group->all_reduce_sum_bucketed(gradients);
          for (torch::Tensor& gradient : gradients) gradient.div_(batch_n);
        }
        optimizer.step();
        // Rank 0's running statistics everywhere, as PyTorch's DDP keeps
        // them (broadcast_buffers); with --sync-bn they agree already.
        if (!settings.sync_bn) group->broadcast_from_rank0(defined_buffers(model));
        loss = totals[0].item<double>() / batch_n;
        for (std::size_t t = 0; t < term_sums.size(); ++t) term_sums[t] = totals[static_cast<int64_t>(t) + 1].item<double>();
        stopping = totals[totals.size(0) - 1].item<double>() > 0;
      }
      // A non-finite loss has already made every weight NaN through the step
      // just taken: stop now, before anything is written over the last
      // checkpoint, which is kept as it is.
      if (!std::isfinite(loss))
        throw Error(non_finite_loss_message(model, scores, loss, epoch + 1, b + 1, batches,
                                            saved_epochs > 0 ? fmt::format("{} (epoch {}) is kept", checkpoint.string(),
                                                                           saved_epochs)
                                                             : std::string("no checkpoint was written")));
      sums[0] += loss * batch_n;
      for (std::size_t t = 0; t < term_sums.size(); ++t) sums[t + 1] += term_sums[t];
      images_seen += index.size(0);
      if (observer.on_step && writer) {
        StepProgress step;
        step.epoch = epoch + 1;
        step.epochs = settings.epochs;
        step.batch = b + 1;
        step.batches = batches;
        step.loss = loss;
        // Each item() waits for the device, hence only with an observer.
        for (std::size_t t = 0; t < term_sums.size(); ++t) step.terms.emplace_back(loss_names[t], term_sums[t] / batch_n);
        step.images_per_second = images_seen / std::max(seconds_since(run_start), 1e-9);
        const int64_t images_left = (settings.epochs - epoch) * n - batch_end(b);
        step.eta_seconds = images_left / std::max(step.images_per_second, 1e-9);
        observer.on_step(step);
      }
    }
    if (stop_now()) {
      // Resume goes on from batch b with these sums (also when b == batches:
      // then only the epoch's end is left to do).
      const nlohmann::json partial = {{"epoch", epoch + 1}, {"batches_done", b}, {"images", n}, {"loss_sums", sums}};
      save_resumable(epoch, &partial);
      if (writer)
        warn(fmt::format("interrupted in epoch {}: checkpoint written to {}; continue with --resume",
                       epoch + 1, checkpoint.string()));
      result.interrupted = true;
      result.epochs_done = epoch;
      return result;
    }
    EpochRecord record;
    record.epoch = epoch + 1;
    record.epochs = settings.epochs;
    record.seconds = seconds_since(epoch_start);
    record.images_per_second = n / record.seconds;
    record.loss = sums[0] / n;
    for (std::size_t t = 0; t < loss_names.size(); ++t) record.terms.emplace_back(loss_names[t], sums[t + 1] / n);
    if (validating) {
      Autocast amp(device, settings.precision);
      record.val_loss =
          score_all(model, val_images, preprocess_settings, settings.batch_size, device).total.mean().item<double>();
    }
    const double monitored = validating ? *record.val_loss : record.loss;
    record.improved = !best_loss || monitored < *best_loss * (1 - kRelativeImprovement);
    if (record.improved) {
      best_loss = monitored;
      best_epoch = epoch + 1;
      stale_epochs = 0;
      if (stopping_early) best_state = copy_trained_state(model);
    } else {
      ++stale_epochs;
    }
    record.best_epoch = best_epoch;
    const double rate = images_seen / std::max(seconds_since(run_start), 1e-9);
    record.eta_seconds = (settings.epochs - epoch - 1) * n / std::max(rate, 1e-9);

    std::string row = fmt::format("{},{:.6g}", record.epoch, record.loss);
    for (const auto& term : record.terms) row += fmt::format(",{:.6g}", term.second);
    if (record.val_loss) row += fmt::format(",{:.6g}", *record.val_loss);
    row += fmt::format(",{:.2f},{:.3f}\n", record.images_per_second, record.seconds);
    if (writer) std::ofstream(log, std::ios::app) << row;
    result.epochs_done = epoch + 1;
    result.last_loss = record.loss;
    result.best_epoch = best_epoch;
    result.best_loss = best_loss;
    result.stopped_early = stopping_early && stale_epochs >= settings.early_stop;
    if (settings.checkpoint_every > 0 && (epoch + 1) % settings.checkpoint_every == 0 &&
        epoch + 1 < settings.epochs && !result.stopped_early)
      save_resumable(epoch + 1);
    // After the checkpoint, so that an observer that ends the run (by an
    // exception) leaves DIR as a crash after this epoch would.
    if (observer.on_epoch && writer) observer.on_epoch(record);
    if (result.stopped_early) break;
  }
  // With early stopping the run keeps its best epoch, also when resumed from
  // an interrupt checkpoint, whose weights are those of an unfinished epoch.
  if (stopping_early && best_epoch > 0) load_trained_state(model, best_state);
  // The statistics of the training images' scores and maps come last; a
  // failure there must not cost the trained weights: the checkpoint is
  // written either way, without them, and the error says so.
  nlohmann::json stats;
  std::string stats_failure;
  try {
    std::vector<torch::Tensor> map_maxima;
    Autocast amp(device, settings.precision);
    const ScoreTable train_scores =
        score_all(model, train_images, preprocess_settings, settings.batch_size, device,
                  [&](int64_t, const BatchScores& scores) {
                    if (scores.map.defined()) map_maxima.push_back(scores.map.flatten(1).amax(1).cpu());
                  });
    stats = score_statistics(train_scores.total);
    if (!map_maxima.empty()) meta["map_stats"] = map_statistics(torch::cat(map_maxima));
  } catch (const std::exception& e) {
    stats_failure = one_line_message(e);
  }
  if (!stats_failure.empty()) meta.erase("map_stats");
  save(result.epochs_done, stats_failure.empty() ? &stats : nullptr);
  std::error_code ec;
  if (writer) fs::remove(best_file, ec);  // the checkpoint holds the best weights now
  if (!stats_failure.empty())
    throw Error(fmt::format("training finished, but the score statistics of the training images failed: {}; "
                            "{} holds the trained weights (epoch {}) without them",
                            stats_failure, checkpoint.string(),
                            result.epochs_done));
  return result;
}

}  // namespace piade
