// `piade compare --slurm` (issue 17, part 2; docs/scale-out.md): the
// scripts it writes, sbatch's errors, and whole grids on a real single-node
// Slurm cluster (tests/support/slurm_cluster.h) that merge to the results
// of a local run, report their progress with --status, and are submitted
// again with only their unfinished runs.
#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "piade/compare/slurm.h"
#include "piade/core/error.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/slurm_cluster.h"

namespace piade::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Two configurations x one class x one seed, one short epoch each.
const char* const kGrid = R"(dataset = fmnist
max-train = 32
max-test = 40
epochs = 1
batch-size = 16
loss = mse
[axes]
routing.vectors = 2, 1
[compare]
classes = 1
)";

// One run that finishes and one that fails when it trains (its weights
// file is missing): what a resubmission has left to do.
const char* const kGridWithAFailure = R"(dataset = fmnist
max-train = 32
max-test = 40
epochs = 1
batch-size = 16
[axes]
losses = plain, broken
[losses.plain]
loss = mse
[losses.broken]
loss = mse,perceptual
loss.perceptual.weights = /nonexistent/vgg11.safetensors
[compare]
classes = 1
)";

fs::path write_grid(const fs::path& dir, const std::string& text) {
  const fs::path file = dir / "grid.ini";
  write_text(file, text);
  return file;
}

nlohmann::json read_json(const fs::path& file) { return nlohmann::json::parse(read_text(file)); }

// The first number after `label` in `text` ("" when there is none).
std::string number_after(const std::string& text, const std::string& label) {
  std::smatch match;
  return std::regex_search(text, match, std::regex(label + " ([0-9]+)")) ? match[1].str() : "";
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// --- the scripts, without a cluster -------------------------------------

compare::SlurmPlan plan_of_two_runs() {
  compare::SlurmPlan plan;
  plan.job_name = "piade-grid";
  plan.out_dir = "/shared/out dir";
  plan.workdir = "/shared/work";
  plan.log_dir = "/shared/out dir/slurm/logs";
  plan.run_ids = {"c1-s0-a", "c1-s0-b"};
  plan.task_command = {"/opt/piade/bin/piade", "compare", "/shared/out dir/grid.ini", "--out", "/shared/out dir",
                       "--threads", "4"};
  plan.merge_command = {"/opt/piade/bin/piade", "compare", "/shared/out dir/grid.ini", "--out", "/shared/out dir",
                        "--tables-only"};
  return plan;
}

TEST(SlurmScript, TheArrayHasOneTaskPerRunWithTheOptionsAsSbatchLines) {
  compare::SlurmOptions options;
  options.partition = "gpu";
  options.time = "2:00:00";
  options.cpus = 4;
  options.gpus = "1";
  options.account = "vision";
  options.extra = {"--mem=16G", "--qos=long"};
  const std::string script = compare::array_script(options, plan_of_two_runs());
  for (const char* line :
       {"#SBATCH --array=0-1\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=2:00:00\n",
        "#SBATCH --cpus-per-task=4\n", "#SBATCH --gpus-per-task=1\n", "#SBATCH --account=vision\n",
        "#SBATCH --mem=16G\n", "#SBATCH --qos=long\n", "#SBATCH --chdir=/shared/work\n",
        "#SBATCH --output='/shared/out dir/slurm/logs/run-%A_%a.out'\n", "  c1-s0-a\n  c1-s0-b\n",
        "exec /opt/piade/bin/piade compare '/shared/out dir/grid.ini' --out '/shared/out dir' --threads 4 --run "
        "\"${runs[$SLURM_ARRAY_TASK_ID]}\"\n"})
    EXPECT_NE(script.find(line), std::string::npos) << line << " missing from:\n" << script;
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u);

  // The merge: one CPU and no GPU, the same partition, account and extras.
  const std::string merge = compare::merge_script(options, plan_of_two_runs());
  EXPECT_NE(merge.find("#SBATCH --cpus-per-task=1\n"), std::string::npos) << merge;
  EXPECT_EQ(merge.find("gpus"), std::string::npos) << merge;
  EXPECT_EQ(merge.find("--array"), std::string::npos) << merge;
  EXPECT_NE(merge.find("#SBATCH --partition=gpu\n"), std::string::npos) << merge;
  EXPECT_NE(merge.find("#SBATCH --mem=16G\n"), std::string::npos) << merge;
  EXPECT_NE(merge.find("--tables-only\n"), std::string::npos) << merge;
}

TEST(SlurmScript, ALineBreakInAnOptionIsRefusedNamingTheOption) {
  compare::SlurmOptions options;
  options.extra = {"--mem=1G\nrm -rf /"};
  try {
    compare::array_script(options, plan_of_two_runs());
    FAIL() << "a line break reached the script";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--slurm-sbatch: "), std::string::npos) << e.what();
  }
}

TEST(SlurmScript, WithoutSbatchOnThePathTheErrorSaysSo) {
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path(), kGrid);
  const CommandResult result = run_command("env PATH=/nonexistent " +
                                           detail::piade_words({"compare", grid.string(), "--out",
                                                                (dir / "out").string(), "--slurm"}));
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_EQ(lines(result.output).size(), 1u) << result.output;
  EXPECT_NE(result.output.find("piade compare: sbatch: not found on PATH"), std::string::npos) << result.output;
  EXPECT_TRUE(fs::exists(dir / "out" / "slurm" / "array.sh")) << "the script is written for a submission by hand";
}

TEST(SlurmScript, ACudaDeviceIsSubmittedFromAMachineWithoutOne) {
  // A login node has no GPU; the runs get the compute nodes'. (On a machine
  // without sbatch the submission then fails, after the scripts are written.)
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path(), kGrid);
  const CommandResult result =
      run_command("env PATH=/nonexistent " + detail::piade_words({"compare", grid.string(), "--out",
                                                                  (dir / "out").string(), "--slurm", "--device",
                                                                  "cuda", "--slurm-gpus", "1"}));
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_EQ(result.output.find("--device"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("sbatch: not found on PATH"), std::string::npos) << result.output;
  const std::string script = read_text(dir / "out" / "slurm" / "array.sh");
  EXPECT_NE(script.find(" --device cuda "), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --gpus-per-task=1\n"), std::string::npos) << script;
  const CommandResult typo = run_piade_command({"compare", grid.string(), "--out", (dir / "out").string(), "--slurm",
                                                "--device", "cdua"});
  EXPECT_EQ(typo.status, 1);
  EXPECT_NE(typo.output.find("--device: 'cdua' is not a device"), std::string::npos) << typo.output;
}

// --- on a real cluster --------------------------------------------------

class CompareSlurm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = std::make_unique<SlurmCluster>(); }
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override {
    if (!cluster_->unavailable().empty()) GTEST_SKIP() << "no Slurm cluster: " << cluster_->unavailable();
  }
  static CommandResult piade(const std::vector<std::string>& args) {
    return cluster_->run(detail::piade_words(args));
  }
  static std::unique_ptr<SlurmCluster> cluster_;
};

std::unique_ptr<SlurmCluster> CompareSlurm::cluster_;

TEST_F(CompareSlurm, AGridRunAsAnArrayJobMergesToTheResultsOfALocalRun) {
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path(), kGrid), local = dir / "local", out = dir / "slurm-out";
  const CommandResult submitted = piade({"compare", grid.string(), "--out", out.string(), "--slurm", "--slurm-time",
                                         "10", "--slurm-sbatch=--mem=500M"});
  ASSERT_EQ(submitted.status, 0) << submitted.output;
  const std::string array_job = number_after(submitted.output, "array job");
  const std::string merge_job = number_after(submitted.output, "merge as job");
  ASSERT_FALSE(array_job.empty() || merge_job.empty()) << submitted.output;
  EXPECT_NE(submitted.output.find("squeue -j " + array_job + "," + merge_job), std::string::npos) << submitted.output;
  // While Slurm works: every run is in one of the four states.
  const CommandResult early = piade({"compare", out.string(), "--status"});
  EXPECT_EQ(early.status, 0) << early.output;
  EXPECT_NE(early.output.find("2 runs: "), std::string::npos) << early.output;
  EXPECT_NE(early.output.find("slurm: array job " + array_job), std::string::npos) << early.output;

  const std::string script = read_text(out / "slurm" / "array.sh");
  EXPECT_NE(script.find("#SBATCH --array=0-1\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --time=10\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --mem=500M\n"), std::string::npos) << script;
  EXPECT_NE(script.find("exec " + std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade compare " +
                        (out / "grid.ini").string()),
            std::string::npos)
      << "absolute paths:\n" << script;

  // The local reference runs while the cluster does.
  const CommandResult reference = run_piade_command({"compare", grid.string(), "--out", local.string(), "--threads", "1"});
  ASSERT_EQ(reference.status, 0) << reference.output;
  EXPECT_EQ(cluster_->wait_for_job(merge_job, 600s), "COMPLETED")
      << read_text(cluster_->dir() / "log" / "slurmctld.log");
  EXPECT_EQ(cluster_->job_state(array_job), "COMPLETED");

  // The same runs, the same scores to the byte, the same metrics.
  const nlohmann::json expected = read_json(local / "results.json"), merged = read_json(out / "results.json");
  ASSERT_EQ(merged.at("runs").size(), 2u) << merged.dump(1);
  ASSERT_EQ(expected.at("runs").size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const nlohmann::json& want = expected.at("runs").at(i);
    const nlohmann::json& got = merged.at("runs").at(i);
    EXPECT_EQ(got.at("run_id"), want.at("run_id"));
    EXPECT_EQ(got.at("hash"), want.at("hash"));
    EXPECT_EQ(got.at("metrics"), want.at("metrics"));
    const std::string folder = want.at("folder").get<std::string>();
    EXPECT_EQ(read_text(out / folder / "eval" / "scores.csv"), read_text(local / folder / "eval" / "scores.csv"))
        << folder;
    EXPECT_FALSE(read_text(local / folder / "eval" / "scores.csv").empty());
  }
  EXPECT_EQ(merged.at("grid_hash"), expected.at("grid_hash"));
  EXPECT_TRUE(fs::exists(out / "summary.md"));
  EXPECT_TRUE(fs::exists(out / "report.html"));

  const CommandResult status = piade({"compare", out.string(), "--status"});
  EXPECT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("2 runs: 2 done, 0 running, 0 failed, 0 pending"), std::string::npos) << status.output;

  // Nothing left: said so, and nothing submitted.
  const CommandResult again = piade({"compare", grid.string(), "--out", out.string(), "--slurm"});
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("all 2 runs are finished: nothing to submit"), std::string::npos) << again.output;
  EXPECT_EQ(read_json(out / "slurm" / "jobs.json").at("array_job"), array_job);
}

TEST_F(CompareSlurm, AFailedRunIsReportedAndAResubmissionRunsOnlyTheUnfinished) {
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path(), kGridWithAFailure), out = dir / "out";
  const CommandResult first = piade({"compare", grid.string(), "--out", out.string(), "--slurm"});
  ASSERT_EQ(first.status, 0) << first.output;
  const std::string merge_job = number_after(first.output, "merge as job");
  // The merge job writes the table of the finished run and fails for the other.
  EXPECT_EQ(cluster_->wait_for_job(merge_job, 600s), "FAILED");
  EXPECT_EQ(count(read_text(out / "results.csv"), "\n"), 2u) << read_text(out / "results.csv");
  std::string merge_log;
  for (const auto& entry : fs::directory_iterator(out / "slurm" / "logs"))
    if (entry.path().filename().string().rfind("merge-", 0) == 0) merge_log = read_text(entry.path());
  EXPECT_NE(merge_log.find("--tables-only: 1 of 2 runs did not finish"), std::string::npos) << merge_log;

  const CommandResult status = piade({"compare", out.string(), "--status"});
  EXPECT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("2 runs: 1 done, 0 running, 1 failed, 0 pending"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("train exited with status 1; see "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("vgg11.safetensors"), std::string::npos) << "the log's last lines:\n" << status.output;

  // Only the failed run gets an array task. Held (a raw #SBATCH line), so
  // that it is surely still queued when a third submission comes.
  const CommandResult second =
      piade({"compare", grid.string(), "--out", out.string(), "--slurm", "--slurm-sbatch=--hold"});
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_NE(second.output.find("submitted 1 run (1 finished before)"), std::string::npos) << second.output;
  const std::string second_array = number_after(second.output, "array job");
  const std::string second_merge = number_after(second.output, "merge as job");
  const std::string script = read_text(out / "slurm" / "array.sh");
  EXPECT_NE(script.find("#SBATCH --array=0-0\n"), std::string::npos) << script;
  EXPECT_NE(script.find("losses=broken"), std::string::npos) << script;
  EXPECT_EQ(script.find("losses=plain"), std::string::npos) << script;

  // A third submission while the second is queued would run the run twice.
  const CommandResult third = piade({"compare", grid.string(), "--out", out.string(), "--slurm"});
  EXPECT_EQ(third.status, 1) << third.output;
  EXPECT_EQ(lines(third.output).size(), 1u) << third.output;
  EXPECT_NE(third.output.find("of the last submission to '" + out.string() + "' is still queued or running"),
            std::string::npos)
      << third.output;
  const CommandResult released = cluster_->run("scontrol release " + second_array + "," + second_merge);
  EXPECT_EQ(released.status, 0) << released.output;
  EXPECT_EQ(cluster_->wait_for_job(second_merge, 600s), "FAILED");
  EXPECT_NE(piade({"compare", out.string(), "--status"}).output.find("1 done, 0 running, 1 failed"), std::string::npos);
}

TEST_F(CompareSlurm, AnOptionSbatchRejectsIsOneLineNamingSbatch) {
  const ScratchDir dir;
  const fs::path grid = write_grid(dir.path(), kGrid);
  const CommandResult refused = piade({"compare", grid.string(), "--out", (dir / "out").string(), "--slurm",
                                       "--slurm-partition", "nosuchpartition"});
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_EQ(lines(refused.output).size(), 1u) << refused.output;
  EXPECT_NE(refused.output.find("piade compare: sbatch: "), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("Invalid partition name specified"), std::string::npos) << refused.output;
}

}  // namespace
}  // namespace piade::test
