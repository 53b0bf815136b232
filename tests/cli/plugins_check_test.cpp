// `piade plugins check` end to end: every built-in plugin and the
// third-party example pass every rule; each fixture component that breaks
// one rule (tests/core/fixtures/contract_plugin.cpp) fails that rule, and
// only that one, with exit status 1.
#include <algorithm>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/fixture_plugins.h"
#include "tests/support/process.h"

namespace piade {
namespace {

std::vector<std::string> lines_starting(const std::string& output, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  return found;
}

test::CommandResult check(const std::vector<std::string>& args) {
  std::vector<std::string> words = {"plugins", "check"};
  words.insert(words.end(), args.begin(), args.end());
  return test::run_piade_command(words);
}

// Every built-in component, one test each: each runs in its own process and
// under its own time limit (the two ResNet50s take minutes at 64x64).
const std::vector<std::string>& builtin_components() {
  static const std::vector<std::string> ids = {
      "backbone/resnet18", "backbone/se_resnet18", "backbone/resnet50", "backbone/se_resnet50",
      "pooling/pyramid",   "routing/dynamic",      "decoder/transposed", "loss/mse",
      "loss/ssim",         "loss/perceptual"};
  return ids;
}

class EveryBuiltInComponent : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryBuiltInComponent, PassesEveryRule) {
  const std::string& id = GetParam();
  const test::CommandResult result = check({id});
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_TRUE(lines_starting(result.output, "FAIL").empty()) << result.output;
  EXPECT_EQ(lines_starting(result.output, "ok   " + id + " state-dict: 1x28x28").size(), 1u) << result.output;
  EXPECT_NE(result.output.find("1 component checked: "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(", 0 failed, "), std::string::npos) << result.output;
}

INSTANTIATE_TEST_SUITE_P(PluginsCheck, EveryBuiltInComponent, ::testing::ValuesIn(builtin_components()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '/') c = '_';
                           return name;
                         });

// The list above is every component the built-in plugins provide, so that
// a new one is not left unchecked.
TEST(PluginsCheck, TheCheckedListIsEveryBuiltInComponent) {
  const test::CommandResult listed = test::run_piade_command({"plugins", "--json"});
  ASSERT_EQ(listed.status, 0) << listed.output;
  std::vector<std::string> ids;
  const nlohmann::json json = nlohmann::json::parse(listed.output);
  for (const auto& plugin : json.at("plugins"))
    ids.push_back(plugin.at("kind").get<std::string>() + "/" + plugin.at("name").get<std::string>());
  std::vector<std::string> expected = builtin_components();
  std::sort(ids.begin(), ids.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected) << listed.output;
}

// As built from examples/third_party_plugin's source (tests/install builds
// it against an installed piade).
TEST(PluginsCheck, TheThirdPartyExamplePassesEveryRule) {
  const test::CommandResult result = check({"--plugin-dir", PIADE_TEST_EXAMPLE_PLUGIN_DIR, "loss/gradient"});
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_TRUE(lines_starting(result.output, "FAIL").empty()) << result.output;
  EXPECT_EQ(lines_starting(result.output, "ok   loss/gradient map-mean: 1x28x28").size(), 1u) << result.output;
  EXPECT_NE(result.output.find("1 component checked: 11 ok, 0 failed, 0 skipped"), std::string::npos)
      << result.output;
}

struct BrokenRule {
  const char* id;
  const char* rule;
};

// Names the case in ctest's listing (instead of the struct's bytes).
void PrintTo(const BrokenRule& broken, std::ostream* out) { *out << broken.id << " breaks " << broken.rule; }

class PluginsCheckFixture : public ::testing::TestWithParam<BrokenRule> {};

TEST_P(PluginsCheckFixture, FailsTheOneRuleItBreaks) {
  const BrokenRule& broken = GetParam();
  const test::CommandResult result =
      check({"--plugin-dir", test::fixture_dir("contract").string(), broken.id});
  EXPECT_EQ(result.status, 1) << result.output;
  const std::vector<std::string> failures = lines_starting(result.output, "FAIL");
  ASSERT_EQ(failures.size(), 1u) << result.output;
  EXPECT_EQ(failures[0].rfind(std::string("FAIL ") + broken.id + " " + broken.rule + ": 1x28x28, ", 0), 0u)
      << result.output;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PluginsCheckFixture,
    ::testing::Values(BrokenRule{"pooling/off_by_one", "output-shape"}, BrokenRule{"loss/nonfinite", "finite"},
                      BrokenRule{"backbone/detached", "gradient-trainable"},
                      BrokenRule{"routing/unfreezes", "gradient-frozen"},
                      BrokenRule{"loss/scalar", "per-image-shape"}, BrokenRule{"loss/map_channel", "map-shape"},
                      BrokenRule{"loss/map_short", "map-shape"}, BrokenRule{"loss/map_mean", "map-mean"},
                      BrokenRule{"backbone/no_clone", "clone"}, BrokenRule{"decoder/unsaved", "state-dict"}),
    [](const ::testing::TestParamInfo<BrokenRule>& info) {
      std::string name = info.param.id;
      for (char& c : name)
        if (c == '/') c = '_';
      return name;
    });

TEST(PluginsCheck, UnknownComponentGetsASuggestion) {
  const test::CommandResult result = check({"loss/ssimm"});
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("check: no component 'loss/ssimm', did you mean 'loss/ssim'?"), std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace piade
