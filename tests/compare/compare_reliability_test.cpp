// Reliability of `piade compare` as a process (issue 16, "Processes";
// docs/reliability.md): one compare per --out at a time, its runs die with
// it, and a rerun after `kill -9` ends exactly where an uninterrupted
// comparison does, with no temporary file left.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// One run of three epochs, a checkpoint after each: long enough to be
// caught while it trains, short enough for a test.
const char* const kGrid = R"(dataset = fmnist
max-train = 16
max-test = 20
epochs = 3
batch-size = 8
backbone = resnet18
checkpoint-every = 1
loss = mse
[compare]
classes = 1
)";

fs::path write_grid(const fs::path& dir) {
  const fs::path file = dir / "grid.ini";
  write_text(file, kGrid);
  return file;
}

// The only run's folder under DIR/runs ("" while there is none).
fs::path run_folder(const fs::path& out) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out / "runs", ec)) return entry.path();
  return {};
}

// Every temporary file (".NAME.tmp-PID") under `dir`.
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) found.push_back(entry.path().string());
  return found;
}

// The processes whose parent is `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string stat = read_text(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent) children.push_back(static_cast<pid_t>(std::stol(entry.path().filename().string())));
  }
  return children;
}

// Whether `pid` no longer runs: gone, or a zombie waiting for its new parent.
bool ended(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close == std::string::npos || stat.substr(close + 2, 1) == "Z";
}

// The training log without its timing columns (images_per_second, seconds).
std::string losses_of(const fs::path& train_log) {
  std::string kept;
  for (const std::string& line : lines(read_text(train_log))) {
    std::string row = line;
    for (int i = 0; i < 2; ++i) row = row.substr(0, row.rfind(','));
    kept += row + "\n";
  }
  return kept;
}

std::vector<std::string> compare_args(const fs::path& grid, const fs::path& out) {
  return {"compare", grid.string(), "--out", out.string(), "--threads", "1"};
}

TEST(CompareReliability, ASecondCompareOnTheSameDirectoryIsRefusedNamingTheHolder) {
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path()), out = dir / "out";
  const pid_t first = spawn_piade(compare_args(grid, out), dir / "first.log");
  ASSERT_GT(first, 0);
  const std::string holder = "pid " + std::to_string(first) + " on ";
  // Once the lock file names the first compare, it holds the directory.
  ASSERT_TRUE(wait_until([&] { return read_text(out / ".piade-compare.lock").find(holder) != std::string::npos; },
                         120s))
      << read_text(dir / "first.log");
  const CommandResult second = run_piade_command(compare_args(grid, out));
  const CommandResult list = run_piade_command({"compare", grid.string(), "--out", out.string(), "--list"});
  const int first_status = wait_for(first);
  const std::string first_log = read_text(dir / "first.log");

  EXPECT_EQ(second.status, 1) << second.output;
  EXPECT_NE(second.output.find("piade compare: --out: '" + out.string() + "' is in use by another piade compare (" +
                               holder),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("compare " + grid.string() + " --out " + out.string()), std::string::npos)
      << "the holder's command line: " << second.output;
  EXPECT_EQ(lines(second.output).size(), 1u) << second.output;
  EXPECT_EQ(list.status, 0) << "--list only reads and is not blocked: " << list.output;

  // The first ran alone: every epoch logged once, in order, and one train
  // and one eval in the run's log.
  ASSERT_EQ(first_status, 0) << first_log;
  const fs::path run = run_folder(out);
  EXPECT_TRUE(fs::exists(run / "result.json"));
  const std::vector<std::string> rows = lines(read_text(run / "train" / "train_log.csv"));
  ASSERT_EQ(rows.size(), 4u) << read_text(run / "train" / "train_log.csv");
  for (int epoch = 1; epoch <= 3; ++epoch) EXPECT_EQ(std::stoi(rows[epoch]), epoch) << rows[epoch];
  const std::vector<std::string> steps = lines(read_text(run / "log.txt"));
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(), [](const std::string& l) { return l.rfind("== piade compare", 0) == 0; }),
            2) << read_text(run / "log.txt");
  EXPECT_EQ(temporaries(out), std::vector<std::string>{});
}

TEST(CompareReliability, KillingCompareEndsItsRunsAndARerunEndsAsAnUninterruptedOne) {
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path()), reference = dir / "reference", out = dir / "out";
  const CommandResult uninterrupted = run_piade_command(compare_args(grid, reference));
  ASSERT_EQ(uninterrupted.status, 0) << uninterrupted.output;

  const pid_t compare = spawn_piade(compare_args(grid, out), dir / "killed.log");
  ASSERT_GT(compare, 0);
  // kill -9 while the run trains: after its first checkpoint, before its last.
  ASSERT_TRUE(wait_until([&] { return fs::exists(run_folder(out) / "train" / "checkpoint.pt"); }, 240s))
      << read_text(dir / "killed.log");
  const std::vector<pid_t> children = children_of(compare);
  ASSERT_EQ(::kill(compare, SIGKILL), 0);
  EXPECT_EQ(wait_for(compare), 128 + SIGKILL);
  ASSERT_FALSE(children.empty()) << "no run was training";
  EXPECT_FALSE(fs::exists(run_folder(out) / "result.json")) << "the run had finished before the kill";
  for (const pid_t child : children)
    EXPECT_TRUE(wait_until([&] { return ended(child); }, 10s)) << "child " << child << " outlived compare";
  // Ended by the kill, not by finishing: a run that outlived compare would
  // have logged all three epochs.
  EXPECT_LT(lines(read_text(run_folder(out) / "train" / "train_log.csv")).size(), 4u);

  const CommandResult rerun = run_piade_command(compare_args(grid, out));
  ASSERT_EQ(rerun.status, 0) << rerun.output;
  EXPECT_NE(rerun.output.find(", interrupted before"), std::string::npos) << rerun.output;
  const fs::path run = run_folder(out), reference_run = run_folder(reference);
  EXPECT_EQ(losses_of(run / "train" / "train_log.csv"), losses_of(reference_run / "train" / "train_log.csv"));
  EXPECT_EQ(read_text(run / "eval" / "scores.csv"), read_text(reference_run / "eval" / "scores.csv"));
  const nlohmann::json metrics = nlohmann::json::parse(read_text(run / "eval" / "metrics.json"));
  const nlohmann::json expected = nlohmann::json::parse(read_text(reference_run / "eval" / "metrics.json"));
  EXPECT_EQ(metrics.at("image_auroc"), expected.at("image_auroc"));
  EXPECT_EQ(temporaries(out), std::vector<std::string>{});
}

}  // namespace
}  // namespace piade::test
