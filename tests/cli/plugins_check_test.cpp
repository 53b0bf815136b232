// `piade plugins check` end to end: every built-in plugin and the
// third-party example pass every rule; each fixture component that breaks
// one rule (tests/core/fixtures/contract_plugin.cpp) fails that rule, and
// only that one, with exit status 1.
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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

TEST(PluginsCheck, EveryBuiltInPluginPassesEveryRule) {
  const test::CommandResult result = check({});
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_TRUE(lines_starting(result.output, "FAIL").empty()) << result.output;
  for (const char* id : {"backbone/se_resnet18", "pooling/pyramid", "routing/dynamic", "decoder/transposed",
                         "loss/mse", "loss/ssim", "loss/perceptual"}) {
    EXPECT_EQ(lines_starting(result.output, std::string("ok   ") + id + " state-dict: 1x28x28").size(), 1u)
        << id << "\n" << result.output;
  }
  EXPECT_NE(result.output.find(" failed, "), std::string::npos) << result.output;
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
