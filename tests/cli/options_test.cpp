// Options (host/cli: cli/options.h) and pipeline resolution through them:
// a config file and the command line mean the same, the command line wins,
// `--set KEY=VALUE` equals KEY on the command line or in the file, a command
// ignores other commands' keys in a file or a --set but refuses a key no
// command knows, and every mistake is one line that names the option as the
// user wrote it.
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

// `piade config` takes every key: the generic behaviour is tested with it.
CommandLine parse(std::vector<std::string> args, const std::string& command = "config") {
  return parse_options(args, command_spec(command));
}

// Parses with a config file holding `ini` (added as --config FILE).
CommandLine parse_with_file(const ScratchDir& dir, const std::string& ini, std::vector<std::string> args = {},
                            const std::string& command = "config") {
  write_text(dir / "piade.ini", ini);
  args.push_back("--config");
  args.push_back((dir / "piade.ini").string());
  return parse(args, command);
}

std::string parse_error(std::vector<std::string> args, const std::string& command = "config") {
  try {
    parse(args, command);
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
  CommandLine line = parse({"--skip-bad", "images/", "--threads", "2"}, "score");
  EXPECT_TRUE(line.get<bool>("skip-bad"));
  EXPECT_EQ(line.positional, std::vector<std::string>{"images/"});
  line = parse({"--skip-bad=false", "a.png"}, "score");
  EXPECT_FALSE(line.get<bool>("skip-bad"));
  EXPECT_EQ(line.positional, std::vector<std::string>{"a.png"});
  line = parse({"a.png", "--skip-bad"}, "score");
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
  EXPECT_EQ(parse_error({"--set", "thread=4"}), "--set: unknown key 'thread', did you mean 'threads'?");
  EXPECT_EQ(parse_error({"--completely-unknown"}), "unknown option '--completely-unknown'");
  EXPECT_EQ(parse_error({"--set", "router.vectors=1"}), "--set: unknown key 'router.vectors'");
  // Every command refuses a key no command knows, with a suggestion among
  // all keys, though it would ignore the real key.
  for (const std::string& command : command_names())
    EXPECT_EQ(parse_error({"--set", "epohcs=3"}, command), "--set: unknown key 'epohcs', did you mean 'epochs'?")
        << command;
  EXPECT_EQ(parse_error({"--set", "eval.ovewrite=true"}, "train"),
            "--set: unknown key 'eval.ovewrite', did you mean 'eval.overwrite'?");
  EXPECT_EQ(parse_error({"--set", "eval.pictures=2"}, "train"),
            "--set: 'eval.pictures': 'pictures' means the same to every command; write it without [eval]");
}

TEST(OptionsTest, UnknownOptionInTheFileNamesTheFile) {
  ScratchDir dir;
  const std::string file = (dir / "piade.ini").string();
  for (const std::string& command : command_names()) {
    try {
      parse_with_file(dir, "threads = 2\nthread = 4\n", {}, command);
      FAIL() << "an unknown key in the file was accepted by " << command;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), file + ": unknown key 'thread', did you mean 'threads'?");
    }
  }
  try {
    parse_with_file(dir, "[router]\nvectors = 1\n");
    FAIL() << "an unknown section was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": unknown key 'router.vectors'");
  }
}

// tests/fuzz/fuzz_ini's finding: a line "=A" (a value without a key)
// escaped as boost's ambiguous_option, listing every key and naming no file.
TEST(OptionsTest, ALineWithoutAKeyInTheFileNamesTheFile) {
  ScratchDir dir;
  const std::string file = (dir / "piade.ini").string();
  for (const char* command : {"config", "train"}) {
    try {
      parse_with_file(dir, "epochs = many\n=A[\n", {}, command);
      FAIL() << "a line without a key was accepted by " << command;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), file + ": a line has a value but no key");
    }
    // Two such lines once reached the duplicate-key check, whose lookup of the
    // empty name threw boost's ambiguous_option (tests/fuzz/fuzz_ini, after
    // the merge of the duplicate-key check).
    try {
      parse_with_file(dir, "epochs = many\n=epochs \n= many\n=\n[\n[", {}, command);
      FAIL() << "a file of lines without keys was accepted by " << command;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(file + ": ", 0), 0u) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
}

// One file for every command: each takes its keys and ignores the others'.
TEST(OptionsTest, EachCommandTakesItsKeysFromOneFile) {
  ScratchDir dir;
  const std::string ini =
      "epochs = 3\nbatch-size = 16\nseed = 7\npictures = 2\ndataset = mnist\nthreads = 2\n"
      "[routing]\nvectors = 1\n[train]\nout = runs/t\n[eval]\nout = runs/t/eval\n"
      "[bench]\nbatch-size = 4\n[compare]\njobs = 2\n";
  const CommandLine train = parse_with_file(dir, ini, {}, "train");
  EXPECT_EQ(train.get<int64_t>("epochs"), 3);
  EXPECT_EQ(train.get<int64_t>("batch-size"), 16);
  EXPECT_EQ(train.get<std::string>("out"), "runs/t");
  EXPECT_EQ(train.plugin_params, (Params{{"routing", {{"vectors", "1"}}}}));
  EXPECT_EQ(train.source("epochs").kind, Source::file);
  EXPECT_EQ(train.source("lr").kind, Source::default_value);

  const CommandLine eval = parse_with_file(dir, ini, {}, "eval");
  EXPECT_EQ(eval.get<std::string>("out"), "runs/t/eval");
  EXPECT_EQ(eval.get<int64_t>("pictures"), 2);
  EXPECT_EQ(eval.get<int64_t>("batch-size"), 16);
  EXPECT_EQ(eval.get<uint64_t>("seed"), 7u);
  EXPECT_EQ(eval.values.count("epochs"), 0u);
  EXPECT_TRUE(eval.plugin_params.empty());

  const CommandLine bench = parse_with_file(dir, ini, {}, "bench");
  EXPECT_EQ(bench.get<int64_t>("batch-size"), 4);  // bench's own key, not the training batch
  EXPECT_EQ(bench.get<uint64_t>("seed"), 7u);
  EXPECT_EQ(bench.values.count("out"), 0u);
  EXPECT_EQ(parse_with_file(dir, ini, {}, "compare").get<int>("jobs"), 2);

  // The command line still wins, and a command's own key may be given bare.
  EXPECT_EQ(parse_with_file(dir, ini, {"--out", "elsewhere"}, "eval").get<std::string>("out"), "elsewhere");
  EXPECT_EQ(parse({"--set", "out=x", "--set", "pictures=5", "--set", "train.out=y"}, "eval").get<std::string>("out"),
            "x");
  EXPECT_EQ(parse({"--set", "pictures=5", "--set", "epochs=9"}, "eval").get<int64_t>("pictures"), 5);
  // On bench's command line, `batch-size` is bench's own.
  EXPECT_EQ(parse({"--set", "batch-size=8"}, "bench").get<int64_t>("batch-size"), 8);

  // `piade config` holds every command's keys, under the command's name.
  const CommandLine all = parse_with_file(dir, ini);
  EXPECT_EQ(all.get<std::string>("train.out"), "runs/t");
  EXPECT_EQ(all.get<int64_t>("bench.batch-size"), 4);
  EXPECT_EQ(all.get<int64_t>("batch-size"), 16);
  EXPECT_EQ(all.get<int>("compare.jobs"), 2);
  EXPECT_EQ(parse({"--set", "jobs=3"}).get<int>("compare.jobs"), 3);  // only compare has `jobs`
  EXPECT_EQ(parse_error({"--set", "out=x"}),
            "--set: 'out' is a key of several commands; write one of train.out, score.out, eval.out, compare.out, "
            "bench.out, export.out");
}

TEST(OptionsTest, ADirectFlagOfAnotherCommandIsRefused) {
  EXPECT_EQ(parse_error({"--epochs", "3"}, "eval"),
            "unknown option '--epochs': it is a key of config, train, not of eval (in a --config file or a --set, "
            "eval ignores it)");
  EXPECT_EQ(parse_error({"--backbone", "x"}, "export"),
            "unknown option '--backbone': it is a key of config, train, bench, not of export (in a --config file or a "
            "--set, export ignores it)");
  // ... but other commands' keys in a --set are ignored, and compare hands
  // them to its grid.
  EXPECT_EQ(parse({"--set", "epochs=1", "--set", "routing.vectors=1", "--set", "jobs=2"}, "compare").foreign_set,
            (std::vector<std::string>{"epochs=1", "routing.vectors=1"}));
}

TEST(OptionsTest, AKeyGivenTwiceInOnePlaceIsAnError) {
  ScratchDir dir;
  const std::string file = (dir / "piade.ini").string();
  EXPECT_EQ(parse({"--epochs", "1", "--epochs", "2"}).get<int64_t>("epochs"), 2);  // the last one wins
  EXPECT_EQ(parse_error({"--set", "epochs=1", "--set", "epochs=2"}), "--set: 'epochs' is given twice");
  try {
    parse_with_file(dir, "epochs = 1\n[routing]\nvectors = 1\nvectors = 2\n");
    FAIL() << "a plugin parameter given twice was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": 'routing.vectors' is given twice (lines 3 and 4); keep one");
  }
  try {
    parse_with_file(dir, "epochs = many\n");
    FAIL() << "a bad value was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": the argument ('many') for option 'epochs' is invalid");
  }
  // A repeatable key collects its values.
  EXPECT_EQ(parse_with_file(dir, "train-dir = a\ntrain-dir = b\n").get<std::vector<std::string>>("train-dir"),
            (std::vector<std::string>{"a", "b"}));
}

TEST(OptionsTest, SourcesSayWhereEachValueCameFrom) {
  ScratchDir dir;
  const CommandLine cl =
      parse_with_file(dir, "epochs = 3\nlr = 0.01\n", {"--epochs", "4", "--set", "seed=2"}, "train");
  EXPECT_EQ(cl.source("epochs").text(), "command line");
  EXPECT_EQ(cl.source("seed").text(), "--set");
  EXPECT_EQ(cl.source("lr").text(), "file " + (dir / "piade.ini").string());
  EXPECT_EQ(cl.source("weight-decay").text(), "default");
  EXPECT_TRUE(cl.given_by_user("lr"));
  EXPECT_FALSE(cl.given_by_user("weight-decay"));
}

// Defaults print as typed, switches as switches, every group once.
TEST(OptionsTest, HelpTellsTheTruth) {
  for (const std::string& command : command_names()) {
    const std::string help = help_text(command_spec(command));
    EXPECT_EQ(help.find("[=arg(=1)]"), std::string::npos) << help;
    EXPECT_EQ(help.find("0.29999"), std::string::npos) << help;
    EXPECT_EQ(help.rfind("usage: piade " + command, 0), 0u) << help;
  }
  const std::string eval = help_text(command_spec("eval"));
  EXPECT_NE(eval.find("(default: 0.3)"), std::string::npos) << eval;
  EXPECT_NE(eval.find("--skip-bad"), std::string::npos) << eval;
  EXPECT_NE(eval.find("a switch)"), std::string::npos) << eval;
  EXPECT_NE(eval.find("(default: the checkpoint's)"), std::string::npos) << eval;
  const std::string plugins = help_text(command_spec("plugins"));
  for (const char* unused : {"--amp", "--device", "--threads", "--epochs"})
    EXPECT_EQ(plugins.find(unused), std::string::npos) << unused << " in\n" << plugins;
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
