// Plugin versions against checkpoints, with real plugin libraries: a
// checkpoint written with pooling/pyramid 1.0.0 loads with the same sources
// built as 1.0.1 (same major, same layout), scoring alike; one written before
// checkpoints recorded layouts is refused with the reason and the fix.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"
#include "piade/datasets/transforms.h"
#include "tests/support/builtin_plugins.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

namespace fs = std::filesystem;

void ignore(const std::string&) {}

const ImageShape kShape{1, 32, 32};

// The paper's pipeline with a cheap backbone and one loss term.
PipelineSelection small_pipeline() {
  PipelineSelection selection;
  selection.backbone = "resnet18";
  selection.losses = {"mse"};
  return selection;
}

// The built-in plugins, with pooling/pyramid 1.0.1 found first (the built-in
// 1.0.0 is then rejected as a second file providing it).
const PluginRegistry& bumped_plugins() {
  static const PluginRegistry* registry = [] {
    auto* loaded = new PluginRegistry();
    loaded->scan({PIADE_TEST_BUMPED_DIR, PIADE_BUILD_PLUGIN_DIR});
    return loaded;
  }();
  return *registry;
}

class PluginVersionsTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::set_num_threads(1); }

  // A checkpoint written with the built-in (1.0.0) plugins.
  fs::path write_checkpoint(bool with_layout) {
    const PipelineConfig config = resolve_pipeline(test::builtin_plugins(), small_pipeline(), ignore);
    torch::manual_seed(5);
    model_ = PiadeModel(test::builtin_plugins(), config, kShape);
    const nlohmann::json meta = {{"pipeline", pipeline_to_json(config, with_layout ? model_.get() : nullptr)},
                                 {"image", {{"channels", 1}, {"height", 32}, {"width", 32}}}};
    const fs::path file = dir_ / (with_layout ? "now.pt" : "before_layouts.pt");
    save_checkpoint(file, model_, nullptr, meta);
    return file;
  }

  test::ScratchDir dir_;
  PiadeModel model_{nullptr};
};

TEST_F(PluginVersionsTest, TheBumpedPluginIsTheOneLoaded) {
  const ComponentInfo& pyramid = bumped_plugins().get(Kind::pooling, "pyramid");
  EXPECT_EQ(pyramid.plugin->version, "1.0.1");
  EXPECT_EQ(pyramid.plugin->file, fs::path(PIADE_TEST_BUMPED_DIR) / "pooling_pyramid.so");
  EXPECT_EQ(test::builtin_plugins().get(Kind::pooling, "pyramid").plugin->version, "1.0.0");
}

TEST_F(PluginVersionsTest, APatchReleaseWithTheSameLayoutLoadsOldCheckpoints) {
  const fs::path file = write_checkpoint(/*with_layout=*/true);
  const nlohmann::json meta = read_checkpoint_meta(file);
  EXPECT_EQ(meta["pipeline"]["pooling"]["version"], "1.0.0");
  PiadeModel restored = restore_model(bumped_plugins(), file, meta, torch::kCPU);
  torch::manual_seed(8);
  const torch::Tensor images = torch::rand({4, 1, 32, 32}) * 2 - 1;
  torch::NoGradGuard no_grad;
  model_->eval();
  restored->eval();
  EXPECT_TRUE(torch::equal(model_->score(images).total, restored->score(images).total));
}

TEST_F(PluginVersionsTest, ACheckpointWithoutLayoutsIsRefusedWithTheReasonAndTheFix) {
  const fs::path file = write_checkpoint(/*with_layout=*/false);
  // The versions it was written with still load it.
  EXPECT_NO_THROW(restore_model(test::builtin_plugins(), file, read_checkpoint_meta(file), torch::kCPU));
  try {
    restore_model(bumped_plugins(), file, read_checkpoint_meta(file), torch::kCPU);
    FAIL() << "a checkpoint without layouts loaded with another plugin version";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message, file.string() + ": the checkpoint was trained with pooling 'pyramid' version 1.0.0, but " +
                           (fs::path(PIADE_TEST_BUMPED_DIR) / "pooling_pyramid.so").string() +
                           " has version 1.0.1; use the plugin version it was trained with (the checkpoint "
                           "records no layout to check another version against: it predates layout hashes; "
                           "retrain to record one)");
  }
}

}  // namespace
}  // namespace piade
