#include "piade/core/trainer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <torch/optim/adam.h>

#include "piade/core/checkpoint.h"
#include "piade/core/scoring.h"
#include "piade/sdk/log.h"

namespace piade {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

// Ctrl-C (SIGINT) and SIGTERM finish the current step, write a checkpoint
// and return; a second Ctrl-C kills as usual.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = false;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
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

}  // namespace

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{:02}:{:02}", s / 60, s % 60);
}

BatchScores train_step(PiadeModel& model, torch::optim::Optimizer& optimizer, const torch::Tensor& images,
                  Precision precision) {
  BatchScores scores;
  {
    Autocast amp(images.device(), precision);
    scores = model->score(images);
  }
  for (auto& group : optimizer.param_groups())
    for (torch::Tensor& parameter : group.params()) parameter.mutable_grad() = torch::Tensor();
  scores.total.mean().backward();
  optimizer.step();
  return scores;
}

TrainResult train(PiadeModel& model, const ImageSet& train_set, const Preprocess& preprocess_settings,
                  const TrainSettings& settings, const torch::Device& device, const fs::path& out_dir,
                  nlohmann::json meta, bool resume) {
  if (train_set.size() == 0) throw Error("train: the training set is empty");
  fs::create_directories(out_dir);
  const fs::path checkpoint = out_dir / "checkpoint.pt";
  const fs::path log = out_dir / "train_log.csv";

  model->to(device);
  torch::optim::Adam optimizer(model->parameters(),
                               torch::optim::AdamOptions(settings.lr).weight_decay(settings.weight_decay));
  int64_t first_epoch = 0;
  if (resume) {
    if (!fs::exists(checkpoint))
      throw Error(fmt::format("--resume: no checkpoint in '{}' to resume from", out_dir.string()));
    const nlohmann::json saved = read_checkpoint_meta(checkpoint);
    if (saved.at("pipeline") != meta.at("pipeline") || saved.at("preprocess") != meta.at("preprocess"))
      throw Error(fmt::format("--resume: {} was trained with another pipeline or preprocessing; "
                              "resume with the same options or use a new --out",
                              checkpoint.string()));
    load_checkpoint_state(checkpoint, model, &optimizer, device);
    first_epoch = saved.at("training").at("epochs_done").get<int64_t>();
  }

  std::string header = "epoch,loss";
  for (const std::string& name : model->loss_names()) header += "," + name;
  header += ",images_per_second,seconds";
  truncate_log(log, first_epoch, header);

  auto save = [&](int64_t epochs_done, const nlohmann::json* stats) {
    meta["training"] = {{"epochs_done", epochs_done}, {"epochs", settings.epochs},
                        {"batch_size", settings.batch_size}, {"lr", settings.lr},
                        {"weight_decay", settings.weight_decay}, {"seed", settings.seed},
                        {"precision", precision_name(settings.precision)}};
    if (stats) meta["score_stats"] = *stats;
    save_checkpoint(checkpoint, model, &optimizer, meta);
  };

  InterruptGuard interrupt_guard;
  TrainResult result;
  result.epochs_done = first_epoch;
  const int64_t n = train_set.size();
  const int64_t batches = (n + settings.batch_size - 1) / settings.batch_size;
  const auto run_start = std::chrono::steady_clock::now();
  int64_t images_seen = 0;
  for (int64_t epoch = first_epoch; epoch < settings.epochs; ++epoch) {
    model->train();
    // The order of each epoch depends only on (seed, epoch), so a resumed
    // run sees the same batches as an uninterrupted one.
    torch::Generator generator = at::detail::createCPUGenerator(settings.seed * 1000003u + epoch);
    torch::Tensor order = torch::randperm(n, generator, torch::kLong);
    std::vector<double> sums(model->loss_names().size() + 1, 0.0);
    const auto epoch_start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < batches; ++b) {
      torch::Tensor index = order.slice(0, b * settings.batch_size, std::min(n, (b + 1) * settings.batch_size));
      // BatchNorm needs two images; a last batch of one is folded into no step.
      if (index.size(0) < 2 && batches > 1) continue;
      torch::Tensor images = preprocess(train_set.images.index_select(0, index), preprocess_settings).to(device);
      BatchScores scores = train_step(model, optimizer, images, settings.precision);
      const double batch_n = static_cast<double>(index.size(0));
      const double loss = scores.total.mean().item<double>();
      sums[0] += loss * batch_n;
      for (std::size_t t = 0; t < scores.terms.size(); ++t)
        sums[t + 1] += scores.terms[t].sum().item<double>();
      images_seen += index.size(0);
      if (settings.progress) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
        const double rate = images_seen / std::max(elapsed, 1e-9);
        const double remaining = ((settings.epochs - epoch) * n - (b + 1) * settings.batch_size) / std::max(rate, 1e-9);
        const int filled = static_cast<int>(20.0 * (b + 1) / batches);
        std::string terms;
        for (std::size_t t = 0; t < scores.terms.size(); ++t)
          terms += fmt::format(" {} {:.4f}", model->loss_names()[t], scores.terms[t].mean().item<double>());
        fmt::print(stderr, "\repoch {}/{} [{}{}] loss {:.4f}{} | {:.1f} img/s | ETA {}   ", epoch + 1,
                   settings.epochs, std::string(filled, '#'), std::string(20 - filled, '.'),
                   loss, terms, rate, clock_text(std::max(0.0, remaining)));
      }
      if (g_interrupted) break;
    }
    if (g_interrupted) {
      // The unfinished epoch is redone on resume.
      save(epoch, nullptr);
      if (settings.progress) fmt::print(stderr, "\n");
      warn(fmt::format("interrupted in epoch {}: checkpoint written to {}; continue with --resume",
                       epoch + 1, checkpoint.string()));
      result.interrupted = true;
      result.epochs_done = epoch;
      return result;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    std::string row = fmt::format("{},{:.6g}", epoch + 1, sums[0] / n);
    for (std::size_t t = 1; t < sums.size(); ++t) row += fmt::format(",{:.6g}", sums[t] / n);
    row += fmt::format(",{:.2f},{:.3f}\n", n / seconds, seconds);
    std::ofstream(log, std::ios::app) << row;
    result.epochs_done = epoch + 1;
    result.last_loss = sums[0] / n;
    if (settings.checkpoint_every > 0 && (epoch + 1) % settings.checkpoint_every == 0 &&
        epoch + 1 < settings.epochs)
      save(epoch + 1, nullptr);
  }
  if (settings.progress) fmt::print(stderr, "\n");
  std::vector<torch::Tensor> map_maxima;
  Autocast amp(device, settings.precision);
  const ScoreTable train_scores =
      score_all(model, train_set.images, preprocess_settings, settings.batch_size, device,
                [&](int64_t, const BatchScores& scores) {
                  if (scores.map.defined()) map_maxima.push_back(scores.map.flatten(1).amax(1).cpu());
                });
  const nlohmann::json stats = score_statistics(train_scores.total);
  if (!map_maxima.empty()) meta["map_stats"] = map_statistics(torch::cat(map_maxima));
  save(result.epochs_done, &stats);
  return result;
}

}  // namespace piade
