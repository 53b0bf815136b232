// Options (host/cli: cli/options.h) and pipeline resolution through them:
// a config file and the command line mean the same, the command line wins,
// `--set KEY=VALUE` equals KEY on the command line or in the file, and every
// mistake is one line that names the option as the user wrote it.
#include <gtest/gtest.h>

#include "piade/core/error.h"
#include "cli/options.h"
#include "piade/core/pipeline_config.h"
#include "piade/core/plugin_registry.h"
#include "tests/support/files.h"
#include "tests/support/fixture_plugins.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

using test::ScratchDir;
using test::write_text;

po::options_description all_options() {
  po::options_description options = common_options();
  options.add(pipeline_options());
  return options;
}

CommandLine parse(std::vector<std::string> args) { return parse_options(args, all_options()); }

// Parses with a config file holding `ini` (added as --config FILE).
CommandLine parse_with_file(const ScratchDir& dir, const std::string& ini,
                            std::vector<std::string> args = {}) {
  write_text(dir / "piade.ini", ini);
  args.push_back("--config");
  args.push_back((dir / "piade.ini").string());
  return parse(args);
}

std::string parse_error(std::vector<std::string> args) {
  try {
    parse(args);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

using Params = std::map<std::string, std::map<std::string, std::string>>;

TEST(OptionsTest, DefaultsWithoutArguments) {
  const CommandLine cl = parse({});
  EXPECT_FALSE(cl.has("threads"));
  EXPECT_GE(cl.get<int>("threads"), 1);
  EXPECT_EQ(cl.get<std::string>("device"), "cpu");
  EXPECT_EQ(cl.get<std::string>("routing"), "dynamic");
  EXPECT_TRUE(cl.plugin_params.empty());
  EXPECT_EQ(loss_names(cl), (std::vector<std::string>{"mse", "ssim", "perceptual"}));
}

TEST(OptionsTest, SetEqualsTheOptionOnTheCommandLineAndInTheFile) {
  ScratchDir dir;
  const CommandLine forms[] = {
      parse({"--threads", "3", "--routing", "em"}),
      parse({"--threads=3", "--routing=em"}),
      parse({"--set", "threads=3", "--set", "routing=em"}),
      parse({"--set=threads=3", "--set=routing=em"}),
      parse_with_file(dir, "threads = 3\nrouting = em\n"),
  };
  for (const CommandLine& cl : forms) {
    EXPECT_TRUE(cl.has("threads"));
    EXPECT_EQ(cl.get<int>("threads"), 3);
    EXPECT_EQ(cl.get<std::string>("routing"), "em");
  }
}

TEST(OptionsTest, PluginParametersFromSetCommandLineAndFile) {
  ScratchDir dir;
  const Params expected = {{"routing", {{"vectors", "1"}}}, {"loss.ssim", {{"weight", "2"}}}};
  EXPECT_EQ(parse({"--set", "routing.vectors=1", "--set", "loss.ssim.weight=2"}).plugin_params,
            expected);
  EXPECT_EQ(parse({"--routing.vectors=1", "--loss.ssim.weight=2"}).plugin_params, expected);
  EXPECT_EQ(parse_with_file(dir, "[routing]\nvectors = 1\n[loss.ssim]\nweight=2\n").plugin_params,
            expected);
  EXPECT_EQ(parse_with_file(dir, "routing.vectors = 1\nloss.ssim.weight = 2\n").plugin_params,
            expected);
}

TEST(OptionsTest, CommandLineWinsOverTheFile) {
  ScratchDir dir;
  const CommandLine cl = parse_with_file(
      dir,
      "threads = 2\nbackbone = from_file\ndevice = cuda\n"
      "[routing]\nvectors = 5\niterations = 3\n[loss.tiny]\nweight = 3\n",
      {"--threads", "4", "--set", "routing.vectors=1", "--device=cpu"});
  EXPECT_EQ(cl.get<int>("threads"), 4);
  EXPECT_EQ(cl.get<std::string>("device"), "cpu");
  EXPECT_EQ(cl.get<std::string>("backbone"), "from_file");
  EXPECT_EQ(cl.plugin_params,
            (Params{{"routing", {{"vectors", "1"}, {"iterations", "3"}}}, {"loss.tiny", {{"weight", "3"}}}}));
}

// A switch never swallows the word after it, which stays a positional
// input; a value is given as --switch=VALUE.
TEST(OptionsTest, SwitchesDoNotTakeTheNextWord) {
  po::options_description options = all_options();
  options.add_options()("skip-bad", po::value<bool>()->default_value(false)->implicit_value(true), "");
  CommandLine line = parse_options({"--skip-bad", "images/", "--threads", "2"}, options);
  EXPECT_TRUE(line.get<bool>("skip-bad"));
  EXPECT_EQ(line.positional, std::vector<std::string>{"images/"});
  line = parse_options({"--skip-bad=false", "a.png"}, options);
  EXPECT_FALSE(line.get<bool>("skip-bad"));
  EXPECT_EQ(line.positional, std::vector<std::string>{"a.png"});
  line = parse_options({"a.png", "--skip-bad"}, options);
  EXPECT_TRUE(line.get<bool>("skip-bad"));
}

TEST(OptionsTest, LossRepeatedAndCommaSeparated) {
  EXPECT_EQ(loss_names(parse({"--loss", "mse,ssim", "--loss", "tiny"})),
            (std::vector<std::string>{"mse", "ssim", "tiny"}));
  EXPECT_EQ(loss_names(parse({"--loss", "mse", "--loss", "ssim", "--loss", "tiny"})),
            (std::vector<std::string>{"mse", "ssim", "tiny"}));
  EXPECT_EQ(loss_names(parse({"--set", "loss=mse,tiny"})), (std::vector<std::string>{"mse", "tiny"}));
  ScratchDir dir;
  EXPECT_EQ(loss_names(parse_with_file(dir, "loss = mse,tiny\n")),
            (std::vector<std::string>{"mse", "tiny"}));
  // The command line replaces the file's list rather than adding to it.
  EXPECT_EQ(loss_names(parse_with_file(dir, "loss = mse,tiny\n", {"--loss", "ssim"})),
            (std::vector<std::string>{"ssim"}));
}

TEST(OptionsTest, UnknownOptionGetsASuggestion) {
  EXPECT_EQ(parse_error({"--thread=4"}), "unknown option '--thread', did you mean '--threads'?");
  EXPECT_EQ(parse_error({"--backbon", "x"}), "unknown option '--backbon', did you mean '--backbone'?");
  EXPECT_EQ(parse_error({"--set", "thread=4"}), "unknown option '--thread', did you mean '--threads'?");
  EXPECT_EQ(parse_error({"--completely-unknown"}), "unknown option '--completely-unknown'");
  EXPECT_EQ(parse_error({"--set", "router.vectors=1"}), "unknown option '--router.vectors'");
}

TEST(OptionsTest, UnknownOptionInTheFileNamesTheFile) {
  ScratchDir dir;
  const std::string file = (dir / "piade.ini").string();
  try {
    parse_with_file(dir, "threads = 2\nthread = 4\n");
    FAIL() << "an unknown key in the file was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": unknown option 'thread', did you mean 'threads'?");
  }
  try {
    parse_with_file(dir, "[router]\nvectors = 1\n");
    FAIL() << "an unknown section was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": unknown option 'router.vectors'");
  }
}

TEST(OptionsTest, MalformedSetAndConfig) {
  EXPECT_EQ(parse_error({"--set"}), "--set: expects KEY=VALUE, got nothing");
  EXPECT_EQ(parse_error({"--set", "routing.vectors"}),
            "--set: expects KEY=VALUE, got 'routing.vectors'");
  EXPECT_EQ(parse_error({"--set", "=1"}), "--set: expects KEY=VALUE, got '=1'");
  EXPECT_EQ(parse_error({"--routing.vectors"}),
            "option 'routing.vectors' needs a value: write --set routing.vectors=VALUE");
  EXPECT_EQ(parse_error({"--config", "/nonexistent/piade.ini"}),
            "--config: cannot read '/nonexistent/piade.ini'");
}

// resolve_pipeline against the fixture plugins.
std::vector<std::string>& warnings() {
  static std::vector<std::string> all;
  return all;
}
void record_warning(const std::string& text) { warnings().push_back(text); }

class ResolvePipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    warnings().clear();
    registry_.scan({test::fixture_dir("good"), test::fixture_dir("torch_version"),
                    test::fixture_dir("cuda")});
    ASSERT_EQ(registry_.plugins().size(), 1u);
    ASSERT_EQ(registry_.rejected().size(), 2u);
  }
  PipelineConfig resolve(std::vector<std::string> args) {
    for (const char* part : {"--backbone", "--pooling", "--routing", "--decoder"}) {
      args.push_back(part);
      args.push_back("tiny");
    }
    return resolve_pipeline(registry_, parse(args), record_warning);
  }
  std::string resolve_error(std::vector<std::string> args) {
    try {
      resolve(args);
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  }
  std::string reason(const std::string& fixture) const {
    for (const RejectedPlugin& r : registry_.rejected())
      if (r.file == test::fixture_file(fixture)) return r.reason;
    return "(not rejected)";
  }
  PluginRegistry registry_;
};

TEST_F(ResolvePipelineTest, ResolvesEveryPartWithDefaultsAndOverrides) {
  ScratchDir dir;
  write_text(dir / "piade.ini", "[loss.tiny]\nweight = 2\n[backbone]\nchannels = 8\n");
  const PipelineConfig config = resolve({"--loss", "tiny", "--set", "routing.vectors=3",
                                         "--config", (dir / "piade.ini").string()});
  EXPECT_EQ(config.backbone.component, registry_.find(Kind::backbone, "tiny"));
  EXPECT_EQ(config.backbone.params.get_int("channels"), 8);
  EXPECT_EQ(config.routing.params.get_int("vectors"), 3);
  EXPECT_EQ(config.routing.params.get_float("scale"), 0.5);
  EXPECT_EQ(config.decoder.params.get_string("activation"), "tanh");
  ASSERT_EQ(config.losses.size(), 1u);
  EXPECT_EQ(config.losses[0].params.get_float("weight"), 2.0);
  EXPECT_EQ(config.parts().size(), 5u);
}

TEST_F(ResolvePipelineTest, BrokenPluginsNotNeededAreWarnings) {
  resolve({"--loss", "tiny"});
  EXPECT_EQ(warnings(), (std::vector<std::string>{"ignoring plugin " + reason("torch_version"),
                                                  "ignoring plugin " + reason("cuda")}));
}

TEST_F(ResolvePipelineTest, NeededBrokenPluginIsAnErrorWithTheReason) {
  EXPECT_EQ(resolve_error({"--loss", "tiny,torch_version"}),
            "loss 'torch_version' is not available: " + reason("torch_version"));
  // Only the plugin that is not needed is a warning.
  EXPECT_EQ(warnings(), (std::vector<std::string>{"ignoring plugin " + reason("cuda")}));
}

TEST_F(ResolvePipelineTest, ParameterForAnUnselectedLossIsAnError) {
  EXPECT_EQ(resolve_error({"--loss", "tiny", "--set", "loss.ssim.weight=2"}),
            "option 'loss.ssim.weight' sets a parameter of loss 'ssim', which is not selected "
            "(--loss tiny)");
  EXPECT_EQ(resolve_error({"--loss", "tiny", "--set", "loss.tiyn.weight=2"}),
            "option 'loss.tiyn.weight' sets a parameter of loss 'tiyn', which is not selected "
            "(--loss tiny), did you mean 'loss.tiny'?");
}

TEST_F(ResolvePipelineTest, BadNamesAndParameters) {
  EXPECT_EQ(resolve_error({"--loss", "tiny", "--set", "routing.vectors=0"}),
            "routing/tiny: parameter 'vectors': 0 is out of range [1, 16]");
  EXPECT_EQ(resolve_error({"--loss", "tiny", "--set", "routing.vectorz=2"}),
            "routing/tiny: unknown parameter 'vectorz', did you mean 'vectors'?");
  // After the did-you-mean, the libraries that were rejected (the fixture's
  // torch_version and cuda plugins, which declare loss components) and why.
  const std::string unknown = resolve_error({"--loss", "tiyn"});
  EXPECT_EQ(unknown.rfind("unknown loss 'tiyn', did you mean 'tiny'?; 2 plugin libraries were rejected: ", 0), 0u)
      << unknown;
  EXPECT_NE(unknown.find(test::fixture_file("torch_version").string() + ": "), std::string::npos) << unknown;
  EXPECT_NE(unknown.find(test::fixture_file("cuda").string() + ": "), std::string::npos) << unknown;
  EXPECT_EQ(resolve_error({"--loss", "tiny,tiny"}), "--loss: 'tiny' is given twice");
  EXPECT_EQ(resolve_error({"--loss", ","}), "--loss: at least one loss term is needed");
}

}  // namespace
}  // namespace piade
