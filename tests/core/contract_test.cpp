// The part contract checked at run time (piade/core/contract.h, model.h,
// trainer.h): each way a plugin used to fail late, blame the wrong part or
// not fail at all now fails on the first batch of a training run, naming
// the plugin, its file and the rule; a non-finite loss stops training and
// keeps the last checkpoint; failing score statistics keep the trained
// weights. Tiny runs (eight 28x28 images) with the fixture plugins of
// tests/core/fixtures: the tiny parts of `good`, the rule breakers of
// `contract`.
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/contract.h"
#include "piade/core/trainer.h"
#include "tests/support/fixture_plugins.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

const PluginRegistry& fixture_registry() {
  static const PluginRegistry* registry = [] {
    auto* loaded = new PluginRegistry();
    loaded->scan({test::fixture_dir("good"), test::fixture_dir("contract")});
    return loaded;
  }();
  return *registry;
}

std::string contract_file() { return fs::canonical(test::fixture_dir("contract") / "fixture_contract.so").string(); }

// Everything tiny, with `pooling` and `losses` from the fixtures.
PipelineConfig pipeline(const std::string& pooling, const std::vector<std::string>& losses,
                        const std::map<std::string, std::map<std::string, std::string>>& params = {}) {
  PipelineSelection selection;
  selection.backbone = selection.routing = selection.decoder = "tiny";
  selection.pooling = pooling;
  selection.losses = losses;
  selection.params = params;
  return resolve_pipeline(fixture_registry(), selection, [](const std::string&) {});
}

class ContractTest : public ::testing::Test {
 protected:
  // Trains `config` on eight 28x28 images, batches of four (two steps an
  // epoch); counts the steps taken and returns the error, if any.
  std::string train_run(const PipelineConfig& config, int64_t epochs, int64_t checkpoint_every = 0) {
    ImageSet data;
    torch::manual_seed(1);
    data.images = torch::randint(0, 256, {8, 1, 28, 28}, torch::kUInt8);
    data.labels = torch::zeros({8}, torch::kLong);
    for (int i = 0; i < 8; ++i) data.ids.push_back(std::to_string(i));
    TrainSettings settings;
    settings.epochs = epochs;
    settings.batch_size = 4;
    settings.checkpoint_every = checkpoint_every;
    nlohmann::json meta = {{"pipeline", pipeline_to_json(config)}, {"preprocess", {{"image_size", 28}}}};
    PiadeModel model(fixture_registry(), config, ImageShape{1, 28, 28});
    TrainObserver observer;
    observer.on_step = [&](const StepProgress&) { ++steps_; };
    try {
      train(model, data, Preprocess{28, 1}, settings, torch::kCPU, out_, meta, false, observer);
    } catch (const ContractError& e) {
      rule_ = e.rule();
      return e.what();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  test::ScratchDir scratch_;
  const fs::path out_ = scratch_ / "run";
  fs::path checkpoint_ = out_ / "checkpoint.pt";
  int64_t steps_ = 0;
  std::string rule_;
};

// Before: routing/tiny averaged the capsules and trained on (routing/dynamic
// blamed itself: "expected capsules [N,85,8], got [64, 84, 8]").
TEST_F(ContractTest, PoolingThatDisagreesWithItsOutputShapeIsBlamedOnTheFirstBatch) {
  const std::string error = train_run(pipeline("off_by_one", {"tiny"}), 2);
  EXPECT_EQ(error, "pooling/off_by_one (" + contract_file() +
                       "): capsules must be [N,count,dim] = [4,196,4] (its output_shape()), got [4,195,4]");
  EXPECT_EQ(rule_, rule::kOutputShape);
  EXPECT_EQ(steps_, 0);
}

// Before: summed with loss/tiny's map after the last epoch, it failed there
// and no checkpoint was written.
TEST_F(ContractTest, ShortLossMapFailsOnTheFirstBatchNotAfterTheLastEpoch) {
  const std::string error = train_run(pipeline("tiny", {"tiny", "map_short"}), 3);
  EXPECT_EQ(error, "loss/map_short (" + contract_file() + "): map must be [N,H,W] = [4,28,28], got [4,27,28]");
  EXPECT_EQ(rule_, rule::kMapShape);
  EXPECT_EQ(steps_, 0);
}

// Before: the statistics took each image's largest value all the same.
TEST_F(ContractTest, LossMapWithAChannelDimensionFailsOnTheFirstBatch) {
  const std::string error = train_run(pipeline("tiny", {"map_channel"}), 1);
  EXPECT_EQ(error,
            "loss/map_channel (" + contract_file() + "): map must be [N,H,W] = [4,28,28], got [4,1,28,28]");
  EXPECT_EQ(rule_, rule::kMapShape);
  EXPECT_EQ(steps_, 0);
  EXPECT_FALSE(fs::exists(checkpoint_));
}

// Before: "loss scalar: per-image loss is , expected 4".
TEST_F(ContractTest, ScalarPerImageLossFailsNamingItsShape) {
  const std::string error = train_run(pipeline("tiny", {"scalar"}), 1);
  EXPECT_EQ(error, "loss/scalar (" + contract_file() + "): per-image loss must be [N] = [4], got []");
  EXPECT_EQ(rule_, rule::kPerImageShape);
}

TEST_F(ContractTest, NonFiniteLossOnTheFirstBatchIsBlamedOnItsTerm) {
  const std::string error = train_run(pipeline("tiny", {"tiny", "nonfinite"}), 1);
  EXPECT_EQ(error, "loss/nonfinite (" + contract_file() + "): per-image loss must be finite, got nan at [0] of [4]");
  EXPECT_EQ(rule_, rule::kFinite);
  EXPECT_FALSE(fs::exists(checkpoint_));
}

// Before: training went on with NaN weights and wrote them as the checkpoint.
TEST_F(ContractTest, LossTurningNonFiniteStopsTrainingAndKeepsTheLastCheckpoint) {
  const PipelineConfig config = pipeline("tiny", {"tiny", "nonfinite"}, {{"loss.nonfinite", {{"after_steps", "2"}}}});
  const std::string error = train_run(config, 3, /*checkpoint_every=*/1);
  EXPECT_EQ(error, "epoch 2, step 1 of 2: the training loss is nan, from loss/nonfinite (" + contract_file() +
                       "); training stopped, " + checkpoint_.string() + " (epoch 1) is kept");
  EXPECT_EQ(steps_, 2);  // the observer never sees the non-finite step
  ASSERT_TRUE(fs::exists(checkpoint_));
  EXPECT_EQ(read_checkpoint_meta(checkpoint_).at("training").at("epochs_done"), 1);
}

TEST_F(ContractTest, LossTurningNonFiniteBeforeAnyCheckpointSaysNoneWasWritten) {
  const PipelineConfig config = pipeline("tiny", {"nonfinite"}, {{"loss.nonfinite", {{"after_steps", "1"}}}});
  const std::string error = train_run(config, 2);
  EXPECT_NE(error.find("epoch 1, step 2 of 2: the training loss is nan, from loss/nonfinite ("), std::string::npos)
      << error;
  EXPECT_NE(error.find("no checkpoint was written"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(checkpoint_));
}

// Before: the map statistics after the last epoch threw, and the run's
// weights were lost with them.
TEST_F(ContractTest, FailingScoreStatisticsKeepTheTrainedCheckpoint) {
  // Right for the first eval-mode call (the trainer's first-batch check),
  // short in the statistics after the last epoch.
  const PipelineConfig config = pipeline("tiny", {"tiny", "map_short"}, {{"loss.map_short", {{"good_calls", "1"}}}});
  const std::string error = train_run(config, 2);
  EXPECT_EQ(error, "training finished, but the score statistics of the training images failed: loss/map_short (" +
                       contract_file() + "): map must be [N,H,W] = [4,28,28], got [4,27,28]; " +
                       checkpoint_.string() + " holds the trained weights (epoch 2) without them");
  EXPECT_EQ(steps_, 4);
  ASSERT_TRUE(fs::exists(checkpoint_));
  const nlohmann::json meta = read_checkpoint_meta(checkpoint_);
  EXPECT_EQ(meta.at("training").at("epochs_done"), 2);
  EXPECT_FALSE(meta.contains("score_stats"));
  EXPECT_FALSE(meta.contains("map_stats"));
}

// Eval mode checks the values of its first batch too (score, eval).
TEST_F(ContractTest, FirstScoringBatchChecksValues) {
  PiadeModel model(fixture_registry(), pipeline("tiny", {"nonfinite"}), ImageShape{1, 28, 28});
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor images = torch::zeros({3, 1, 28, 28});
  try {
    model->score(images);
    FAIL() << "a NaN score passed";
  } catch (const ContractError& e) {
    EXPECT_EQ(e.rule(), rule::kFinite);
  }
  // Once per mode: the checks read values back from the device.
  EXPECT_NO_THROW(model->score(images));
}

}  // namespace
}  // namespace piade
