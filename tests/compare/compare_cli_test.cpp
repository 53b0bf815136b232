// `piade compare` end to end on tiny real grids (Fashion-MNIST, one epoch):
// shards partition the grid and merge back to the table of the whole grid,
// finished runs are skipped, an interrupted run resumes from its
// checkpoint, a failing run does not stop the others, and a malformed grid
// runs nothing.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

extern char** environ;

namespace piade::test {
namespace {

namespace fs = std::filesystem;

const char* const kTinyGrid = R"(# two configurations x one class x two seeds
dataset = fmnist
max-train = 64
max-test = 100
epochs = 1
batch-size = 32
loss = mse,ssim
[axes]
routing.vectors = 2, 1
[compare]
classes = 1
seeds = 0, 1
[eval]
pictures = 1
)";

fs::path write_grid(const fs::path& dir, const std::string& text) {
  const fs::path file = dir / "grid.ini";
  std::ofstream(file) << text;
  return file;
}

nlohmann::json read_json(const fs::path& file) { return nlohmann::json::parse(read_text(file)); }

std::set<std::string> run_hashes(const fs::path& out) {
  std::set<std::string> hashes;
  const nlohmann::json results = read_json(out / "results.json");
  for (const auto& run : results.at("runs")) hashes.insert(run.at("hash").get<std::string>());
  return hashes;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(CompareCli, ShardsMergeBackToTheWholeGridsTableAndFinishedRunsAreSkipped) {
  ScratchDir dir;
  const std::string grid = write_grid(dir.path(), kTinyGrid).string();
  const CommandResult list = run_piade_command({"compare", grid, "--list"});
  ASSERT_EQ(list.status, 0) << list.output;
  EXPECT_NE(list.output.find("4 runs (2 configurations x 1 class x 2 seeds), 4 to do"), std::string::npos)
      << list.output;

  const fs::path a = dir / "a", b = dir / "b", merged = dir / "merged", whole = dir / "whole";
  const CommandResult first = run_piade_command({"compare", grid, "--out", a.string(), "--shard", "1/2", "--jobs", "2"});
  ASSERT_EQ(first.status, 0) << first.output;
  const CommandResult second = run_piade_command({"compare", grid, "--out", b.string(), "--shard", "2/2"});
  ASSERT_EQ(second.status, 0) << second.output;
  const std::set<std::string> in_a = run_hashes(a), in_b = run_hashes(b);
  EXPECT_EQ(in_a.size(), 2u);
  EXPECT_EQ(in_b.size(), 2u);
  for (const std::string& hash : in_a) EXPECT_EQ(in_b.count(hash), 0u) << "a run in both shards";
  EXPECT_EQ(read_json(a / "results.json").at("shard"), "1/2");
  EXPECT_EQ(read_json(a / "results.json").at("runs_in_grid"), 4);

  const CommandResult merge = run_piade_command({"compare", "merge", a.string(), b.string(), "--out", merged.string()});
  ASSERT_EQ(merge.status, 0) << merge.output;
  EXPECT_NE(merge.output.find("merged 4 of the grid's 4 runs"), std::string::npos) << merge.output;

  // The whole grid in a directory that already holds every run: nothing is
  // trained again, and its table is the merged one, byte for byte.
  fs::create_directories(whole);
  for (const fs::path& shard : {a, b})
    fs::copy(shard / "runs", whole / "runs", fs::copy_options::recursive);
  const CommandResult resumed = run_piade_command({"compare", grid, "--out", whole.string()});
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("4 runs (4 finished before)"), std::string::npos) << resumed.output;
  EXPECT_EQ(resumed.output.find("compare: start"), std::string::npos) << resumed.output;
  const std::string table = read_text(whole / "results.csv");
  EXPECT_EQ(read_text(merged / "results.csv"), table);
  EXPECT_EQ(count(table, "\n"), 5u) << table;
  EXPECT_EQ(table.rfind("run_id,config,routing.vectors,class,seed,image_auroc,", 0), 0u) << table;

  // Each row is what its run's own files say.
  const nlohmann::json results = read_json(whole / "results.json");
  ASSERT_EQ(results.at("runs").size(), 4u);
  const std::vector<std::string> configs = {"routing.vectors=2", "routing.vectors=1"};
  for (std::size_t i = 0; i < 4; ++i) {
    const nlohmann::json& run = results.at("runs")[i];
    EXPECT_EQ(run.at("config"), configs[i % 2]);  // grid order: seed, then configuration
    EXPECT_EQ(run.at("seed"), i / 2);
    const fs::path folder = whole / run.at("folder").get<std::string>();
    for (const char* file : {"config.ini", "log.txt", "result.json", "train/checkpoint.pt", "train/train_log.csv",
                             "eval/scores.csv", "eval/roc.csv", "eval/metrics.json"})
      EXPECT_TRUE(fs::exists(folder / file)) << folder / file;
    const nlohmann::json metrics = read_json(folder / "eval" / "metrics.json");
    EXPECT_DOUBLE_EQ(run.at("metrics").at("image_auroc").get<double>(), metrics.at("image_auroc").get<double>());
    EXPECT_EQ(metrics.at("n_normal").get<int>() + metrics.at("n_anomalous").get<int>(), 100);
    EXPECT_GT(run.at("train_images_per_second").get<double>(), 0);
    EXPECT_NE(read_text(folder / "config.ini").find("max-train = 64"), std::string::npos);
  }

  const std::string summary = read_text(whole / "summary.md");
  EXPECT_NE(summary.find("4 of 4 runs"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| routing.vectors=1 | 2 |"), std::string::npos) << summary;  // 2 pairs
  const std::string report = read_text(whole / "report.html");
  EXPECT_EQ(report.find("https://"), std::string::npos);
  EXPECT_EQ(report.find("<script"), std::string::npos);
  EXPECT_EQ(count(report, "<svg"), 1u);  // one class: one chart
  EXPECT_EQ(count(report, "<polyline"), 2u);  // one curve per configuration
  EXPECT_GE(count(report, "data:image/png;base64,"), 2u);
}

TEST(CompareCli, AnInterruptedRunResumesFromItsLastCheckpoint) {
  ScratchDir dir;
  const std::string grid = write_grid(dir.path(), R"(dataset = fmnist
max-train = 32
max-test = 60
epochs = 12
batch-size = 16
checkpoint-every = 1
loss = mse
[compare]
classes = 4
)").string();
  const fs::path out = dir / "out";
  const pid_t pid = spawn_piade({"compare", grid, "--out", out.string(), "--threads", "1"}, dir / "first.log");
  ASSERT_GT(pid, 0);
  // Ctrl-C once the first epoch's checkpoint is there.
  const fs::path runs = out / "runs";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(4);
  bool checkpointed = false;
  while (!checkpointed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::is_directory(runs))
      for (const auto& run : fs::directory_iterator(runs))
        checkpointed = checkpointed || fs::exists(run.path() / "train" / "checkpoint.pt");
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string first = read_text(dir / "first.log");
  ASSERT_TRUE(checkpointed) << first;
  ASSERT_TRUE(WIFEXITED(status)) << first;
  EXPECT_EQ(WEXITSTATUS(status), 130) << first;
  EXPECT_NE(first.find("interrupted: 0 of 1 runs finished"), std::string::npos) << first;
  const fs::path run = fs::directory_iterator(runs)->path();
  EXPECT_FALSE(fs::exists(run / "result.json"));
  ASSERT_TRUE(fs::exists(run / "train" / "checkpoint.pt"));

  const CommandResult second = run_piade_command({"compare", grid, "--out", out.string(), "--list"});
  EXPECT_NE(second.output.find("interrupted"), std::string::npos) << second.output;
  const CommandResult resumed = run_piade_command({"compare", grid, "--out", out.string(), "--threads", "1"});
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(", interrupted before"), std::string::npos) << resumed.output;
  EXPECT_NE(read_text(run / "log.txt").find("--resume"), std::string::npos);
  EXPECT_TRUE(fs::exists(run / "result.json"));
  // Every epoch logged exactly once, in order: the run went on, not over.
  std::ifstream log(run / "train" / "train_log.csv");
  std::string line;
  std::getline(log, line);
  int expected = 1;
  while (std::getline(log, line)) EXPECT_EQ(std::stoi(line), expected++) << line;
  EXPECT_EQ(expected, 13);
}

TEST(CompareCli, AMalformedGridRunsNothingAndAFailingRunDoesNotStopTheOthers) {
  ScratchDir dir;
  const char* const base = "dataset = fmnist\nmax-train = 32\nmax-test = 40\nepochs = 1\nbatch-size = 16\n"
                           "[compare]\nclasses = 2\n";
  // Every configuration is checked before anything runs.
  const std::string refused_grid = write_grid(dir.path(), std::string(base) + "[axes]\nlr = 0.001, -1\n").string();
  const CommandResult refused = run_piade_command({"compare", refused_grid, "--out", (dir / "out").string()});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.output.find("configuration 'lr=-1': --lr: must be positive"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(dir / "out")) << "nothing may run before the whole grid is checked";

  // A run that fails only when it runs (its weights file is missing) is
  // reported with its log; the other finishes and the table holds it.
  const std::string grid = write_grid(dir.path(), std::string(base) + R"([axes]
losses = plain, broken
[losses.plain]
loss = mse
[losses.broken]
loss = mse,perceptual
loss.perceptual.weights = /nonexistent/vgg11.safetensors
)").string();
  const CommandResult failed = run_piade_command({"compare", grid, "--out", (dir / "out").string(), "--jobs", "2"});
  EXPECT_EQ(failed.status, 1) << failed.output;
  EXPECT_EQ(count(failed.output, "run failed: "), 1u) << failed.output;
  EXPECT_NE(failed.output.find("losses=broken"), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find("train exited with status 1; see "), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find("1 of 2 runs"), std::string::npos) << failed.output;
  const std::string table = read_text(dir / "out" / "results.csv");
  EXPECT_EQ(count(table, "\n"), 2u) << table;
  EXPECT_NE(table.find("losses=plain"), std::string::npos) << table;
}

}  // namespace
}  // namespace piade::test
