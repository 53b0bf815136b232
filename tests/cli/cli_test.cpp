// End to end: the built `piade` executable against the fixture plugins.
// Exit codes: 0 success, 1 an error (one line on stderr), 2 unknown command.
#include <algorithm>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "piade/core/checkpoint.h"
#include "piade/core/model.h"
#include "piade/core/plugin_registry.h"
#include "tests/support/files.h"
#include "tests/support/fixture_plugins.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

using test::fixture_dir;
using test::fixture_file;
using test::lines;
using test::run_piade;

std::string good_dir() { return fixture_dir("good").string(); }

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const std::string& l : lines(text))
    if (l == line) return true;
  return false;
}

// The reason `piade plugins --json` gives for a broken file.
std::string broken_reason(const nlohmann::json& listing, const std::string& file) {
  for (const auto& broken : listing["broken"])
    if (broken["file"] == file) return broken["reason"].get<std::string>();
  return "(not listed)";
}

TEST(CliTest, PluginsListsGoodAndBrokenPlugins) {
  const auto result = run_piade({"plugins", "--plugin-dir", good_dir(), "--plugin-dir",
                                 fixture_dir("torch_version").string(), "--plugin-dir",
                                 fixture_dir("null_entry").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> out = lines(result.out);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(words(out[0]), (std::vector<std::string>{"KIND", "NAME", "VERSION", "FILE"}));
  const std::string file = fixture_file("good").string();
  for (const char* kind : {"backbone", "pooling", "routing", "decoder", "loss"}) {
    bool found = false;
    for (const std::string& line : out)
      found = found || words(line) == std::vector<std::string>{kind, "tiny", "1.2.3", file};
    EXPECT_TRUE(found) << kind << "/tiny is not listed:\n" << result.out;
  }
  EXPECT_TRUE(has_line(result.out, "  " + fixture_file("null_entry").string() +
                                       ": entry point returned no manifest; the plugin failed "
                                       "to initialise"))
      << result.out;
  EXPECT_TRUE(has_line(result.out, "  " + fixture_file("torch_version").string() +
                                       ": built with LibTorch 0.0.1, this piade has LibTorch " +
                                       TORCH_VERSION + "; rebuild it against this piade's LibTorch"))
      << result.out;
}

TEST(CliTest, PluginsJson) {
  const auto result = run_piade({"plugins", "--json", "--plugin-dir", good_dir(), "--plugin-dir",
                                 fixture_dir("cuda").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json listing = nlohmann::json::parse(result.out);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& plugin : listing["plugins"]) by_id[plugin["id"].get<std::string>()] = plugin;
  ASSERT_TRUE(by_id.count("routing/tiny")) << result.out;
  const nlohmann::json& routing = by_id["routing/tiny"];
  EXPECT_EQ(routing["kind"], "routing");
  EXPECT_EQ(routing["name"], "tiny");
  EXPECT_EQ(routing["plugin"], "tiny");
  EXPECT_EQ(routing["version"], "1.2.3");
  EXPECT_EQ(routing["doc"], "mean capsule to vectors");
  EXPECT_EQ(routing["file"], fixture_file("good").string());
  EXPECT_TRUE(by_id.count("backbone/wrong_interface"));
  EXPECT_TRUE(by_id.count("loss/mse")) << "the built-in plugin directory was not searched";
  const std::string reason = broken_reason(listing, fixture_file("cuda").string());
  EXPECT_EQ(reason.rfind(fixture_file("cuda").string() + ": built with a ", 0), 0u) << reason;
}

TEST(CliTest, PluginsInfo) {
  const auto result = run_piade({"plugins", "info", "routing/tiny", "--plugin-dir", good_dir()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> out = lines(result.out);
  ASSERT_GE(out.size(), 3u) << result.out;
  EXPECT_EQ(out[0], "routing/tiny — mean capsule to vectors");
  EXPECT_EQ(out[1], "plugin tiny 1.2.3 (" + fixture_file("good").string() +
                        "): tiny components of every kind for the host tests");
  EXPECT_TRUE(has_line(result.out,
                       "parameters (set with --set routing.NAME=VALUE or a [routing] config "
                       "section):"))
      << result.out;
  bool vectors = false;
  for (const std::string& line : out)
    vectors = vectors || words(line) == std::vector<std::string>{"vectors", "int", "default", "'2',",
                                                                 "range", "[1,", "16]"};
  EXPECT_TRUE(vectors) << result.out;

  const auto decoder = run_piade({"plugins", "info", "decoder/tiny", "--plugin-dir", good_dir()});
  ASSERT_EQ(decoder.exit_code, 0) << decoder.err;
  bool activation = false;
  for (const std::string& line : lines(decoder.out))
    activation = activation || words(line) == std::vector<std::string>{"activation", "choice", "default",
                                                                       "'tanh',", "one", "of",
                                                                       "tanh|none"};
  EXPECT_TRUE(activation) << decoder.out;
}

TEST(CliTest, PluginsInfoJson) {
  const auto result =
      run_piade({"plugins", "info", "routing/tiny", "--json", "--plugin-dir", good_dir()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json info = nlohmann::json::parse(result.out);
  EXPECT_EQ(info["id"], "routing/tiny");
  EXPECT_EQ(info["version"], "1.2.3");
  ASSERT_EQ(info["params"].size(), 2u);
  const nlohmann::json& vectors = info["params"][0];
  EXPECT_EQ(vectors["name"], "vectors");
  EXPECT_EQ(vectors["type"], "int");
  EXPECT_EQ(vectors["default"], "2");
  EXPECT_EQ(vectors["required"], false);
  EXPECT_EQ(vectors["min"], 1.0);
  EXPECT_EQ(vectors["max"], 16.0);
  EXPECT_EQ(vectors["doc"], "routed vectors");
  EXPECT_FALSE(info["params"][1].contains("max"));

  const auto loss = run_piade({"plugins", "info", "loss/tiny", "--json", "--plugin-dir", good_dir()});
  ASSERT_EQ(loss.exit_code, 0) << loss.err;
  const nlohmann::json loss_info = nlohmann::json::parse(loss.out);
  ASSERT_EQ(loss_info["params"].size(), 1u);
  EXPECT_EQ(loss_info["params"][0]["name"], "weight");
}

TEST(CliTest, PluginsInfoErrors) {
  auto result = run_piade({"plugins", "info", "tiny", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "piade plugins: 'tiny' is ambiguous: backbone/tiny, pooling/tiny, routing/tiny, "
            "decoder/tiny, loss/tiny; give KIND/NAME\n");
  result = run_piade({"plugins", "info", "routing/tiyn", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade plugins: no plugin named 'routing/tiyn', did you mean 'routing/tiny'?\n");
  result = run_piade({"plugins", "info", "torch_version", "--plugin-dir",
                      fixture_dir("torch_version").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade plugins: plugin 'torch_version' is broken: " +
                            fixture_file("torch_version").string() +
                            ": built with LibTorch 0.0.1, this piade has LibTorch " + TORCH_VERSION +
                            "; rebuild it against this piade's LibTorch\n");
  result = run_piade({"plugins", "inf", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade plugins: unknown subcommand 'inf', did you mean 'info'?\n");
  result = run_piade({"plugins", "list", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "piade plugins: unknown subcommand 'list'; use `piade plugins`, `piade plugins info NAME` or "
            "`piade plugins check [ID...]`\n");
  result = run_piade({"plugins", "info", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade plugins: info: expects one NAME (or KIND/NAME)\n");
  result = run_piade({"config", "extra", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade config: unexpected argument 'extra'; give options only\n");
}

// A component no plugin provides: the command line's message gives the
// reasons of the rejected files and how to add a plugin directory; for a
// checkpoint, also the plugin file it needs, which the checkpoint records.
TEST(CliTest, MissingComponentSaysWhyAndHowToAddAPluginDirectory) {
  const std::string broken_dir = fixture_dir("undefined_symbol").string();
  const std::string broken_file = fixture_file("undefined_symbol").string();
  const auto config = run_piade({"config", "--plugin-dir", good_dir(), "--plugin-dir", broken_dir, "--backbone",
                                 "tiny", "--pooling", "tiny", "--routing", "tiny", "--decoder", "tiny", "--loss", "l1"});
  EXPECT_EQ(config.exit_code, 1);
  // The error is the last line (a warning about the broken file may precede it).
  const std::vector<std::string> config_lines = lines(config.err);
  ASSERT_FALSE(config_lines.empty());
  const std::string& error = config_lines.back();
  EXPECT_EQ(error.rfind("piade config: unknown loss 'l1' (available: ", 0), 0u) << config.err;
  EXPECT_NE(error.find("; 1 plugin library was rejected: " + broken_file + ": cannot be loaded ("), std::string::npos)
      << config.err;
  const std::string hint = "; to add a plugin, pass --plugin-dir DIR or set PIADE_PLUGIN_PATH";
  EXPECT_EQ(error.substr(error.size() - std::min(error.size(), hint.size())), hint) << config.err;

  // A checkpoint of the fixture's tiny parts whose loss is a third-party
  // plugin's, from the broken file.
  test::ScratchDir scratch;
  PluginRegistry registry;
  registry.scan({fixture_dir("good")});
  const auto tiny = [](nlohmann::json params) {
    return nlohmann::json{{"name", "tiny"}, {"version", "1.2.3"}, {"plugin", "tiny"}, {"params", params}};
  };
  nlohmann::json pipeline = {{"backbone", tiny({{"channels", "4"}})},
                             {"pooling", tiny(nlohmann::json::object())},
                             {"routing", tiny({{"vectors", "2"}, {"scale", "0.5"}})},
                             {"decoder", tiny({{"activation", "tanh"}})},
                             {"loss", nlohmann::json::array({tiny({{"weight", "1"}})})}};
  PiadeModel model(registry, pipeline_from_json(registry, pipeline, "test"), ImageShape{1, 8, 8});
  pipeline["loss"][0] = {{"name", "l1"},
                         {"version", "0.1.0"},
                         {"plugin", "l1"},
                         {"file", "fixture_undefined_symbol.so"},
                         {"params", {{"weight", "1"}}}};
  const fs::path checkpoint = scratch / "checkpoint.pt";
  save_checkpoint(checkpoint, model, nullptr,
                  {{"pipeline", pipeline}, {"image", {{"channels", 1}, {"height", 8}, {"width", 8}}}});
  const std::string picture = (scratch / "x.png").string();

  const auto missing = run_piade({"score", "--checkpoint", checkpoint.string(), "--plugin-dir", good_dir(), picture});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "piade score: " + checkpoint.string() +
                             ": the checkpoint needs loss 'l1' 0.1.0 from fixture_undefined_symbol.so, which is not "
                             "loaded: pass --plugin-dir DIR or set PIADE_PLUGIN_PATH\n");
  const auto broken = run_piade(
      {"score", "--checkpoint", checkpoint.string(), "--plugin-dir", good_dir(), "--plugin-dir", broken_dir, picture});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_EQ(broken.err.rfind("piade score: " + checkpoint.string() +
                                 ": the checkpoint needs loss 'l1' 0.1.0 from fixture_undefined_symbol.so, which was "
                                 "rejected: " + broken_file + ": cannot be loaded (",
                             0),
            0u)
      << broken.err;
  EXPECT_NE(broken.err.find("undefined symbol: piade_fixture_missing_function"), std::string::npos) << broken.err;
  EXPECT_EQ(lines(broken.err).size(), 1u) << broken.err;
}

TEST(CliTest, UnknownCommandSuggestsAndExits2) {
  const auto result = run_piade({"plugin", "--plugin-dir", good_dir()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "piade: unknown command 'plugin', did you mean 'plugins'?\n");
  EXPECT_EQ(result.out, "");
  const auto nothing = run_piade({});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_NE(nothing.out.find("usage: piade COMMAND"), std::string::npos) << nothing.out;
}

TEST(CliTest, BadOptionExits1WithOneLine) {
  auto result = run_piade({"plugins", "--jsn"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade plugins: unknown option '--jsn', did you mean '--json'?\n");
  EXPECT_EQ(result.out, "");
  result = run_piade({"config", "--set", "routing.vectors"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade config: --set: expects KEY=VALUE, got 'routing.vectors'\n");
  result = run_piade({"plugins", "--plugin-dir", "/nonexistent/plugins"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade plugins: --plugin-dir: '/nonexistent/plugins' is not a directory\n");
  result = run_piade({"config", "--plugin-dir", good_dir(), "--backbone", "tiny", "--pooling",
                      "tiny", "--routing", "tiny", "--decoder", "tiny", "--loss", "tiny", "--set",
                      "routing.vectors=99"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "piade config: routing/tiny: parameter 'vectors': 99 is out of range [1, 16]\n");
}

// Issue 18's switches for the authors' choices: `piade config` lists them
// with their defaults (and reads its own output back), `plugins info` gives
// their help, and a value outside the choices is one line naming the
// parameter, exit 1.
TEST(CliTest, TheAuthorsSwitchesAreListedAndBadValuesNamed) {
  test::ScratchDir dir;
  const auto listed = run_piade({"config", "--set", "loss.mse.pixel_range=[0,1]", "--set",
                                 "routing.train_vector=longest"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  for (const char* line : {"pixel_range = [0,1]", "pixel_range = [-1,1]", "normalization = imagenet",
                           "train_vector = longest", "stop_gradient = false"})
    EXPECT_TRUE(has_line(listed.out, line)) << line << "\n" << listed.out;
  EXPECT_NE(listed.out.find("\n[loss.mse]\npixel_range = [0,1]\n"), std::string::npos) << listed.out;
  test::write_text(dir / "authors.ini", listed.out);
  const auto again = run_piade({"config", "--config", (dir / "authors.ini").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, listed.out);

  const auto routing = run_piade({"plugins", "info", "routing/dynamic"});
  ASSERT_EQ(routing.exit_code, 0) << routing.err;
  EXPECT_NE(routing.out.find("vector decoded while training: first (vector 0, paper sec. 3.1) or longest"),
            std::string::npos)
      << routing.out;
  EXPECT_NE(routing.out.find("route with detached predictions in the first r-1 iterations"), std::string::npos)
      << routing.out;
  const auto perceptual = run_piade({"plugins", "info", "loss/perceptual"});
  EXPECT_NE(perceptual.out.find("VGG input: imagenet"), std::string::npos) << perceptual.out;

  auto result = run_piade({"config", "--set", "loss.mse.pixel_range=[0,2]"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err.find("piade config: loss/mse: parameter 'pixel_range' must be one of [-1,1], [0,1]; got "
                            "'[0,2]'"),
            0u)
      << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  result = run_piade({"config", "--set", "routing.train_vector=middle"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err.find("piade config: routing/dynamic: parameter 'train_vector' must be one of first, longest; "
                            "got 'middle'"),
            0u)
      << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(CliTest, ConfigOutputReadsBackToTheSameOutput) {
  test::ScratchDir dir;
  const std::vector<std::string> pipeline = {"--plugin-dir", good_dir(), "--backbone", "tiny",
                                             "--pooling", "tiny", "--routing", "tiny",
                                             "--decoder", "tiny"};
  std::vector<std::string> args = {"config"};
  args.insert(args.end(), pipeline.begin(), pipeline.end());
  for (const char* word : {"--loss", "tiny,mse", "--set", "routing.vectors=1", "--set",
                           "loss.mse.weight=0.1", "--decoder.activation=none"})
    args.push_back(word);
  const auto first = run_piade(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("\n# Pipeline\nbackbone = tiny\npooling = tiny\nrouting = tiny\ndecoder = tiny\n"
                           "loss = tiny,mse\n"),
            std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("\n[routing]\nscale = 0.5\nvectors = 1\n"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("\n[decoder]\nactivation = none\n"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("\n[loss.mse]\npixel_range = [-1,1]\nweight = 0.1\n"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("\n[loss.tiny]\nweight = 1\n"), std::string::npos) << first.out;

  test::write_text(dir / "resolved.ini", first.out);
  const auto second =
      run_piade({"config", "--plugin-dir", good_dir(), "--config", (dir / "resolved.ini").string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);

  args.push_back("--json");
  const auto json = run_piade(args);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json config = nlohmann::json::parse(json.out);
  const nlohmann::json& components = config["components"];
  EXPECT_EQ(components["routing"]["name"], "tiny");
  EXPECT_EQ(components["routing"]["version"], "1.2.3");
  EXPECT_EQ(components["routing"]["params"]["vectors"], "1");
  ASSERT_EQ(components["loss"].size(), 2u);
  EXPECT_EQ(components["loss"][1]["name"], "mse");
  EXPECT_EQ(components["loss"][1]["params"]["weight"], "0.1");
  EXPECT_EQ(config["pipeline"]["loss"], (std::vector<std::string>{"tiny,mse"}));
  EXPECT_EQ(config["training"]["epochs"], "400");
  EXPECT_EQ(config["params"]["routing"]["vectors"], "1");
  const auto json_again = run_piade(
      {"config", "--json", "--plugin-dir", good_dir(), "--config", (dir / "resolved.ini").string()});
  ASSERT_EQ(json_again.exit_code, 0) << json_again.err;
  EXPECT_EQ(json_again.out, json.out);
}

// What `piade config` prints (after a few --set) is a file that each of
// the eight commands reads with --config: it takes its own keys from it
// (--show-config prints them with their source) and ignores the others'.
TEST(CliTest, EveryCommandReadsTheFileConfigPrints) {
  test::ScratchDir dir;
  const auto printed = run_piade(
      {"config", "--plugin-dir", good_dir(), "--backbone", "tiny", "--pooling", "tiny", "--routing", "tiny",
       "--decoder", "tiny", "--loss", "tiny", "--set", "epochs=3", "--set", "batch-size=16", "--set",
       "pictures=2", "--set", "train.out=" + (dir / "run").string(), "--set", "bench.repeats=2", "--set",
       "jobs=2", "--set", "score.out=" + (dir / "scores.csv").string(), "--set", "routing.vectors=1", "--set",
       "export.format=safetensors", "--set", "threads=1"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const std::string file = (dir / "all.ini").string();
  test::write_text(file, printed.out);
  const std::string from_file = "  # file " + file;
  const std::map<std::string, std::vector<std::string>> expected = {
      {"train",
       {"epochs = 3" + from_file, "batch-size = 16" + from_file, "out = " + (dir / "run").string() + from_file,
        "vectors = 1" + from_file, "threads = 1" + from_file, "lr = 0.001" + from_file}},
      {"eval", {"pictures = 2" + from_file, "batch-size = 16" + from_file, "threads = 1" + from_file}},
      {"score", {"out = " + (dir / "scores.csv").string() + from_file, "batch-size = 16" + from_file}},
      {"bench", {"repeats = 2" + from_file, "batch-size = 32" + from_file, "vectors = 1" + from_file}},
      {"compare", {"jobs = 2" + from_file, "threads = 1" + from_file}},
      {"export", {"format = safetensors" + from_file, "plugin-dir = " + good_dir() + from_file}},
      {"plugins", {"plugin-dir = " + good_dir() + from_file}},
      {"config", {"epochs = 3" + from_file, "max-fpr = 0.3" + from_file}},
  };
  for (const auto& [command, want] : expected) {
    const auto shown = run_piade({command, "--config", file, "--show-config"});
    ASSERT_EQ(shown.exit_code, 0) << command << ": " << shown.err;
    for (const std::string& line : want) {
      EXPECT_TRUE(has_line(shown.out, line)) << command << ": " << line << " in\n" << shown.out;
    }
    // Keys of other commands are not the command's.
    if (command != "config" && command != "train") {
      EXPECT_EQ(shown.out.find("epochs ="), std::string::npos) << command << ":\n" << shown.out;
    }
  }
  // ... and they act on them: plugins finds the file's plugin directory,
  // config prints the file back unchanged.
  const auto listed = run_piade({"plugins", "--config", file});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find(fixture_file("good").string()), std::string::npos) << listed.out;
  const auto again = run_piade({"config", "--config", file});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, printed.out);
  // The paper's pipeline, whose plugins have empty defaults (`weights =`),
  // reads back the same.
  const auto paper = run_piade({"config"});
  ASSERT_EQ(paper.exit_code, 0) << paper.err;
  test::write_text(dir / "paper.ini", paper.out);
  const auto paper_again = run_piade({"config", "--config", (dir / "paper.ini").string()});
  ASSERT_EQ(paper_again.exit_code, 0) << paper_again.err;
  EXPECT_EQ(paper_again.out, paper.out);

  // A misspelled key is refused by every command, with a suggestion.
  test::write_text(dir / "typo.ini", printed.out.substr(0, printed.out.find("\n[")) + "\nepohcs = 3\n");
  for (const auto& [command, want] : expected) {
    const auto refused = run_piade({command, "--config", (dir / "typo.ini").string(), "--show-config"});
    EXPECT_EQ(refused.exit_code, 1) << command;
    EXPECT_EQ(refused.err, "piade " + command + ": " + (dir / "typo.ini").string() +
                               ": unknown key 'epohcs', did you mean 'epochs'?\n");
  }
}

// Every command's --help: defaults as typed, switches without a value.
TEST(CliTest, HelpShowsDefaultsAsTypedAndSwitchesAsSwitches) {
  const std::regex long_number("[0-9]*\\.?[0-9]{7,}");
  for (const char* command : {"plugins", "config", "train", "score", "eval", "compare", "bench", "export"}) {
    const auto help = run_piade({command, "--help"});
    ASSERT_EQ(help.exit_code, 0) << command << ": " << help.err;
    EXPECT_EQ(help.out.find("[=arg(=1)]"), std::string::npos) << help.out;
    EXPECT_EQ(help.out.find("(=0)"), std::string::npos) << help.out;
    for (const std::string& line : lines(help.out)) {
      const auto at = line.find("default: ");
      if (at == std::string::npos) continue;
      EXPECT_FALSE(std::regex_search(line.substr(at), long_number)) << command << ": " << line;
    }
  }
  const auto train = run_piade({"train", "--help"});
  EXPECT_TRUE(std::regex_search(train.out, std::regex("--resume +continue the run .*\\(a switch\\)"))) << train.out;
  EXPECT_TRUE(std::regex_search(train.out, std::regex("--lr X +Adam learning rate \\(default: 0.001\\)"))) << train.out;
}

}  // namespace
}  // namespace piade
