// `piade train`: builds the pipeline from plugins and trains it on the
// normal images of a dataset, leaving a self-describing checkpoint in --out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include "cli/cli.h"
#include "cli/data_options.h"
#include "cli/logging.h"
#include "cli/run_dir.h"
#include "piade/core/checkpoint.h"
#include "piade/core/distributed.h"
#include "piade/core/trainer.h"
#include "piade/sdk/batch_norm.h"

namespace piade {

namespace {

// "loss 0.1234 (mse 0.0100, ssim 0.1134)".
std::string losses_text(double loss, const std::vector<std::pair<std::string, double>>& terms) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : terms) parts.push_back(fmt::format("{} {:.4f}", name, value));
  return fmt::format("loss {:.4f} ({})", loss, fmt::join(parts, ", "));
}

// Whether the run in `checkpoint` has nothing left to do for `settings`.
bool finished(const nlohmann::json& meta, const TrainSettings& settings) {
  const nlohmann::json training = meta.value("training", nlohmann::json::object());
  if (training.value("stopped_early", false)) return true;
  return meta.contains("score_stats") && training.value("epochs_done", int64_t{0}) >= settings.epochs;
}

// Set in the workers that `--nproc` starts, so that they do not start
// workers of their own (--nproc may also come from a --config file).
constexpr const char* kWorkerVariable = "PIADE_NPROC_WORKER";

// The worker processes of `--nproc`, for the signal handler that passes
// SIGINT, SIGTERM and SIGHUP on to them.
constexpr int kMaxLocalWorkers = 256;
pid_t g_workers[kMaxLocalWorkers];
std::atomic<int> g_worker_count{0};

// Set when the launcher passed on a stop signal: a worker that it ended
// (one still loading or in the rendezvous, before the trainer handles
// interrupts) was interrupted, not failed.
volatile sig_atomic_t g_stop_forwarded = 0;

extern "C" void forward_to_workers(int signal) {
  if (signal != SIGKILL) g_stop_forwarded = 1;
  for (int i = 0; i < g_worker_count; ++i)
    if (g_workers[i] > 0) ::kill(g_workers[i], signal);
}

// A TCP port that is free on the loopback now (the kernel's pick for port 0).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(fmt::format("--nproc: cannot open a socket for the rendezvous: {}", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) throw Error(fmt::format("--nproc: cannot find a free port for the rendezvous: {}", std::strerror(error)));
  return ntohs(address.sin_port);
}

// This process's command line, to start the same command in each worker.
std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> words;
  std::string word;
  while (std::getline(in, word, '\0')) words.push_back(word);
  if (words.empty()) throw Error("--nproc: cannot read this process's command line from /proc/self/cmdline");
  return words;
}

std::string exit_text(int status) {
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

// `piade train --nproc N`: N workers of this same command on this host, as
// torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT). Passes SIGINT, SIGTERM and SIGHUP on; when a worker fails,
// gives the others `grace` to stop on their own (they fail within
// --dist-timeout when a peer is gone), then kills them, and reports the
// first worker that failed. Returns 0, or 130 when every worker stopped on
// an interrupt.
int run_local_workers(int nproc, std::chrono::seconds grace) {
  const int port = free_loopback_port();
  const std::vector<std::string> words = own_command_line();
  std::vector<char*> argv;
  for (const std::string& word : words) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> environment;
  const pid_t parent = ::getpid();

  struct sigaction forward {};
  forward.sa_handler = forward_to_workers;
  struct sigaction old[3] {};
  const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; ++i) sigaction(signals[i], &forward, &old[i]);
  // Blocked while the workers start, as compare blocks them around its
  // spawns: a signal then waits until every worker is recorded (and so is
  // passed to all of them), and never runs the inherited handler in a
  // worker before exec, where it would be lost.
  sigset_t stop_signals, launcher_mask;
  sigemptyset(&stop_signals);
  for (int signal : signals) sigaddset(&stop_signals, signal);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, &launcher_mask);
  g_worker_count = 0;
  g_stop_forwarded = 0;
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      // As compare's runs (benchmarks/compare/src/runner.cpp): a terminal's
      // Ctrl-C reaches a worker only through us, and a worker never
      // outlives a launcher killed with SIGKILL.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(128 + SIGKILL);
      for (int signal : signals) ::signal(signal, SIG_DFL);
      ::sigprocmask(SIG_SETMASK, &launcher_mask, nullptr);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv(kWorkerVariable, "1", 1);
      ::execv("/proc/self/exe", argv.data());
      const char message[] = "piade train: --nproc: cannot start a worker process\n";
      [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message, sizeof message - 1);
      ::_exit(127);
    }
    if (pid < 0) {
      const int error = errno;
      forward_to_workers(SIGKILL);
      while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
      }
      g_worker_count = 0;
      ::pthread_sigmask(SIG_SETMASK, &launcher_mask, nullptr);
      for (int i = 0; i < 3; ++i) sigaction(signals[i], &old[i], nullptr);
      throw Error(fmt::format("--nproc: cannot start worker {}: {}", rank, std::strerror(error)));
    }
    g_workers[rank] = pid;
    g_worker_count = rank + 1;
  }
  ::pthread_sigmask(SIG_SETMASK, &launcher_mask, nullptr);

  int running = nproc;
  int first_failed = -1, first_status = 0;
  bool interrupted = false;
  std::chrono::steady_clock::time_point deadline{};
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, first_failed >= 0 ? WNOHANG : 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pid == 0) {
      if (std::chrono::steady_clock::now() >= deadline) forward_to_workers(SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int rank = 0;
    while (rank < nproc && g_workers[rank] != pid) ++rank;
    if (rank == nproc) continue;
    g_workers[rank] = 0;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const bool ended_by_forwarded_stop =
        g_stop_forwarded && WIFSIGNALED(status) &&
        (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGHUP);
    if ((WIFEXITED(status) && WEXITSTATUS(status) == 130) || ended_by_forwarded_stop) {
      interrupted = true;
    } else if (!ok && first_failed < 0) {
      first_failed = rank;
      first_status = status;
      deadline = std::chrono::steady_clock::now() + grace;
    }
  }
  g_worker_count = 0;
  for (int i = 0; i < 3; ++i) sigaction(signals[i], &old[i], nullptr);
  if (first_failed >= 0)
    throw Error(fmt::format("rank {} of {} {}; the other ranks were stopped (see their messages above)", first_failed,
                            nproc, exit_text(first_status)));
  return interrupted ? 130 : 0;
}

// Whether any of the model's modules is an SDK batch norm, which --sync-bn
// synchronises (plugins with torch::nn::BatchNorm keep per-rank statistics).
bool has_sync_batch_norm(PiadeModel& model) {
  for (const auto& module : model->modules())
    if (dynamic_cast<sdk::BatchNorm1dImpl*>(module.get()) || dynamic_cast<sdk::BatchNorm2dImpl*>(module.get()))
      return true;
  return false;
}

// Uninstalls the batch-norm sync when training ends, also by an exception.
struct BatchNormSyncGuard {
  ~BatchNormSyncGuard() { sdk::set_batch_norm_sync({}); }
};

// The command after the process group is up (`group` null for one process).
int train_process(const CommandLine& command_line, TrainSettings settings, const torch::Device& device,
                  ProcessGroup* group);

}  // namespace

po::options_description train_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("DIR"),
       "output directory: checkpoint.pt, train_log.csv (required)")
      ((prefix + "resume").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "continue the run in --out (a finished run is left as it is)")
      ((prefix + "overwrite").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "replace the run in --out: its checkpoint, log and evaluations are removed first")
      ((prefix + "nproc").c_str(), po::value<int>()->default_value(1)->value_name("N"),
       "data-parallel training in N local processes (Gloo on the CPU, NCCL on CUDA builds); --batch-size and "
       "--threads are per process. Under torchrun or srun, RANK/WORLD_SIZE or SLURM_PROCID/SLURM_NTASKS say it "
       "instead (docs/scale-out.md)")
      ((prefix + "dist-timeout").c_str(), po::value<int>()->default_value(90)->value_name("S"),
       "data-parallel: seconds a process waits for the others (at the start and in each step) before it stops "
       "with an error naming its rank")
      ((prefix + "sync-bn").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "data-parallel: batch-norm statistics of the whole global batch rather than of each process's share");
  return options;
}

TrainSettings train_settings(const CommandLine& command_line) {
  TrainSettings settings;
  settings.epochs = command_line.get<int64_t>("epochs");
  settings.batch_size = command_line.get<int64_t>("batch-size");
  settings.lr = command_line.get<double>("lr");
  settings.weight_decay = command_line.get<double>("weight-decay");
  settings.seed = command_line.get<uint64_t>("seed");
  settings.checkpoint_every = command_line.get<int64_t>("checkpoint-every");
  settings.val_fraction = command_line.get<double>("val-fraction");
  settings.early_stop = command_line.get<int64_t>("early-stop");
  settings.precision = parse_precision(command_line.get<std::string>("amp"));
  if (settings.epochs < 1) throw Error(fmt::format("--epochs: must be at least 1, got {}", settings.epochs));
  if (settings.batch_size < 2)
    throw Error(fmt::format("--batch-size: must be at least 2 (batch norm), got {}", settings.batch_size));
  if (!(settings.lr > 0)) throw Error(fmt::format("--lr: must be positive, got {}", settings.lr));
  if (!(settings.weight_decay >= 0)) throw Error("--weight-decay: must not be negative");
  if (settings.checkpoint_every < 0)
    throw Error(fmt::format("--checkpoint-every: must not be negative, got {}", settings.checkpoint_every));
  if (!(settings.val_fraction >= 0 && settings.val_fraction <= 0.5))
    throw Error(fmt::format("--val-fraction: must be in [0, 0.5], got {}", settings.val_fraction));
  if (settings.early_stop < 0)
    throw Error(fmt::format("--early-stop: must not be negative, got {}", settings.early_stop));
  return settings;
}

int commands::train(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("train"));
  if (!parsed) return 0;
  CommandLine& command_line = *parsed;
  expect_no_positional(command_line);
  if (!command_line.values.count("out")) throw Error("--out DIR is required");
  apply_threads(command_line);
  torch::Device device = parse_device(command_line.get<std::string>("device"));
  TrainSettings settings = train_settings(command_line);
  settings.sync_bn = command_line.get<bool>("sync-bn");
  const int nproc = command_line.get<int>("nproc");
  const int dist_timeout = command_line.get<int>("dist-timeout");
  if (nproc < 1 || nproc > kMaxLocalWorkers)
    throw Error(fmt::format("--nproc: must be in [1, {}], got {}", kMaxLocalWorkers, nproc));
  if (dist_timeout < 1 || dist_timeout > 86400)
    throw Error(fmt::format("--dist-timeout: must be in [1, 86400] seconds, got {}", dist_timeout));
  const bool worker = std::getenv(kWorkerVariable) != nullptr;
  const std::optional<Rendezvous> rendezvous = rendezvous_from_environment(process_environment());
  if (nproc > 1 && !worker) {
    if (std::getenv("RANK") || std::getenv("WORLD_SIZE") || rendezvous)
      throw Error(fmt::format("--nproc: this process is already one rank of a data-parallel run ({}); drop --nproc "
                              "or start piade without torchrun/srun",
                              rendezvous ? fmt::format("rank {} of {}", rendezvous->rank, rendezvous->world_size)
                                         : std::string("RANK or WORLD_SIZE is set")));
    if (device.is_cuda() && device.has_index())
      throw Error(fmt::format("--device {}: with --nproc each process takes cuda:LOCAL_RANK; use --device cuda",
                              device.str()));
    // The workers check the rest (the dataset, --out) themselves; a grace of
    // --dist-timeout lets them report a lost peer before they are killed.
    return run_local_workers(nproc, std::chrono::seconds(dist_timeout + 10));
  }
  if (settings.sync_bn && !rendezvous)
    warn("--sync-bn: a single process; its batch-norm statistics are those of the whole batch already");
  // One GPU per process on a node: cuda:LOCAL_RANK.
  if (rendezvous && device.is_cuda() && !device.has_index())
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(rendezvous->local_rank));
  std::unique_ptr<ProcessGroup> group;
  if (rendezvous) {
    // The other ranks report nothing but errors; rank 0 speaks for the run.
    if (rendezvous->rank != 0) spdlog::default_logger()->set_level(spdlog::level::err);
    group = std::make_unique<ProcessGroup>(*rendezvous, device, std::chrono::seconds(dist_timeout));
  }
  try {
    return train_process(command_line, settings, device, group.get());
  } catch (const Error& e) {
    // Every message of a rank names it, unless it does already.
    const std::string message = e.what();
    if (!group || message.rfind("rank ", 0) == 0) throw;
    throw Error(group->name() + ": " + message);
  }
}

namespace {
int train_process(const CommandLine& command_line, TrainSettings settings, const torch::Device& device,
                  ProcessGroup* group) {
  const bool writer = !group || group->rank() == 0;
  const PluginRegistry registry = load_plugins(command_line);
  const PipelineConfig pipeline = resolve_pipeline(registry, command_line, warn);

  const std::filesystem::path out = command_line.get<std::string>("out");
  const bool resume = command_line.get<bool>("resume");
  if (resume && std::filesystem::exists(out / "checkpoint.pt")) {
    const nlohmann::json saved = read_checkpoint_meta(out / "checkpoint.pt");
    if (finished(saved, settings)) {
      spdlog::info("{} is a finished run ({}); nothing to do", (out / "checkpoint.pt").string(),
                   count_of(saved["training"].value("epochs_done", int64_t{0}), "epoch"));
      return 0;
    }
  }
  // Rank 0 alone prepares --out; the others wait until it has (a barrier,
  // which fails when rank 0 refused the directory and stopped).
  if (writer) {
    const std::size_t removed =
        prepare_out_dir(out, RunKind::train, command_line.get<bool>("overwrite"), resume);
    if (command_line.get<bool>("overwrite") && removed > 0)
      spdlog::info("--overwrite: removed the earlier run's {} in {}", count_of(int64_t(removed), "output"),
                   out.string());
  }
  if (group) group->barrier();

  const OneClassSplit data = load_dataset(command_line, settings.seed);
  // A batch larger than the training set is the whole set; clamped here so
  // that no step count or index is computed from an absurd size.
  const int64_t world = group ? group->world_size() : 1;
  if (data.train.size() < 2 * world && world > 1)
    throw Error(fmt::format("{} processes need at least {} training images (two each for batch norm), got {}", world,
                            2 * world, data.train.size()));
  if (settings.batch_size > data.train.size() / world && data.train.size() >= 2) {
    if (world == 1)
      spdlog::info("--batch-size: {} is more than the {}; using {}", settings.batch_size,
                   count_of(data.train.size(), "training image"), data.train.size());
    else
      spdlog::info("--batch-size: {} per process is more than the {} shared by {} processes; using {}",
                   settings.batch_size, count_of(data.train.size(), "training image"), world,
                   data.train.size() / world);
    settings.batch_size = data.train.size() / world;
  }
  Preprocess preprocess_config = preprocess_settings(command_line);
  // The decoded geometry, from one image (a streamed set holds none decoded).
  const torch::Tensor sample = data.train.images_at({0});
  if (preprocess_config.channels == 0) preprocess_config.channels = sample.size(1);
  if (preprocess_config.image_size == 0) {
    if (sample.size(2) != sample.size(3))
      throw Error("--image-size: the dataset's images are not square; give a size");
    preprocess_config.image_size = sample.size(2);
  }
  const ImageShape image{preprocess_config.channels, preprocess_config.image_size, preprocess_config.image_size};

  // One seed fixes the initial weights (plugins initialise in their
  // constructors) as well as the data order.
  torch::manual_seed(settings.seed);
  PiadeModel model(registry, pipeline, image, /*restoring=*/resume);

  nlohmann::json meta = {
      {"format", "piade-checkpoint-1"},
      {"pipeline", pipeline_to_json(pipeline, model.get())},
      {"image", {{"channels", image.channels}, {"height", image.height}, {"width", image.width}}},
      {"preprocess", {{"image_size", preprocess_config.image_size}, {"channels", preprocess_config.channels},
                      {"resize", preprocess_config.resize}, {"range", "[-1,1]"}}},
      {"dataset", dataset_to_json(command_line, data)},
      {"config", stored_configuration(command_line, pipeline)}};
  spdlog::info("training on {} of {}x{}x{} for {} on {}{}", count_of(data.train.size(), "normal image"),
               image.channels, image.height, image.width, count_of(settings.epochs, "epoch"), device.str(),
               group ? fmt::format(" in {} processes (global batch {})", world, settings.batch_size * world) : "");
  BatchNormSyncGuard sync_guard;
  if (group && settings.sync_bn) {
    if (!has_sync_batch_norm(model))
      warn("--sync-bn: no part of this pipeline uses piade::sdk::BatchNorm; batch-norm statistics stay per process");
    sdk::set_batch_norm_sync([group](torch::Tensor& tensor) { group->all_reduce_sum(tensor); });
  }

  // A bar for the running epoch on a terminal; a line per epoch always.
  std::unique_ptr<Progress> bar;
  const bool show_bar = command_line.get<bool>("progress");
  TrainObserver observer;
  observer.on_step = [&](const StepProgress& step) {
    if (!show_bar || !stderr_is_terminal()) return;
    if (step.batch == 1)
      bar = std::make_unique<Progress>(fmt::format("epoch {}/{}", step.epoch, step.epochs), step.batches, "steps",
                                       true);
    bar->update(step.batch, fmt::format("| {} | {:.1f} img/s", losses_text(step.loss, step.terms),
                                        step.images_per_second));
  };
  observer.on_epoch = [&](const EpochRecord& epoch) {
    if (bar) bar->finish();
    spdlog::info("epoch {}/{}: {}{} | {:.1f} img/s | {} | ETA {}{}", epoch.epoch, epoch.epochs,
                 losses_text(epoch.loss, epoch.terms),
                 epoch.val_loss ? fmt::format(", val_loss {:.4f}", *epoch.val_loss) : "", epoch.images_per_second,
                 clock_text(epoch.seconds), clock_text(epoch.eta_seconds),
                 settings.early_stop > 0 && !epoch.improved
                     ? fmt::format(" | best epoch {}", epoch.best_epoch)
                     : "");
  };
  const TrainResult result = train(model, data.train, preprocess_config, settings, device, out, meta, resume,
                                   observer, group);
  if (!writer) return result.interrupted ? 130 : 0;
  bar.reset();
  const std::string checkpoint = (out / "checkpoint.pt").string();
  if (result.already_finished) {
    spdlog::info("{} is a finished run; nothing to do", checkpoint);
    return 0;
  }
  if (result.stopped_early)
    spdlog::info("stopped early after epoch {}: no improvement of the {} for {}; kept epoch {} ({:.6g}) as the "
                 "checkpoint",
                 result.epochs_done, settings.val_fraction > 0 ? "validation loss" : "training loss",
                 count_of(settings.early_stop, "epoch"), result.best_epoch, result.best_loss.value_or(0.0));
  fmt::print("{} after {}: {}\n", result.interrupted ? "interrupted" : "trained", count_of(result.epochs_done, "epoch"),
             checkpoint);
  return result.interrupted ? 130 : 0;
}

}  // namespace

}  // namespace piade
