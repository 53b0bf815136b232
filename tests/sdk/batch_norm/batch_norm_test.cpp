// piade::sdk::BatchNorm1d/2d (sdk/batch_norm.h).
//
// Synchronised: two real ranks (sdk_sync_bn_worker: TCPStore +
// ProcessGroupGloo on 127.0.0.1) each train on their share of a batch and
// must match one process running torch::nn::BatchNorm on the whole batch.
// Conventions, as the host's data-parallel trainer: each rank's loss is the
// mean over its own share and gradients are averaged over the ranks, so the
// averaged weight and bias gradients equal one process's gradients of the
// mean loss over the global batch, and each rank's input gradient is W times
// the single-process one (dL_rank/dx is d(sum of the W rank losses)/dx).
// Tolerance: fp32 results within 1e-5 of the largest reference value
// (different summation orders); bf16 outputs within 1e-2 (bf16 has 8 bits).
//
// Not synchronised (no sync, or eval mode): bit for bit torch's module.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "piade/sdk/batch_norm.h"

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

extern char** environ;

namespace piade::sdk {
namespace {

namespace fs = std::filesystem;

constexpr int kWorld = 2;
constexpr int64_t kSteps = 3;

// Largest |a - b| over the largest |b|: the error relative to the tensor's
// scale (gradients of a mean loss are small, so no absolute floor of 1).
double difference(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = std::max(1e-12, b.abs().max().item<double>());
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() / scale;
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && torch::equal(a, b);
}

// Starts the worker of `rank`, its stdout and stderr into `log`.
pid_t start_worker(int rank, const fs::path& dir, const fs::path& log) {
  std::vector<std::string> argv = {PIADE_SYNC_BN_WORKER,        std::to_string(rank),
                                   std::to_string(kWorld),      (dir / "port").string(),
                                   (dir / "inputs.pt").string(), (dir / ("rank" + std::to_string(rank) + ".pt")).string()};
  return test::spawn_program(std::move(argv), log);
}

// Waits for every pid up to `limit`, then kills what is left (a rank that
// waits for a dead partner must not hang the test); their exit statuses,
// 128 + signal when killed.
std::vector<int> wait_all(const std::vector<pid_t>& pids, std::chrono::seconds limit) {
  std::vector<int> status(pids.size(), -1);
  std::vector<bool> done(pids.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (std::size_t left = pids.size(); left > 0;) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int raw = 0;
      if (waitpid(pids[i], &raw, WNOHANG) == pids[i]) {
        status[i] = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
        done[i] = true;
        --left;
      }
    }
    if (left > 0 && std::chrono::steady_clock::now() >= deadline) {
      for (std::size_t i = 0; i < pids.size(); ++i)
        if (!done[i]) kill(pids[i], SIGKILL);
      limit = std::chrono::seconds(0);
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

// The global batches of each case and, after the two ranks ran, what each
// rank saved; shared by the tests (one run of the workers, about a second).
class SyncedBatchNorm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = std::make_unique<test::ScratchDir>();
    torch::manual_seed(17);
    torch::serialize::OutputArchive inputs;
    auto add_case = [&](const std::string& name, std::vector<int64_t> shape, int64_t channels) {
      std::vector<torch::Tensor> x, g;
      std::vector<int64_t> per_channel(shape.size(), 1);
      per_channel[1] = channels;
      // Channels with different means and spreads, as activations have.
      const torch::Tensor offset = torch::arange(channels, torch::kFloat).view(per_channel);
      for (int64_t step = 0; step < kSteps; ++step) {
        x.push_back(torch::randn(shape) * (offset + 1) + offset);
        g.push_back(torch::randn(shape));
        inputs.write(name + ".x" + std::to_string(step), x.back());
        inputs.write(name + ".g" + std::to_string(step), g.back());
      }
      const torch::Tensor weight = torch::rand({channels}) + 0.5, bias = torch::randn({channels});
      inputs.write(name + ".weight", weight);
      inputs.write(name + ".bias", bias);
      inputs.write(name + ".steps", torch::tensor(kSteps));
      cases_[name] = {x, g, weight, bias};
    };
    add_case("bn2d", {8, 3, 5, 5}, 3);
    add_case("bn1d", {8, 4}, 4);
    inputs.write("bn1d.split", torch::tensor(int64_t{3}));  // rank 0 has 3 rows, rank 1 has 5
    // The bn2d batches again, rounded to bf16 (the worker feeds them as bf16).
    {
      Case bf16 = cases_["bn2d"];
      for (int64_t step = 0; step < kSteps; ++step) {
        bf16.x[static_cast<std::size_t>(step)] = bf16.x[static_cast<std::size_t>(step)].to(torch::kBFloat16).to(torch::kFloat);
        inputs.write("bf16.x" + std::to_string(step), bf16.x[static_cast<std::size_t>(step)]);
        inputs.write("bf16.g" + std::to_string(step), bf16.g[static_cast<std::size_t>(step)]);
      }
      inputs.write("bf16.weight", bf16.weight);
      inputs.write("bf16.bias", bf16.bias);
      inputs.write("bf16.steps", torch::tensor(kSteps));
      cases_["bf16"] = bf16;
    }
    inputs.save_to((*scratch_ / "inputs.pt").string());

    std::vector<pid_t> pids;
    for (int rank = 0; rank < kWorld; ++rank)
      pids.push_back(start_worker(rank, scratch_->path(), *scratch_ / ("rank" + std::to_string(rank) + ".log")));
    const std::vector<int> status = wait_all(pids, std::chrono::seconds(60));
    for (int rank = 0; rank < kWorld; ++rank) {
      const std::string log = test::read_text(*scratch_ / ("rank" + std::to_string(rank) + ".log"));
      if (pids[static_cast<std::size_t>(rank)] < 0 || status[static_cast<std::size_t>(rank)] != 0) {
        failure_ += "rank " + std::to_string(rank) + " exited with " +
                    std::to_string(status[static_cast<std::size_t>(rank)]) + ": " + log + "\n";
        continue;
      }
      results_.emplace_back();
      results_.back().load_from((*scratch_ / ("rank" + std::to_string(rank) + ".pt")).string());
    }
  }
  static void TearDownTestSuite() {
    results_.clear();
    scratch_.reset();
  }

  void SetUp() override { ASSERT_TRUE(failure_.empty()) << failure_; }

  static torch::Tensor saved(int rank, const std::string& name) {
    torch::Tensor tensor;
    results_[static_cast<std::size_t>(rank)].read(name, tensor);
    return tensor;
  }
  // The ranks' tensors `name` one after another along dim 0.
  static torch::Tensor joined(const std::string& name) { return torch::cat({saved(0, name), saved(1, name)}); }
  static torch::Tensor summed(const std::string& name) { return saved(0, name) + saved(1, name); }

  struct Case {
    std::vector<torch::Tensor> x, g;
    torch::Tensor weight, bias;
  };
  // torch's own module on the whole batch of `name`; `shares` are the rows
  // of the ranks, and the loss is the mean (or sum) of y^2 * g over each
  // share, averaged (or summed) over the shares.
  template <typename TorchModule>
  struct Reference {
    std::vector<torch::Tensor> y, dx, dweight, dbias;
    TorchModule bn{nullptr};
  };
  template <typename TorchModule>
  static Reference<TorchModule> reference(const std::string& name, TorchModule bn, bool mean_over_ranks) {
    const Case& c = cases_.at(name);
    Reference<TorchModule> out;
    {
      torch::NoGradGuard no_grad;
      bn->weight.copy_(c.weight);
      bn->bias.copy_(c.bias);
    }
    for (int64_t step = 0; step < kSteps; ++step) {
      torch::Tensor x = c.x[static_cast<std::size_t>(step)].clone().requires_grad_();
      const torch::Tensor y = bn->forward(x);
      const torch::Tensor per_value = y.pow(2) * c.g[static_cast<std::size_t>(step)];
      // Equal shares: the mean over the shares of their means is the mean.
      (mean_over_ranks ? per_value.mean() : per_value.sum()).backward();
      out.y.push_back(y.detach());
      out.dx.push_back(x.grad());
      out.dweight.push_back(bn->weight.grad().clone());
      out.dbias.push_back(bn->bias.grad().clone());
      bn->zero_grad();
    }
    out.bn = bn;
    return out;
  }

  static std::unique_ptr<test::ScratchDir> scratch_;
  static std::map<std::string, Case> cases_;
  static std::vector<torch::serialize::InputArchive> results_;
  static std::string failure_;
};

std::unique_ptr<test::ScratchDir> SyncedBatchNorm::scratch_;
std::map<std::string, SyncedBatchNorm::Case> SyncedBatchNorm::cases_;
std::vector<torch::serialize::InputArchive> SyncedBatchNorm::results_;
std::string SyncedBatchNorm::failure_;

constexpr double kTolerance = 1e-5;

TEST_F(SyncedBatchNorm, TwoGlooRanksWithHalfTheBatchEachMatchOneProcessWithTheWholeBatch2d) {
  const auto ref = reference("bn2d", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(3).momentum(0.1)), true);
  for (int64_t step = 0; step < kSteps; ++step) {
    const std::string s = std::to_string(step);
    const auto i = static_cast<std::size_t>(step);
    EXPECT_LE(difference(joined("bn2d.y" + s), ref.y[i]), kTolerance) << "step " << s;
    // Each rank's loss is the mean over its half: its input gradient is that
    // of the sum of both ranks' losses, W times the mean loss's.
    EXPECT_LE(difference(joined("bn2d.dx" + s) / kWorld, ref.dx[i]), kTolerance) << "step " << s;
    // The host averages gradients over the ranks.
    EXPECT_LE(difference(summed("bn2d.dweight" + s) / kWorld, ref.dweight[i]), kTolerance) << "step " << s;
    EXPECT_LE(difference(summed("bn2d.dbias" + s) / kWorld, ref.dbias[i]), kTolerance) << "step " << s;
    // Not trivially equal: each rank's share of the weight gradient differs.
    EXPECT_GT(difference(saved(0, "bn2d.dweight" + s), saved(1, "bn2d.dweight" + s)), 1e-3);
  }
  for (int rank = 0; rank < kWorld; ++rank) {
    EXPECT_LE(difference(saved(rank, "bn2d.running_mean"), ref.bn->running_mean), kTolerance);
    EXPECT_LE(difference(saved(rank, "bn2d.running_var"), ref.bn->running_var), kTolerance);
    EXPECT_EQ(saved(rank, "bn2d.num_batches_tracked").item<int64_t>(), kSteps);
  }
  // Both ranks hold the same running statistics, bit for bit.
  EXPECT_TRUE(bitwise_equal(saved(0, "bn2d.running_mean"), saved(1, "bn2d.running_mean")));
  EXPECT_TRUE(bitwise_equal(saved(0, "bn2d.running_var"), saved(1, "bn2d.running_var")));
}

TEST_F(SyncedBatchNorm, UnequalSharesAndCumulativeMomentumMatchOneProcess1d) {
  // Rank 0 has 3 rows, rank 1 has 5; losses are sums, so the ranks'
  // gradients add up to the single process's gradient of the sum.
  const auto ref = reference("bn1d", torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(4).momentum(c10::nullopt)), false);
  ASSERT_EQ(saved(0, "bn1d.y0").size(0), 3);
  for (int64_t step = 0; step < kSteps; ++step) {
    const std::string s = std::to_string(step);
    const auto i = static_cast<std::size_t>(step);
    EXPECT_LE(difference(joined("bn1d.y" + s), ref.y[i]), kTolerance) << "step " << s;
    EXPECT_LE(difference(joined("bn1d.dx" + s), ref.dx[i]), kTolerance) << "step " << s;
    EXPECT_LE(difference(summed("bn1d.dweight" + s), ref.dweight[i]), kTolerance) << "step " << s;
    EXPECT_LE(difference(summed("bn1d.dbias" + s), ref.dbias[i]), kTolerance) << "step " << s;
  }
  for (int rank = 0; rank < kWorld; ++rank) {
    // momentum None: the running statistics are the average over the steps.
    EXPECT_LE(difference(saved(rank, "bn1d.running_mean"), ref.bn->running_mean), kTolerance);
    EXPECT_LE(difference(saved(rank, "bn1d.running_var"), ref.bn->running_var), kTolerance);
    EXPECT_EQ(saved(rank, "bn1d.num_batches_tracked").item<int64_t>(), kSteps);
  }
}

TEST_F(SyncedBatchNorm, Bf16InputsUseFp32StatisticsAndKeepTheirDtype) {
  const auto ref = reference("bf16", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(3)), true);
  for (int64_t step = 0; step < kSteps; ++step) {
    const std::string s = std::to_string(step);
    const auto i = static_cast<std::size_t>(step);
    // The output is rounded to bf16 (8 bits of mantissa); the statistics are not.
    EXPECT_LE(difference(joined("bf16.y" + s), ref.y[i]), 1e-2) << "step " << s;
  }
  for (int rank = 0; rank < kWorld; ++rank) {
    EXPECT_LE(difference(saved(rank, "bf16.running_mean"), ref.bn->running_mean), kTolerance);
    EXPECT_LE(difference(saved(rank, "bf16.running_var"), ref.bn->running_var), kTolerance);
  }
}

// A sum that counts its calls and, as for one process, leaves the tensor as it is.
struct CountingSum {
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  void operator()(torch::Tensor&) const { ++*calls; }
};

class BatchNormTest : public ::testing::Test {
 protected:
  void TearDown() override { set_batch_norm_sync({}); }
};

// One training step (forward, backward) and an eval forward on both modules,
// each from the same start; every result must be bitwise the same.
template <typename Ours, typename Torch>
void expect_same_as_torch(Ours ours, Torch theirs, const torch::Tensor& input) {
  {
    torch::NoGradGuard no_grad;
    theirs->weight.copy_(torch::rand_like(theirs->weight) + 0.5);
    theirs->bias.copy_(torch::randn_like(theirs->bias));
    ours->weight.copy_(theirs->weight);
    ours->bias.copy_(theirs->bias);
  }
  for (int step = 0; step < 2; ++step) {
    torch::Tensor a = input.clone().requires_grad_(), b = input.clone().requires_grad_();
    const torch::Tensor ya = ours->forward(a), yb = theirs->forward(b);
    EXPECT_TRUE(bitwise_equal(ya, yb));
    (ya.pow(2) * input).sum().backward();
    (yb.pow(2) * input).sum().backward();
    EXPECT_TRUE(bitwise_equal(a.grad(), b.grad()));
    EXPECT_TRUE(bitwise_equal(ours->weight.grad(), theirs->weight.grad()));
    EXPECT_TRUE(bitwise_equal(ours->bias.grad(), theirs->bias.grad()));
  }
  EXPECT_TRUE(bitwise_equal(ours->running_mean, theirs->running_mean));
  EXPECT_TRUE(bitwise_equal(ours->running_var, theirs->running_var));
  EXPECT_TRUE(bitwise_equal(ours->num_batches_tracked, theirs->num_batches_tracked));
  ours->eval();
  theirs->eval();
  EXPECT_TRUE(bitwise_equal(ours->forward(input), theirs->forward(input)));
}

TEST_F(BatchNormTest, WithoutASyncItIsTorchsModuleBitForBit) {
  ASSERT_FALSE(batch_norm_sync_enabled());
  torch::manual_seed(3);
  expect_same_as_torch(BatchNorm2d(3), torch::nn::BatchNorm2d(3), torch::randn({4, 3, 5, 5}) + 1);
  expect_same_as_torch(BatchNorm1d(torch::nn::BatchNormOptions(4).momentum(c10::nullopt)),
                       torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(4).momentum(c10::nullopt)),
                       torch::randn({6, 4}));
}

TEST_F(BatchNormTest, EvalModeIgnoresTheSync) {
  const CountingSum sum;
  set_batch_norm_sync(sum);
  ASSERT_TRUE(batch_norm_sync_enabled());
  torch::manual_seed(4);
  BatchNorm2d ours(3);
  torch::nn::BatchNorm2d theirs(3);
  {
    torch::NoGradGuard no_grad;
    theirs->running_mean.copy_(torch::randn({3}));
    theirs->running_var.copy_(torch::rand({3}) + 0.5);
    ours->running_mean.copy_(theirs->running_mean);
    ours->running_var.copy_(theirs->running_var);
  }
  ours->eval();
  theirs->eval();
  const torch::Tensor input = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(bitwise_equal(ours->forward(input), theirs->forward(input)));
  EXPECT_EQ(*sum.calls, 0);
  // In training mode the same module does synchronise: one sum per forward
  // and one per backward.
  ours->train();
  torch::Tensor x = input.clone().requires_grad_();
  ours->forward(x).pow(2).sum().backward();
  EXPECT_EQ(*sum.calls, 2);
}

TEST_F(BatchNormTest, ASyncOverOneProcessGivesTorchsResults) {
  // The identity as the sum: the statistics are the local ones, computed
  // another way (sums in fp64), so close to torch's rather than bitwise.
  set_batch_norm_sync(CountingSum{});
  torch::manual_seed(5);
  BatchNorm2d ours(3);
  torch::nn::BatchNorm2d theirs(3);
  const torch::Tensor input = torch::randn({4, 3, 6, 6}) * 3 + 2;
  torch::Tensor a = input.clone().requires_grad_(), b = input.clone().requires_grad_();
  const torch::Tensor ya = ours->forward(a), yb = theirs->forward(b);
  (ya.pow(3) * input).sum().backward();
  (yb.pow(3) * input).sum().backward();
  EXPECT_LE(difference(ya, yb), kTolerance);
  EXPECT_LE(difference(a.grad(), b.grad()), kTolerance);
  EXPECT_LE(difference(ours->weight.grad(), theirs->weight.grad()), kTolerance);
  EXPECT_LE(difference(ours->running_var, theirs->running_var), kTolerance);
}

// The message of what `action` throws ("" when it throws nothing).
template <typename Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST_F(BatchNormTest, WhatWouldMisPairTheAllReducesIsRefusedOnEveryProcessAlike) {
  // Another channel count: refused before the sum, which would otherwise
  // pair this layer's sums with another layer's on the other processes (or
  // wait for a partner of another size).
  const CountingSum sum;
  set_batch_norm_sync(sum);
  BatchNorm2d norm(3);
  EXPECT_EQ(error_of([&] { norm->forward(torch::randn({2, 4, 3, 3})); }),
            "piade::sdk::BatchNorm2d: input has 4 channels, the layer 3");
  EXPECT_EQ(*sum.calls, 0);
  // One value per channel in the whole batch: torch's check, made on the
  // global count, which every process has, so all of them stop together.
  BatchNorm1d one(3);
  EXPECT_EQ(error_of([&] { one->forward(torch::randn({1, 3})); }),
            "piade::sdk::BatchNorm1d: expected more than 1 value per channel when training, got 1 over all processes");
  EXPECT_EQ(*sum.calls, 1);
}

TEST_F(BatchNormTest, NamesCloneAndPrintKeepTorchsLayoutAndTheirOwnType) {
  BatchNorm2d ours(torch::nn::BatchNormOptions(5).momentum(0.3));
  torch::nn::BatchNorm2d theirs(5);
  std::vector<std::string> our_names, their_names;
  for (const auto& item : ours->named_parameters()) our_names.push_back(item.key());
  for (const auto& item : ours->named_buffers()) our_names.push_back(item.key());
  for (const auto& item : theirs->named_parameters()) their_names.push_back(item.key());
  for (const auto& item : theirs->named_buffers()) their_names.push_back(item.key());
  EXPECT_EQ(our_names, their_names);
  {
    torch::NoGradGuard no_grad;
    ours->running_mean.fill_(2);
    ours->weight.fill_(3);
  }
  ours->eval();
  const std::shared_ptr<torch::nn::Module> copy = ours->clone();
  auto* typed = dynamic_cast<BatchNorm2dImpl*>(copy.get());
  ASSERT_NE(typed, nullptr) << "clone() gave " << copy->name();
  EXPECT_TRUE(bitwise_equal(typed->running_mean, ours->running_mean));
  EXPECT_TRUE(bitwise_equal(typed->weight, ours->weight));
  EXPECT_NE(typed->weight.data_ptr(), ours->weight.data_ptr());
  EXPECT_FALSE(typed->is_training());
  EXPECT_EQ(typed->options.momentum(), 0.3);
  std::ostringstream printed;
  ours->pretty_print(printed);
  EXPECT_EQ(printed.str(),
            "piade::sdk::BatchNorm2d(5, eps=1e-05, momentum=0.3, affine=true, track_running_stats=true)");
}

}  // namespace
}  // namespace piade::sdk
