// What a checkpoint records of its plugins and what a host without them
// says: each part's library file name, which the message of a missing
// component names together with why that file was rejected or how to add
// a plugin directory; and errors while the model is assembled, one line
// each, naming the component. Against the fixture plugins (tests/core/fixtures).
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/core/model.h"
#include "piade/core/plugin_registry.h"
#include "tests/support/fixture_plugins.h"

namespace piade {
namespace {

using test::fixture_dir;
using test::fixture_file;

constexpr const char* kSource = "run/checkpoint.pt";

// The "pipeline" entry of a checkpoint of the fixture's tiny components, as
// checkpoints before plugin file names were recorded wrote it.
nlohmann::json tiny_pipeline() {
  const auto part = [](nlohmann::json params) {
    return nlohmann::json{{"name", "tiny"}, {"version", "1.2.3"}, {"plugin", "tiny"}, {"params", params}};
  };
  return {{"backbone", part({{"channels", "4"}})},
          {"pooling", part(nlohmann::json::object())},
          {"routing", part({{"vectors", "2"}, {"scale", "0.5"}})},
          {"decoder", part({{"activation", "tanh"}})},
          {"loss", nlohmann::json::array({part({{"weight", "1"}})})}};
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no piade::Error";
  return "(no error)";
}

TEST(CheckpointPluginsTest, RecordsEachPartsPluginFileAndReadsCheckpointsWithoutIt) {
  PluginRegistry registry;
  registry.scan({fixture_dir("good")});
  // A checkpoint without file names (older ones) still loads.
  const PipelineConfig config = pipeline_from_json(registry, tiny_pipeline(), kSource);
  const nlohmann::json recorded = pipeline_to_json(config);
  for (const char* role : {"backbone", "pooling", "routing", "decoder"})
    EXPECT_EQ(recorded.at(role).value("file", ""), "fixture_good.so") << role << ": " << recorded.dump();
  EXPECT_EQ(recorded.at("loss").at(0).value("file", ""), "fixture_good.so") << recorded.dump();
  // And one with them reads back to the same configuration.
  EXPECT_EQ(pipeline_to_json(pipeline_from_json(registry, recorded, kSource)), recorded);
  // train --resume compares pipelines: the file names alone make no difference.
  EXPECT_TRUE(same_pipeline(recorded, tiny_pipeline()));
  nlohmann::json other = tiny_pipeline();
  other["routing"]["params"]["vectors"] = "3";
  EXPECT_FALSE(same_pipeline(recorded, other));
}

// The plugin is not in the search path at all: the message names the file
// the checkpoint needs and how to add a plugin directory.
TEST(CheckpointPluginsTest, MissingPluginNamesItsFileAndTheFix) {
  nlohmann::json pipeline = tiny_pipeline();
  pipeline["loss"][0] = {{"name", "l1"},
                         {"version", "0.1.0"},
                         {"plugin", "l1"},
                         {"file", "libpiade_l1.so"},
                         {"params", {{"weight", "1"}}}};
  PluginRegistry registry;
  registry.scan({fixture_dir("good")});
  EXPECT_EQ(message_of([&] { pipeline_from_json(registry, pipeline, kSource); }),
            "run/checkpoint.pt: the checkpoint needs loss 'l1' 0.1.0 from libpiade_l1.so, which is not loaded: "
            "pass --plugin-dir DIR or set PIADE_PLUGIN_PATH");
  // An embedding host names its own option.
  registry.set_plugin_dir_hint("add its directory to DetectorOptions::plugin_dirs or set PIADE_PLUGIN_PATH");
  EXPECT_EQ(message_of([&] { pipeline_from_json(registry, pipeline, kSource); }),
            "run/checkpoint.pt: the checkpoint needs loss 'l1' 0.1.0 from libpiade_l1.so, which is not loaded: "
            "add its directory to DetectorOptions::plugin_dirs or set PIADE_PLUGIN_PATH");
  // An older checkpoint, without the file name: the registry's message, with the hint.
  pipeline["loss"][0].erase("file");
  const std::string old = message_of([&] { pipeline_from_json(registry, pipeline, kSource); });
  EXPECT_EQ(old.rfind("run/checkpoint.pt: the checkpoint needs loss 'l1' 0.1.0: unknown loss 'l1' (available: tiny); "
                      "to add a plugin, add its directory to DetectorOptions::plugin_dirs",
                      0),
            0u)
      << old;
}

// The plugin's file is there but could not be loaded (its manifest is
// unreadable, so only the recorded file name ties it to the component):
// the message says why.
TEST(CheckpointPluginsTest, BrokenPluginFileGivesItsRejectionReason) {
  nlohmann::json pipeline = tiny_pipeline();
  pipeline["loss"][0] = {{"name", "l1"},
                         {"version", "0.1.0"},
                         {"plugin", "l1"},
                         {"file", "fixture_undefined_symbol.so"},
                         {"params", {{"weight", "1"}}}};
  PluginRegistry registry;
  registry.scan({fixture_dir("good"), fixture_dir("undefined_symbol")});
  ASSERT_EQ(registry.rejected().size(), 1u);
  const std::string message = message_of([&] { pipeline_from_json(registry, pipeline, kSource); });
  EXPECT_EQ(message, "run/checkpoint.pt: the checkpoint needs loss 'l1' 0.1.0 from fixture_undefined_symbol.so, "
                     "which was rejected: " +
                         registry.rejected().front().reason);
  EXPECT_NE(message.find("undefined symbol: piade_fixture_missing_function"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// A TORCH_CHECK failing while the host assembles the model (here in the
// backbone's output_shape()) is one line naming the component, without
// LibTorch's backtrace; so is one failing in a factory.
TEST(CheckpointPluginsTest, ModelBuildingErrorsAreOneLineNamingTheComponent) {
  PluginRegistry registry;
  registry.scan({fixture_dir("good")});
  for (const auto& [backbone, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"bad_shape", "backbone/bad_shape: input height 16 is below the 64 pixels it needs"},
           {"torch_check", "backbone/torch_check (" + fixture_file("good").string() +
                               "): failed to build: backbone/torch_check: channels must be even, got 3"}}) {
    nlohmann::json pipeline = tiny_pipeline();
    pipeline["backbone"]["name"] = backbone;
    const PipelineConfig config = pipeline_from_json(registry, pipeline, kSource);
    EXPECT_EQ(message_of([&] { PiadeModel model(registry, config, ImageShape{1, 16, 16}); }), expected);
  }
}

}  // namespace
}  // namespace piade
