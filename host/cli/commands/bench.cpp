// `piade bench`: the throughput of one pipeline configuration, as a user
// runs it: scoring (forward and every loss term, no autograd) and a training
// step (forward, backward, Adam), in images per second after warm-up over
// several timed batches (median and spread), with the peak memory, as JSON.
// benchmarks/eager/side_by_side.py runs it next to PyTorch eager.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#if PIADE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif
#include <torch/optim/adam.h>
#include <torch/utils.h>
#include <torch/version.h>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"
#include "piade/core/trainer.h"
#include "piade/datasets/limits.h"
#include "piade/sdk/version.h"

namespace piade {
namespace {

struct BenchSettings {
  int64_t image_size = 120;
  int64_t channels = 3;
  int64_t batch_size = 32;
  int64_t warmup = 1;
  int64_t repeats = 5;
  uint64_t seed = 0;
};

double peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
}

#if PIADE_WITH_CUDA
c10::DeviceIndex cuda_index(const torch::Device& device) {
  return device.has_index() ? device.index() : c10::cuda::current_device();
}
#endif

/// Starts a new peak of the device's allocator (CUDA only).
void reset_peak_device_memory(const torch::Device& device) {
#if PIADE_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(device));
#endif
}

/// The most memory the device's allocator held for tensors since the last
/// reset, in bytes; null where there is no device allocator (the CPU, whose
/// peak is the process's peak_host_memory_bytes).
nlohmann::json peak_device_memory(const torch::Device& device) {
#if PIADE_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
    return stats.allocated_bytes[0].peak;  // [0]: StatType::AGGREGATE, all pools
  }
#endif
  return nullptr;
}

// Times `step` (one batch) `repeats` times after `warmup` untimed calls.
nlohmann::json time_batches(const BenchSettings& settings, const torch::Device& device,
                            const std::function<void()>& step) {
  reset_peak_device_memory(device);
  for (int64_t i = 0; i < settings.warmup; ++i) step();
  synchronize(device);
  std::vector<double> seconds;
  for (int64_t i = 0; i < settings.repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    synchronize(device);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                          : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  const double batch = static_cast<double>(settings.batch_size);
  return {{"images_per_second", batch / median},
          {"images_per_second_min", batch / sorted.back()},
          {"images_per_second_max", batch / sorted.front()},
          {"seconds_per_batch_median", median},
          {"seconds_per_batch", seconds},
          {"warmup", settings.warmup},
          {"repeats", settings.repeats},
          {"peak_device_memory_bytes", peak_device_memory(device)}};
}

}  // namespace

po::options_description bench_own_options(const std::string& prefix) {
  const BenchSettings defaults;
  po::options_description options;
  options.add_options()
      ((prefix + "image-size").c_str(), po::value<int64_t>()->default_value(defaults.image_size)->value_name("N"),
       "input height and width")
      ((prefix + "channels").c_str(), po::value<int64_t>()->default_value(defaults.channels)->value_name("N"),
       "input channels (1 or 3)")
      ((prefix + "batch-size").c_str(), po::value<int64_t>()->default_value(defaults.batch_size)->value_name("N"),
       "images per batch")
      ((prefix + "warmup").c_str(), po::value<int64_t>()->default_value(defaults.warmup)->value_name("N"),
       "untimed batches first")
      ((prefix + "repeats").c_str(), po::value<int64_t>()->default_value(defaults.repeats)->value_name("N"),
       "timed batches (the median is reported)")
      ((prefix + "mode").c_str(), po::value<std::string>()->default_value("score,train")->value_name("MODE"),
       "score, train or score,train")
      ((prefix + "save-model").c_str(), po::value<std::string>()->value_name("FILE"),
       "also write the benchmarked model as safetensors (for Python)")
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("FILE"),
       "write the JSON here (default: standard output)");
  return options;
}

// Large enough for any throughput measurement on one device; a bigger
// batch only measures how memory runs out.
constexpr int64_t kMaxBenchBatch = 4096;

int commands::bench(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("bench"));
  if (!parsed) return 0;
  const CommandLine& command_line = *parsed;
  expect_no_positional(command_line);
  BenchSettings settings;
  settings.image_size = command_line.get<int64_t>("image-size");
  settings.channels = command_line.get<int64_t>("channels");
  settings.batch_size = command_line.get<int64_t>("batch-size");
  settings.warmup = command_line.get<int64_t>("warmup");
  settings.repeats = command_line.get<int64_t>("repeats");
  settings.seed = command_line.get<uint64_t>("seed");
  if (settings.image_size < 16) throw Error(fmt::format("--image-size: must be at least 16, got {}", settings.image_size));
  // The batch is made up, not read: nothing clamps it the way a training set
  // clamps train's --batch-size, so both are bounded here, before the
  // [N,C,S,S] batch is allocated (N*C*S*S could also overflow).
  if (settings.image_size > 16384)
    throw Error(fmt::format("--image-size: at most 16384 ({} pixels per image), got {}", kMaxImagePixels,
                            settings.image_size));
  if (settings.batch_size > kMaxBenchBatch)
    throw Error(fmt::format("--batch-size: at most {} for a benchmark, got {}", kMaxBenchBatch, settings.batch_size));
  if (settings.channels != 1 && settings.channels != 3)
    throw Error(fmt::format("--channels: must be 1 or 3, got {}", settings.channels));
  if (settings.batch_size < 2)
    throw Error(fmt::format("--batch-size: must be at least 2 (batch norm), got {}", settings.batch_size));
  if (settings.warmup < 0) throw Error("--warmup: must not be negative");
  if (settings.repeats < 1) throw Error(fmt::format("--repeats: must be at least 1, got {}", settings.repeats));
  const std::string mode = command_line.get<std::string>("mode");
  const bool run_score = mode == "score" || mode == "score,train";
  const bool run_train = mode == "train" || mode == "score,train";
  if (!run_score && !run_train)
    throw Error(fmt::format("--mode: '{}' is not score, train or score,train", mode));
  apply_threads(command_line);
  const torch::Device device = parse_device(command_line.get<std::string>("device"));
  const Precision precision = parse_precision(command_line.get<std::string>("amp"));

  const PluginRegistry registry = load_plugins(command_line);
  const PipelineConfig pipeline = resolve_pipeline(registry, command_line, warn);
  const ImageShape image{settings.channels, settings.image_size, settings.image_size};
  torch::manual_seed(settings.seed);
  PiadeModel model(registry, pipeline, image);
  model->to(device);
  const nlohmann::json meta = {
      {"format", "piade-checkpoint-1"},
      {"pipeline", pipeline_to_json(pipeline, model.get())},
      {"image", {{"channels", image.channels}, {"height", image.height}, {"width", image.width}}},
      {"preprocess", {{"image_size", settings.image_size}, {"channels", settings.channels}, {"resize", 0},
                      {"range", "[-1,1]"}}}};
  if (command_line.values.count("save-model"))
    save_model_safetensors(command_line.get<std::string>("save-model"), model, meta);
  const torch::Tensor images =
      (torch::rand({settings.batch_size, image.channels, image.height, image.width}) * 2 - 1).to(device);

  nlohmann::json report = {
      {"format", "piade-bench-1"},
      {"implementation", "piade"},
      {"piade_version", PIADE_SDK_VERSION},
      {"torch_version", TORCH_VERSION},
      {"device", device.str()},
      {"precision", precision_name(precision)},
      {"threads", torch::get_num_threads()},
      {"cpu", cpu_model()},
      {"cores", std::thread::hardware_concurrency()},
      {"batch_size", settings.batch_size},
      {"image", meta["image"]},
      {"pipeline", meta["pipeline"]}};
  if (run_score) {
    model->eval();
    // Scoring needs no autograd record at all (InferenceMode is cheaper than NoGradGuard).
    report["score"] = time_batches(settings, device, [&] {
      torch::InferenceMode inference;
      Autocast amp(device, precision);
      model->score(images).total.sum().item<double>();
    });
  }
  if (run_train) {
    model->train();
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3).weight_decay(1e-4));
    report["train_step"] = time_batches(settings, device, [&] {
      train_step(model, optimizer, images, precision).total.sum().item<double>();
    });
  }
  report["peak_host_memory_bytes"] = peak_rss_bytes();

  const std::string text = report.dump(2) + "\n";
  if (command_line.values.count("out")) {
    write_file_atomic(command_line.get<std::string>("out"), text);
  } else {
    std::cout << text;
  }
  for (const char* part : {"score", "train_step"})
    if (report.contains(part))
      spdlog::info("{}: {:.2f} img/s (median of {}; {:.2f} to {:.2f})", part,
                 report[part]["images_per_second"].get<double>(), settings.repeats,
                 report[part]["images_per_second_min"].get<double>(),
                 report[part]["images_per_second_max"].get<double>());
  return 0;
}

}  // namespace piade
