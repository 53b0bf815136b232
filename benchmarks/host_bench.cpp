// What the host adds around the plugins: discovering and validating the
// plugin directory, resolving parameters, and one scoring / training step of
// the assembled pipeline (forward + every loss term), per image size.
//   build/bin/piade_bench --benchmark_filter=Score
#include <thread>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "piade/eval/metrics.h"
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"
#include "piade/core/plugin_registry.h"

namespace {

void ignore(const std::string&) {}

piade::PipelineConfig paper_pipeline(const piade::PluginRegistry& registry) {
  return piade::resolve_pipeline(registry, piade::PipelineSelection(), ignore);
}

void BM_ScanPluginDirectory(benchmark::State& state) {
  for (auto _ : state) {
    piade::PluginRegistry registry;
    registry.scan({PIADE_BUILD_PLUGIN_DIR});
    benchmark::DoNotOptimize(registry.plugins().size());
  }
}
BENCHMARK(BM_ScanPluginDirectory)->Unit(benchmark::kMillisecond);

void BM_ResolvePipeline(benchmark::State& state) {
  piade::PluginRegistry registry;
  registry.scan({PIADE_BUILD_PLUGIN_DIR});
  for (auto _ : state) benchmark::DoNotOptimize(paper_pipeline(registry).losses.size());
}
BENCHMARK(BM_ResolvePipeline)->Unit(benchmark::kMicrosecond);

// Args: image size, channels, batch. Images per second as a counter.
void BM_Score(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  piade::PluginRegistry registry;
  registry.scan({PIADE_BUILD_PLUGIN_DIR});
  const int64_t size = state.range(0), channels = state.range(1), batch = state.range(2);
  piade::PiadeModel model(registry, paper_pipeline(registry), piade::ImageShape{channels, size, size}, true);
  model->eval();
  torch::InferenceMode inference;
  torch::Tensor images = torch::rand({batch, channels, size, size}) * 2 - 1;
  for (auto _ : state) benchmark::DoNotOptimize(model->score(images).total.sum().item<float>());
  state.counters["images/s"] = benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Score)->Args({28, 1, 32})->Args({120, 3, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TrainStep(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  piade::PluginRegistry registry;
  registry.scan({PIADE_BUILD_PLUGIN_DIR});
  const int64_t size = state.range(0), channels = state.range(1), batch = state.range(2);
  piade::PiadeModel model(registry, paper_pipeline(registry), piade::ImageShape{channels, size, size}, true);
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3).weight_decay(1e-4));
  torch::Tensor images = torch::rand({batch, channels, size, size}) * 2 - 1;
  for (auto _ : state) {
    torch::Tensor loss = model->score(images).total.mean();
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  state.counters["images/s"] = benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainStep)->Args({28, 1, 32})->Args({120, 3, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

// Pixel AUROC + PRO over N maps of 500x500 (an MVTec category's test set at
// full resolution is ~100 maps of 1024x1024 on the original images).
void BM_PixelMetrics(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::manual_seed(0);
  torch::Tensor masks = torch::zeros({n, 500, 500}, torch::kUInt8);
  masks.slice(1, 100, 180).slice(2, 200, 260).fill_(1);
  torch::Tensor maps = torch::rand({n, 500, 500}) + 0.4 * masks.to(torch::kFloat);
  for (auto _ : state) benchmark::DoNotOptimize(piade::pixel_metrics(maps, masks).pro_auc);
  state.counters["pixels/s"] = benchmark::Counter(double(maps.numel()) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PixelMetrics)->Arg(12)->Unit(benchmark::kMillisecond);

}  // namespace
