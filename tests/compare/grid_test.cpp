// Grid files: reading, expansion into runs (axes, named sets, classes,
// seeds), the run hashes, shards, and the errors a malformed grid gets
// before anything runs.
#include <algorithm>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "cli/cli.h"  // command_tables(): what piade compare hands the grid engine
#include "piade/compare/grid.h"
#include "piade/core/error.h"
#include "piade/core/plugin_registry.h"
#include "tests/support/scratch_dir.h"

namespace piade::compare {
namespace {

namespace fs = std::filesystem;

const PluginRegistry& registry() {
  static const PluginRegistry scanned = [] {
    PluginRegistry r;
    r.scan({fs::path(PIADE_BUILD_PLUGIN_DIR)});
    return r;
  }();
  return scanned;
}

class GridTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text, const std::string& name = "grid.ini") {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }
  std::vector<RunSpec> expand(const std::string& text, const GridOverrides& overrides = {}) {
    return expand_grid(read_grid(write(text), overrides, command_tables()), registry(), command_tables());
  }
  // The message of the piade::Error that reading and expanding throws.
  std::string error_of(const std::string& text, const GridOverrides& overrides = {}) {
    try {
      expand(text, overrides);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  test::ScratchDir dir_;
};

const char* const kTwoAxes = R"(
# base
dataset = fmnist
epochs = 2
loss = mse,ssim
[routing]
iterations = 3

[axes]
routing.vectors = 2, 1
backbone = se_resnet18, resnet18

[compare]
classes = 1, 7
seeds = 0, 5
)";

TEST_F(GridTest, ExpandsClassesSeedsAndTheProductOfAxesFirstAxisSlowest) {
  const std::vector<RunSpec> runs = expand(kTwoAxes);
  ASSERT_EQ(runs.size(), 2u * 2u * 2u * 2u);
  const std::vector<std::string> configs = {
      "routing.vectors=2 backbone=se_resnet18", "routing.vectors=2 backbone=resnet18",
      "routing.vectors=1 backbone=se_resnet18", "routing.vectors=1 backbone=resnet18"};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunSpec& run = runs[i];
    EXPECT_EQ(run.index, i);
    EXPECT_EQ(run.config, configs[i % 4]);
    EXPECT_EQ(run.normal_class, i < 8 ? "1" : "7");
    EXPECT_EQ(run.seed, (i / 4) % 2 == 0 ? 0u : 5u);
    // Every setting a run trains with: base, axis values, class, seed.
    EXPECT_EQ(run.train.at("epochs"), "2");
    EXPECT_EQ(run.train.at("routing.iterations"), "3");
    EXPECT_EQ(run.train.at("loss"), "mse,ssim");
    EXPECT_EQ(run.train.at("normal-class"), run.normal_class);
    EXPECT_EQ(run.train.at("seed"), std::to_string(run.seed));
    EXPECT_EQ(run.train.at("routing.vectors"), run.axis_values.at(0).second);
    EXPECT_EQ(run.train.at("backbone"), run.axis_values.at(1).second);
    EXPECT_EQ(run.axis_values.at(0).first, "routing.vectors");
  }
  const Comparison comparison = comparison_of(read_grid(write(kTwoAxes), {}, command_tables()), runs);
  EXPECT_EQ(comparison.configs, configs);  // the baseline, all first values, leads
  EXPECT_EQ(comparison.classes, (std::vector<std::string>{"1", "7"}));
  EXPECT_EQ(comparison.seeds, (std::vector<uint64_t>{0, 5}));
  EXPECT_EQ(comparison.metric, "image_auroc");
}

TEST_F(GridTest, EveryRunHasItsOwnStableHashAndFolder) {
  const std::vector<RunSpec> runs = expand(kTwoAxes);
  std::set<std::string> hashes, ids;
  for (const RunSpec& run : runs) {
    EXPECT_EQ(run.hash.size(), 16u);
    hashes.insert(run.hash);
    ids.insert(run.run_id);
    EXPECT_NE(run.run_id.find(run.hash.substr(0, 8)), std::string::npos);
    EXPECT_EQ(run.run_id.find('/'), std::string::npos);
    EXPECT_EQ(run.run_id.find(' '), std::string::npos);
  }
  EXPECT_EQ(hashes.size(), runs.size());
  EXPECT_EQ(ids.size(), runs.size());
  // The same file gives the same hashes; FNV-1a's published value of "a".
  const std::vector<RunSpec> again = expand(kTwoAxes);
  for (std::size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(again[i].hash, runs[i].hash);
  EXPECT_EQ(stable_hash("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(stable_hash(""), "cbf29ce484222325");

  // A changed setting changes every hash; where the data lies does not.
  const std::vector<RunSpec> longer = expand(kTwoAxes,
                                             GridOverrides{{"epochs=3"}, "", ""});
  const std::vector<RunSpec> moved = expand(kTwoAxes, GridOverrides{{"data-root=/elsewhere"}, "", ""});
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_NE(longer[i].hash, runs[i].hash);
    EXPECT_EQ(moved[i].hash, runs[i].hash);
    EXPECT_EQ(moved[i].train.at("data-root"), "/elsewhere");
  }
}

TEST_F(GridTest, NamedSetsAndPlusJoinedLossesVarySeveralSettingsAtOnce) {
  const std::vector<RunSpec> runs = expand(R"(
epochs = 1
[axes]
losses = plain, weighted
loss = mse, mse+ssim
[losses.plain]
routing.vectors = 2
[losses.weighted]
routing.vectors = 1
lr = 0.01
[compare]
classes = 3
)");
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].config, "losses=plain loss=mse");
  EXPECT_EQ(runs[1].config, "losses=plain loss=mse+ssim");
  EXPECT_EQ(runs[1].train.at("loss"), "mse,ssim");
  EXPECT_EQ(runs[0].train.count("lr"), 0u);
  EXPECT_EQ(runs[3].config, "losses=weighted loss=mse+ssim");
  EXPECT_EQ(runs[3].train.at("routing.vectors"), "1");
  EXPECT_EQ(runs[3].train.at("lr"), "0.01");
  EXPECT_EQ(runs[3].seed, 0u);  // no seeds: seed 0, as piade train
}

TEST_F(GridTest, AllClassesAndTheCommandLineOverrides) {
  const char* const grid = "[axes]\nrouting.vectors = 2, 1\n[compare]\nclasses = all\nseeds = 4\n";
  std::vector<RunSpec> runs = expand(grid);
  ASSERT_EQ(runs.size(), 20u);
  EXPECT_EQ(runs.front().normal_class, "0");
  EXPECT_EQ(runs.back().normal_class, "9");
  EXPECT_EQ(runs.back().seed, 4u);

  runs = expand(grid, GridOverrides{{"epochs=1", "max-train=64"}, "3", "2,5"});
  ASSERT_EQ(runs.size(), 2u * 3u * 2u);
  EXPECT_EQ(runs[0].train.at("epochs"), "1");
  EXPECT_EQ(runs[0].train.at("max-train"), "64");
  std::set<uint64_t> seeds;
  std::set<std::string> classes;
  for (const RunSpec& run : runs) {
    seeds.insert(run.seed);
    classes.insert(run.normal_class);
  }
  EXPECT_EQ(seeds, (std::set<uint64_t>{0, 1, 2}));  // --seeds 3: 0..2
  EXPECT_EQ(classes, (std::set<std::string>{"2", "5"}));
  EXPECT_EQ(expand(grid, GridOverrides{{}, "7,3", ""}).back().seed, 3u);  // a list: exactly those
}

TEST_F(GridTest, MvtecClassesAreCategoriesAndAllMeansTheFoldersOfTheDataRoot) {
  for (const char* category : {"carpet", "bottle"}) fs::create_directories(dir_ / "mvtec" / category / "train" / "good");
  fs::create_directories(dir_ / "mvtec" / "notes");
  const std::vector<RunSpec> runs =
      expand("dataset = mvtec\ndata-root = " + (dir_ / "mvtec").string() + "\n[compare]\nclasses = all\n");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].normal_class, "bottle");
  EXPECT_EQ(runs[0].train.at("category"), "bottle");
  EXPECT_EQ(runs[0].train.count("normal-class"), 0u);
  EXPECT_EQ(runs[1].train.at("category"), "carpet");
  EXPECT_EQ(runs[0].config, "base");
}

TEST_F(GridTest, ShardsPartitionTheGridAndEachGetsEveryConfiguration) {
  const std::vector<RunSpec> runs = expand(kTwoAxes);
  for (int n : {1, 2, 3, 5, 16, 40}) {
    std::vector<std::size_t> seen;
    for (int k = 1; k <= n; ++k) {
      const std::vector<RunSpec> shard = shard_of(runs, k, n);
      const std::size_t expected = runs.size() / n + (static_cast<std::size_t>(k - 1) < runs.size() % n ? 1 : 0);
      EXPECT_EQ(shard.size(), expected) << k << "/" << n;
      for (const RunSpec& run : shard) seen.push_back(run.index);
    }
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(seen.size(), runs.size()) << "n = " << n;
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i) << "n = " << n;
  }
  EXPECT_EQ(parse_shard("2/4"), std::make_pair(2, 4));
  for (const char* bad : {"0/2", "3/2", "2", "a/b", "1/0", "1/2/3", "-1/2", "1/2x"})
    EXPECT_THROW(parse_shard(bad), Error) << bad;
}

TEST_F(GridTest, AThirdPartyPluginOnThePluginPathCanBeOnAnAxis) {
  // The fixture plugin of tests/core (case "good", a "tiny" component of
  // every kind, in a directory of its own) stands for a third-party one.
  PluginRegistry with_fixture;
  with_fixture.scan({fs::path(PIADE_BUILD_PLUGIN_DIR), fs::path(PIADE_TEST_FIXTURE_DIR) / "good"});
  const Grid grid = read_grid(write("[axes]\nbackbone = se_resnet18, tiny\n[compare]\nclasses = 0\n"), {}, command_tables());
  const auto& backbones = with_fixture.components(Kind::backbone);
  const bool has_fixture = std::any_of(backbones.begin(), backbones.end(),
                                       [](const ComponentInfo* c) { return c->name == "tiny"; });
  ASSERT_TRUE(has_fixture) << "the fixture plugin declares no backbone named 'tiny'";
  EXPECT_EQ(expand_grid(grid, with_fixture, command_tables()).size(), 2u);
  EXPECT_THROW(expand_grid(grid, registry(), command_tables()), Error);  // not on the default path
}

struct BadGrid {
  const char* name;
  std::string text;
  std::string message;  // a part of the error
};

TEST_F(GridTest, MalformedGridsAreRefusedWithAMessageNamingTheKey) {
  const std::string classes = "\n[compare]\nclasses = 0\n";
  const std::vector<BadGrid> cases = {
      {"typo in a base key", "epoch = 3" + classes, "unknown key 'epoch', did you mean 'epochs'?"},
      {"unknown axis", "[axes]\nbackbones = a, b" + classes, "axis 'backbones' is neither a setting"},
      {"empty axis value", "[axes]\nrouting.vectors = 2, , 1" + classes, "axis 'routing.vectors' has an empty value"},
      {"value twice", "[axes]\nrouting.vectors = 2, 2" + classes, "lists '2' twice"},
      {"unknown plugin", "[axes]\nbackbone = se_resnet18, resnet99" + classes, "resnet99"},
      {"parameter out of range", "[axes]\nrouting.vectors = 2, 0" + classes, "configuration 'routing.vectors=0'"},
      {"unknown parameter", "[axes]\nrouting.vector = 2, 1" + classes, "vector"},
      {"bad option value", "epochs = 0" + classes, "--epochs: must be at least 1"},
      {"threads in a grid", "threads = 4" + classes, "'threads' cannot be set in a grid"},
      {"nproc in a grid", "nproc = 2" + classes, "'nproc' cannot be set in a grid"},
      {"dist-timeout on an axis", "[axes]\ndist-timeout = 30, 60" + classes, "dist-timeout"},
      {"device in a grid", "device = cuda" + classes, "give --device to piade compare"},
      {"seed in the base", "seed = 3" + classes, "list it in [compare] seeds"},
      {"class in the base", "normal-class = 3" + classes, "list it in [compare] classes"},
      {"named value without section", "[axes]\nsets = a, b\n[sets.a]\nlr = 0.1" + classes, "has no section [sets.b]"},
      {"section of no value", "[axes]\nsets = a\n[sets.a]\nlr = 0.1\n[sets.c]\nlr = 0.2" + classes,
       "section [sets.c] is not a value of axis 'sets'"},
      {"two axes, one setting", "[axes]\nlr = 0.1, 0.2\nsets = a\n[sets.a]\nlr = 0.3" + classes,
       "'lr' is set by both axis 'lr' and axis 'sets'"},
      {"unknown metric", "[compare]\nclasses = 0\nmetric = auroc", "metric 'auroc' is not one piade eval writes"},
      {"no classes", "epochs = 1", "no classes"},
      {"class out of range", "[compare]\nclasses = 0, 12", "'12' is not a class of fmnist"},
      {"class twice", "[compare]\nclasses = 1, 1", "class '1' is listed twice"},
      {"bad seed", "[compare]\nclasses = 1\nseeds = 0, x", "'x' is not a seed"},
      {"folder with classes", "dataset = folder\n[compare]\nclasses = 1", "a folder dataset has no classes"},
      {"unknown compare key", "[compare]\nclasses = 1\nseed = 3", "unknown key 'seed' in [compare], did you mean 'seeds'?"},
      {"unknown eval key", "[eval]\npicture = 2" + classes, "picture"},
      {"eval seed", "[eval]\nseed = 2" + classes, "'seed' cannot be set in [eval]"},
      {"unselected loss parameter", "loss = mse\nloss.ssim.weight = 2" + classes, "loss 'ssim', which is not selected"},
  };
  for (const BadGrid& bad : cases) {
    const std::string message = error_of(bad.text);
    EXPECT_NE(message.find(bad.message), std::string::npos) << bad.name << ": " << message;
  }
  EXPECT_NE(error_of("[axes]\nrouting.vectors = 2, 1" + classes, GridOverrides{{"routing.vectors=1"}, "", ""})
                .find("'routing.vectors' is an axis of the grid"),
            std::string::npos);
  EXPECT_NE(error_of(classes, GridOverrides{{}, "0", ""}).find("--seeds: needs at least 1 seed"), std::string::npos);
  EXPECT_NE(error_of(classes, GridOverrides{{}, "", "11"}).find("--classes: '11' is not a class"), std::string::npos);
  EXPECT_THROW(read_grid((dir_ / "missing.ini").string(), {}, command_tables()), Error);
}

// Issue 16: a grid too large to expand is refused before any run is built,
// with the limit in the message; the same value in two spellings is not two
// runs; a key given twice names both lines; a UTF-8 byte-order mark is skipped.
TEST_F(GridTest, AGridOfMoreRunsThanTheLimitIsRefusedBeforeItIsBuilt) {
  const std::string classes = "\n[compare]\nclasses = 0\n";
  const std::string limit = std::to_string(kMaxGridRuns);
  const std::string seeds = error_of(classes, GridOverrides{{}, "1000000000000", ""});
  EXPECT_NE(seeds.find("--seeds: 1000000000000 seeds is more runs than a grid may have (at most " + limit + ")"),
            std::string::npos)
      << seeds;
  // Nine axes of ten values: 1e9 configurations.
  std::string axes = "[axes]\n";
  for (const char* key : {"epochs", "batch-size", "lr", "routing.vectors", "routing.iterations", "max-train",
                          "max-test", "image-size", "pooling.levels"})
    axes += std::string(key) + " = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n";
  const std::string big = error_of(axes + classes);
  EXPECT_NE(big.find("the grid expands to more than " + limit + " runs (10 values of 'epochs' x "),
            std::string::npos)
      << big;
  EXPECT_NE(big.find("x 1 classes x 1 seeds)"), std::string::npos) << big;
}

TEST_F(GridTest, TheSameValueInTwoSpellingsIsRefusedNamingBoth) {
  const std::string classes = "\n[compare]\nclasses = 0\n";
  const std::string message = error_of("[axes]\nepochs = 2, 02" + classes);
  EXPECT_NE(message.find("axis 'epochs' lists '2' and '02', the same value written twice"), std::string::npos)
      << message;
  EXPECT_NE(error_of("[axes]\nlr = 0.1, 0.10" + classes).find("lists '0.1' and '0.10'"), std::string::npos);
  // Different values stay different.
  EXPECT_EQ(expand("[axes]\nepochs = 2, 20" + classes).size(), 2u);
}

TEST_F(GridTest, AKeyGivenTwiceIsRefusedNamingTheFileTheKeyAndBothLines) {
  const std::string file = write("epochs = 2\n[routing]\niterations = 3\n# a comment\niterations = 4\n[compare]\n"
                                 "classes = 0\n");
  try {
    read_grid(file, {}, command_tables());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": 'routing.iterations' is given twice (lines 3 and 5); keep one");
  }
}

// tests/fuzz/fuzz_grid's timeout: boost's message for a line that is not
// "key = value" substitutes the line for its placeholder "%invalid_line%"
// until none is left, forever when the line holds that placeholder itself.
TEST_F(GridTest, ALineThatIsNoKeyValuePairIsNamedWithItsNumberEvenWhenItHoldsBoostsPlaceholder) {
  const std::string file = write("epochs = 2\nramgenut ('%invalid_line%%lue%'ue%'):e\n");
  try {
    read_grid(file, {}, command_tables());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ": line 2 is not 'key = value', a [section] or a # comment: "
                                            "'ramgenut ('%invalid_line%%lue%'ue%'):e'");
  }
}

TEST_F(GridTest, AByteOrderMarkAtTheStartIsSkipped) {
  const Grid grid = read_grid(write("\xEF\xBB\xBF" "epochs = 2\n[compare]\nclasses = 0\n"), {}, command_tables());
  EXPECT_EQ(grid.base.at("epochs"), "2");
}

}  // namespace
}  // namespace piade::compare

namespace piade::compare {
namespace {

// [compare] reference: a CSV of published numbers beside the grid file.
class ReferenceTest : public GridTest {
 protected:
  // Reads a grid of dataset `dataset` whose reference file holds `csv`.
  Grid read(const std::string& csv, const std::string& dataset = "cifar10") {
    write(csv, "paper.csv");
    return read_grid(write("dataset = " + dataset + "\n[compare]\nclasses = 0, 1\nreference = paper.csv\n"), {},
                     command_tables());
  }
  std::string reference_error(const std::string& csv, const std::string& dataset = "cifar10") {
    try {
      read(csv, dataset);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(ReferenceTest, ReadsRowsInAnyColumnOrderWithCommentsQuotesAndAMeanRow) {
  const Grid grid = read("# Table 2\n\nvalue, class ,metric,source\n0.751,0,image_auroc,\"Table 2, airplane\"\n"
                         "0.675,mean,image_auroc,Table 2\n0.5,3,best_tnr,\n");
  EXPECT_EQ(grid.reference_file, "paper.csv");
  ASSERT_EQ(grid.reference.size(), 3u);
  EXPECT_EQ(grid.reference[0].normal_class, "0");
  EXPECT_EQ(grid.reference[0].metric, "image_auroc");
  EXPECT_DOUBLE_EQ(grid.reference[0].value, 0.751);
  EXPECT_EQ(grid.reference[0].source, "Table 2, airplane");
  EXPECT_EQ(grid.reference[1].normal_class, kReferenceMean);
  // A class of the dataset outside the grid's classes is allowed: the grid
  // may run fewer classes than the paper.
  EXPECT_EQ(grid.reference[2].normal_class, "3");
  const std::vector<RunSpec> runs = expand_grid(grid, registry(), command_tables());
  const Comparison comparison = comparison_of(grid, runs);
  EXPECT_EQ(comparison.reference.size(), 3u);
  EXPECT_EQ(comparison.reference_file, "paper.csv");
  // The runs are the same with or without a reference: their hashes too.
  const Grid plain = read_grid(write("dataset = cifar10\n[compare]\nclasses = 0, 1\n"), {}, command_tables());
  EXPECT_EQ(grid_hash(grid, runs), grid_hash(plain, expand_grid(plain, registry(), command_tables())));
}

TEST_F(ReferenceTest, MvtecReferencesNameItsFifteenCategoriesAndCoilItsObjects) {
  write("class,metric,value\nbottle,best_tnr,0.87\nmetal_nut,best_tpr,0.78\n", "paper.csv");
  const Grid mvtec = read_grid(write("dataset = mvtec\n[compare]\nclasses = bottle, mine\nreference = paper.csv\n"),
                               {}, command_tables());
  EXPECT_EQ(mvtec.reference.size(), 2u);
  EXPECT_NE(reference_error("class,metric,value\nbotle,best_tnr,0.87\n", "mvtec")
                .find(":2: unknown class 'botle', did you mean 'bottle'?"),
            std::string::npos);
  EXPECT_EQ(reference_error("class,metric,value\n100,image_auroc,1\n", "coil100"), "(no error)");
  EXPECT_NE(reference_error("class,metric,value\n101,image_auroc,1\n", "coil100").find("unknown class '101'"),
            std::string::npos);
}

TEST_F(ReferenceTest, ABadFileIsRefusedNamingTheFileAndLine) {
  const std::string file = (dir_ / "paper.csv").string();
  const auto expect_error = [&](const std::string& csv, const std::string& message) {
    EXPECT_EQ(reference_error(csv), file + message) << csv;
  };
  expect_error("class,metric,value\n# comment\ncat,image_auroc,0.5\n",
               ":3: unknown class 'cat'; give a class of the grid's dataset or 'mean' for the mean over classes");
  expect_error("class,metric,value\n0,image_aucroc,0.5\n",
               ":2: metric 'image_aucroc' is not one piade eval writes, did you mean 'image_auroc'?");
  expect_error("class,metric,value\n0,image_auroc,0.5x\n", ":2: value '0.5x' is not a number in [0, 1] (write 0.751, "
                                                            "not 75.1%)");
  expect_error("class,metric,value\n0,image_auroc,75.1\n", ":2: value '75.1' is not a number in [0, 1] (write 0.751, "
                                                            "not 75.1%)");
  expect_error("class,metric,value\n0,image_auroc,nan\n", ":2: value 'nan' is not a number in [0, 1] (write 0.751, "
                                                           "not 75.1%)");
  expect_error("class,value\n0,0.5\n", ":1: the header has no 'metric' column; it names class, metric, value and "
                                       "optionally source");
  expect_error("class,metric,value,year\n", ":1: unknown column 'year' in the header; the columns are class, metric, "
                                            "value and optionally source");
  expect_error("class,metric,value\n0,image_auroc\n", ":2: 2 fields, the header has 3");
  expect_error("class,metric,value\n0,image_auroc,0.5\n0,image_auroc,0.6\n",
               ":3: class '0', metric 'image_auroc' is given twice; keep one");
  expect_error("class,metric,value,source\n0,image_auroc,0.5,\"Table 2\n", ":2: a quoted field is not closed");
  expect_error("class,metric,value\n", ": a header but no rows; give at least one published number");
  expect_error("# only a comment\n", ": no header (class,metric,value[,source]) and no rows");

  std::filesystem::remove(dir_ / "paper.csv");
  EXPECT_EQ(error_of("dataset = cifar10\n[compare]\nclasses = 0\nreference = paper.csv\n"),
            "reference file '" + file + "': cannot be read; give a CSV of class,metric,value");
  EXPECT_EQ(error_of("dataset = cifar10\n[compare]\nclasses = 0\nreference = /dev/zero\n"),
            "reference file '/dev/zero': not a regular file; give a CSV of class,metric,value");
  EXPECT_NE(error_of("dataset = cifar10\n[compare]\nclasses = 0\nreference = ../paper.csv\n")
                .find("reference '../paper.csv': give a path below the grid's folder or an absolute one"),
            std::string::npos);
}

}  // namespace
}  // namespace piade::compare
