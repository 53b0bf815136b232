// Reliability of the `piade` commands (issue 16; docs/reliability.md):
// outputs that are inputs, leftover temporary files, absurd batch sizes,
// resuming with other data, FIFOs given as inputs, SIGHUP and kill -9 during
// training. Each is refused with one line and exit code 1, or handled, before
// any work is lost.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "cli/run_dir.h"
#include "piade/core/checkpoint.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

namespace fs = std::filesystem;
using test::run_piade_command;

const std::vector<std::string> kTinyRun = {"--dataset", "fmnist", "--max-train", "8", "--batch-size", "4",
                                           "--backbone", "resnet18", "--loss", "mse", "--threads", "1",
                                           "--progress=false"};

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

// One run trained for one epoch on 8 Fashion-MNIST images, shared by the
// tests that only read it, and one image file to score.
class CliReliabilityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new test::ScratchDir();
    const test::CommandResult trained =
        run_piade_command(with(with({"train"}, kTinyRun), {"--epochs", "1", "--out", run_dir().string()}));
    train_output_ = new std::string(trained.output);
    cv::imwrite(image().string(), cv::Mat(28, 28, CV_8UC1, cv::Scalar::all(90)));
  }
  static void TearDownTestSuite() {
    delete scratch_;
    delete train_output_;
  }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(run_dir() / "checkpoint.pt")) << *train_output_;
  }
  static fs::path run_dir() { return *scratch_ / "run"; }
  static fs::path image() { return *scratch_ / "image.png"; }
  static test::ScratchDir* scratch_;
  static std::string* train_output_;
};
test::ScratchDir* CliReliabilityTest::scratch_ = nullptr;
std::string* CliReliabilityTest::train_output_ = nullptr;

TEST_F(CliReliabilityTest, AnOutputThatIsTheCheckpointReadIsRefusedNamingBoth) {
  const fs::path checkpoint = run_dir() / "checkpoint.pt";
  const std::string before = test::read_text(checkpoint);
  const test::CommandResult score = run_piade_command(
      {"score", "--checkpoint", run_dir().string(), "--out", checkpoint.string(), "--threads", "1", image().string()});
  EXPECT_EQ(score.status, 1) << score.output;
  EXPECT_NE(score.output.find("--out: '" + checkpoint.string() + "' is --checkpoint '" + checkpoint.string() + "'"),
            std::string::npos)
      << score.output;
  const test::CommandResult exported =
      run_piade_command({"export", "--checkpoint", run_dir().string(), "--out", checkpoint.string()});
  EXPECT_EQ(exported.status, 1) << exported.output;
  EXPECT_NE(exported.output.find("is --checkpoint"), std::string::npos) << exported.output;
  const test::CommandResult over_image = run_piade_command(
      {"score", "--checkpoint", run_dir().string(), "--out", image().string(), "--threads", "1", image().string()});
  EXPECT_EQ(over_image.status, 1) << over_image.output;
  EXPECT_NE(over_image.output.find("is the input '" + image().string() + "'"), std::string::npos) << over_image.output;
  EXPECT_TRUE(test::read_text(checkpoint) == before) << "the checkpoint changed";
}

TEST_F(CliReliabilityTest, ResumingWithAnotherNormalClassIsRefusedNamingBothValues) {
  const test::CommandResult resumed = run_piade_command(with(
      with({"train"}, kTinyRun), {"--epochs", "2", "--out", run_dir().string(), "--resume", "--normal-class", "3"}));
  EXPECT_EQ(resumed.status, 1) << resumed.output;
  EXPECT_NE(resumed.output.find("--resume: " + (run_dir() / "checkpoint.pt").string() +
                                " was trained with --normal-class 0, not 3"),
            std::string::npos)
      << resumed.output;
  EXPECT_EQ(read_checkpoint_meta(run_dir() / "checkpoint.pt")["training"]["epochs_done"], 1);
}

TEST_F(CliReliabilityTest, ABatchSizeBeyondTheTrainingSetIsClampedToIt) {
  const test::ScratchDir scratch;
  const fs::path out = scratch / "run";
  const test::CommandResult trained = run_piade_command(
      {"train", "--dataset", "fmnist", "--max-train", "8", "--batch-size", "9223372036854775807", "--backbone",
       "resnet18", "--loss", "mse", "--threads", "1", "--progress=false", "--epochs", "1", "--out", out.string()});
  ASSERT_EQ(trained.status, 0) << trained.output;
  EXPECT_NE(trained.output.find("--batch-size: 9223372036854775807 is more than the 8 training images; using 8"),
            std::string::npos)
      << trained.output;
  EXPECT_EQ(read_checkpoint_meta(out / "checkpoint.pt")["training"]["batch_size"], 8);
}

// A FIFO given as an image, a checkpoint or a config file: opening one
// blocks until something writes to it, so `piade score` hung. Each is
// refused before it is opened, naming the option or the file.
TEST_F(CliReliabilityTest, AFifoAsAnInputIsRefusedNamingIt) {
  const test::ScratchDir scratch;
  const fs::path fifo = scratch / "pipe.png";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const test::CommandResult scored = run_piade_command(
      {"score", "--checkpoint", run_dir().string(), "--threads", "1", fifo.string()});
  EXPECT_EQ(scored.status, 1) << scored.output;
  EXPECT_NE(scored.output.find(fifo.string() + ": is a FIFO (named pipe), not a regular file"), std::string::npos)
      << scored.output;
  const test::CommandResult checkpoint =
      run_piade_command({"score", "--checkpoint", fifo.string(), "--threads", "1", image().string()});
  EXPECT_EQ(checkpoint.status, 1) << checkpoint.output;
  EXPECT_NE(checkpoint.output.find("--checkpoint: '" + fifo.string() + "' is a FIFO (named pipe), not a regular file"),
            std::string::npos)
      << checkpoint.output;
  const test::CommandResult config = run_piade_command({"config", "--config", fifo.string()});
  EXPECT_EQ(config.status, 1) << config.output;
  EXPECT_NE(config.output.find("--config: '" + fifo.string() + "' is a FIFO (named pipe), not a regular file"),
            std::string::npos)
      << config.output;
}

// Train's batch is clamped to its training set; bench's is made up, so it
// is bounded before the [N,C,S,S] batch is allocated.
TEST(CliBenchTest, AnAbsurdBatchSizeIsRefusedBeforeAllocating) {
  const test::CommandResult bench = run_piade_command(
      {"bench", "--batch-size", "9223372036854775807", "--threads", "1"});
  EXPECT_EQ(bench.status, 1) << bench.output;
  EXPECT_NE(bench.output.find("--batch-size: at most 4096 for a benchmark, got 9223372036854775807"),
            std::string::npos)
      << bench.output;
  const test::CommandResult size = run_piade_command({"bench", "--image-size", "4611686018427387904"});
  EXPECT_EQ(size.status, 1) << size.output;
  EXPECT_NE(size.output.find("--image-size: at most 16384"), std::string::npos) << size.output;
}

// A checkpoint whose configuration was edited with a consistent checksum
// (update_checkpoint_meta writes one) but a field of another JSON type: one
// line naming the file and the field, not nlohmann's "[json.exception...]".
TEST_F(CliReliabilityTest, AConfigurationFieldOfAnotherTypeIsRefusedNamingTheFileAndTheField) {
  const test::ScratchDir scratch;
  const fs::path checkpoint = scratch / "checkpoint.pt";
  fs::copy_file(run_dir() / "checkpoint.pt", checkpoint);
  update_checkpoint_meta(checkpoint, [](nlohmann::json& meta) { meta["image"]["channels"] = "one"; });
  const test::CommandResult score =
      run_piade_command({"score", "--checkpoint", checkpoint.string(), image().string()});
  EXPECT_EQ(score.status, 1) << score.output;
  EXPECT_NE(score.output.find(checkpoint.string() + ": field 'image.channels' of its piade configuration is string, "
                                                    "where piade reads an integer"),
            std::string::npos)
      << score.output;
  EXPECT_EQ(score.output.find("json.exception"), std::string::npos) << score.output;
}

TEST_F(CliReliabilityTest, AByteFlippedInACheckpointIsRefusedByScoreNamingTheTensor) {
  const test::ScratchDir scratch;
  const fs::path checkpoint = scratch / "checkpoint.pt";
  fs::copy_file(run_dir() / "checkpoint.pt", checkpoint);
  // A byte in the middle of the first tensor's record (a weight: the model's
  // tensors are stored before the optimizer's).
  std::size_t at = 0;
  {
    caffe2::serialize::PyTorchStreamReader zip(checkpoint.string());
    at = zip.getRecordOffset("data/0") + std::get<1>(zip.getRecord("data/0")) / 2;
  }
  std::string bytes = test::read_text(checkpoint);
  bytes[at] ^= 0x01;
  test::write_text(checkpoint, bytes);
  const test::CommandResult score =
      run_piade_command({"score", "--checkpoint", checkpoint.string(), image().string()});
  EXPECT_EQ(score.status, 1) << score.output;
  EXPECT_NE(score.output.find(checkpoint.string() + ": tensor '"), std::string::npos) << score.output;
  EXPECT_NE(score.output.find("' fails its checksum (stored 0x"), std::string::npos) << score.output;
}

// --config files: a UTF-8 byte-order mark (Windows editors write one) is
// skipped; a key given twice names both lines.
TEST(CliConfigFileTest, AByteOrderMarkIsSkippedAndAKeyGivenTwiceNamesBothLines) {
  const test::ScratchDir scratch;
  const fs::path bom = scratch / "bom.ini";
  test::write_text(bom, "\xEF\xBB\xBF" "epochs = 3\n");
  const test::CommandResult shown = run_piade_command({"train", "--config", bom.string(), "--show-config"});
  EXPECT_EQ(shown.status, 0) << shown.output;
  EXPECT_NE(shown.output.find("\nepochs = 3"), std::string::npos) << shown.output;
  const fs::path twice = scratch / "twice.ini";
  test::write_text(twice, "epochs = 3\n[pooling]\nlevels = 4,2\n\nlevels = 8,4\n");
  const test::CommandResult refused = run_piade_command({"train", "--config", twice.string(), "--show-config"});
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_NE(refused.output.find(twice.string() + ": 'pooling.levels' is given twice (lines 3 and 5); keep one"),
            std::string::npos)
      << refused.output;
}

// A process id that no longer runs: a child that has exited and been reaped.
pid_t finished_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST(RunDirTest, LeftoverTemporaryFilesOfProcessesThatNoLongerRunAreRemoved) {
  const test::ScratchDir scratch;
  const fs::path dead = scratch / (".checkpoint.pt.tmp-" + std::to_string(finished_pid()));
  const fs::path alive = scratch / (".checkpoint.pt.tmp-" + std::to_string(::getpid()));
  test::write_text(dead, "partial");
  test::write_text(alive, "being written");
  test::write_text(scratch / "checkpoint.pt", "an earlier run");
  // Refused (an earlier run, neither --resume nor --overwrite), yet the
  // dead process's leftover goes; the running one's stays.
  EXPECT_THROW(prepare_out_dir(scratch.path(), RunKind::train, false, false), Error);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
  test::write_text(dead, "partial");
  prepare_out_dir(scratch.path(), RunKind::train, false, /*resume=*/true);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
}

TEST(RunDirTest, CompareLeftoversAreRemovedUnderRunsAndOnlyCompareFilesAtTheTop) {
  const test::ScratchDir scratch;
  const std::string dead = std::to_string(finished_pid()), alive = std::to_string(::getpid());
  fs::create_directories(scratch / "runs" / "r1" / "train");
  fs::create_directories(scratch / "slurm");
  const std::vector<fs::path> doomed = {scratch / (".results.csv.tmp-" + dead),
                                        scratch / (".compare.json.tmp-" + dead),
                                        scratch / "runs" / "r1" / (".result.json.tmp-" + dead),
                                        scratch / "runs" / "r1" / "train" / (".checkpoint.pt.tmp-" + dead),
                                        scratch / "slurm" / (".array.sh.tmp-" + dead)};
  // The user's file at the top, and what a running process writes now, stay.
  const std::vector<fs::path> kept = {scratch / (".notes.txt.tmp-" + dead),
                                      scratch / "runs" / "r1" / "train" / (".checkpoint.pt.tmp-" + alive),
                                      scratch / "runs" / "r1" / "train" / "checkpoint.pt",
                                      scratch / "slurm" / (".jobs.json.tmp-" + alive)};
  for (const fs::path& file : doomed) test::write_text(file, "partial");
  for (const fs::path& file : kept) test::write_text(file, "kept");
  EXPECT_EQ(remove_compare_leftovers(scratch.path()), doomed.size());
  for (const fs::path& file : doomed) EXPECT_FALSE(fs::exists(file)) << file;
  for (const fs::path& file : kept) EXPECT_TRUE(fs::exists(file)) << file;
}

TEST_F(CliReliabilityTest, SighupWritesACheckpointAndStopsAsCtrlCDoes) {
  const test::ScratchDir scratch;
  const fs::path out = scratch / "run";
  const pid_t pid = test::spawn_piade(with(with({"train"}, kTinyRun), {"--epochs", "1000", "--out", out.string()}),
                                      scratch / "train.log");
  ASSERT_GT(pid, 0);
  const bool trained_an_epoch = test::wait_until(
      [&] { return test::lines(test::read_text(out / "train_log.csv")).size() >= 2; }, std::chrono::minutes(2));
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  const int status = test::wait_for(pid);
  const std::string output = test::read_text(scratch / "train.log");
  ASSERT_TRUE(trained_an_epoch) << output;
  EXPECT_EQ(status, 130) << output;
  EXPECT_NE(output.find("checkpoint written to"), std::string::npos) << output;
  const int64_t done = read_checkpoint_meta(out / "checkpoint.pt")["training"]["epochs_done"].get<int64_t>();
  EXPECT_GE(done, 1);
  EXPECT_LT(done, 1000);
}

// The training log without its timing columns (images_per_second, seconds).
std::string losses_of(const fs::path& train_log) {
  std::string kept;
  for (const std::string& line : test::lines(test::read_text(train_log))) {
    std::string row = line;
    for (int i = 0; i < 2; ++i) row = row.substr(0, row.rfind(','));
    kept += row + "\n";
  }
  return kept;
}

// kill -9 at seeded random points of a training run, each followed by the
// rerun a user (or compare) makes: --resume from the checkpoint if there is
// one, else anew. Files complete before a kill stay readable, no temporary
// file survives the next start, and the run ends exactly where an
// uninterrupted one does: the epoch order depends only on (seed, epoch)
// and the checkpoint holds the weights and Adam's state of whole epochs.
TEST_F(CliReliabilityTest, KillNineAtRandomPointsThenResumingEndsAsAnUninterruptedRun) {
  const test::ScratchDir scratch;
  const std::vector<std::string> run = with(kTinyRun, {"--epochs", "4", "--checkpoint-every", "1", "--seed", "5"});
  const fs::path reference = scratch / "reference", out = scratch / "killed";
  const auto start = std::chrono::steady_clock::now();
  const test::CommandResult uninterrupted = run_piade_command(with(with({"train"}, run), {"--out", reference.string()}));
  ASSERT_EQ(uninterrupted.status, 0) << uninterrupted.output;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::mt19937 random(16);
  std::uniform_real_distribution<double> point(0.2, 0.9);
  int kills = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const bool resumable = fs::exists(out / "checkpoint.pt");
    const pid_t pid = test::spawn_piade(
        with(with({"train"}, run), {"--out", out.string(), resumable ? "--resume" : "--overwrite"}),
        scratch / "attempt.log");
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::duration<double>(point(random) * seconds));
    kills += ::kill(pid, SIGKILL) == 0 ? 1 : 0;
    const int status = test::wait_for(pid);
    ASSERT_TRUE(status == 128 + SIGKILL || status == 0) << test::read_text(scratch / "attempt.log");
    // What was complete before the kill is whole: the checkpoint loads,
    // every logged epoch has all its columns.
    if (fs::exists(out / "checkpoint.pt")) {
      EXPECT_NO_THROW(read_checkpoint_meta(out / "checkpoint.pt"));
    }
    const std::vector<std::string> rows = test::lines(test::read_text(out / "train_log.csv"));
    for (const std::string& row : rows)
      EXPECT_EQ(std::count(row.begin(), row.end(), ','), std::count(rows[0].begin(), rows[0].end(), ',')) << row;
    if (status == 0) break;
  }
  EXPECT_GE(kills, 2) << "the run ended before it could be killed";
  const test::CommandResult last = run_piade_command(
      with(with({"train"}, run), {"--out", out.string(), fs::exists(out / "checkpoint.pt") ? "--resume" : "--overwrite"}));
  ASSERT_EQ(last.status, 0) << last.output;

  EXPECT_EQ(losses_of(out / "train_log.csv"), losses_of(reference / "train_log.csv"));
  const nlohmann::json meta = read_checkpoint_meta(out / "checkpoint.pt");
  const nlohmann::json expected = read_checkpoint_meta(reference / "checkpoint.pt");
  EXPECT_EQ(meta["training"]["epochs_done"], 4);
  EXPECT_EQ(meta["score_stats"], expected["score_stats"]);
  for (const auto& entry : fs::directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace piade

namespace piade {
namespace {

// A folder dataset of `n` gray 28 x 28 training images (each a different
// gradient) and two normal and two anomalous test images under `root`.
void write_folder_dataset(const fs::path& root, int n) {
  for (const char* dir : {"train/good", "test/good", "test/bad"}) fs::create_directories(root / dir);
  auto image = [](int i) {
    cv::Mat out(28, 28, CV_8UC1);
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) out.at<uint8_t>(r, c) = uint8_t((r * (3 + i % 5) + c * (i % 7) + 11 * i) % 256);
    return out;
  };
  for (int i = 0; i < n; ++i) cv::imwrite((root / "train/good" / fmt::format("{:03d}.png", i)).string(), image(i));
  for (int i = 0; i < 2; ++i) {
    cv::imwrite((root / "test/good" / fmt::format("{:03d}.png", i)).string(), image(100 + i));
    cv::imwrite((root / "test/bad" / fmt::format("{:03d}.png", i)).string(), cv::Mat(28, 28, CV_8UC1, cv::Scalar(255)));
  }
}

std::vector<std::string> folder_run(const fs::path& root, const fs::path& out) {
  return {"train", "--dataset", "folder", "--data-root", root.string(), "--image-size", "28", "--channels", "1",
          "--backbone", "resnet18", "--loss", "mse", "--batch-size", "4", "--epochs", "2", "--val-fraction", "0.2",
          "--threads", "1", "--progress=false", "--out", out.string()};
}

// The training log without its timing columns (images per second, seconds).
std::vector<std::string> loss_rows(const fs::path& run) {
  std::vector<std::string> rows;
  for (std::string row : test::lines(test::read_text(run / "train_log.csv"))) {
    for (int cut = 0; cut < 2; ++cut) row.erase(row.rfind(','));
    rows.push_back(row);
  }
  return rows;
}

// Datasets larger than memory (issue 17): `piade train` above
// --memory-budget streams the images and trains the same run as in memory.
TEST(CliStreamTest, TrainingAboveTheMemoryBudgetIsTheSameRunAsInMemory) {
  const test::ScratchDir scratch;
  write_folder_dataset(scratch / "data", 11);
  const test::CommandResult memory = run_piade_command(folder_run(scratch / "data", scratch / "memory"));
  ASSERT_EQ(memory.status, 0) << memory.output;
  const test::CommandResult streamed =
      run_piade_command(with(folder_run(scratch / "data", scratch / "stream"), {"--memory-budget", "4K"}));
  ASSERT_EQ(streamed.status, 0) << streamed.output;
  EXPECT_NE(streamed.output.find("streaming"), std::string::npos) << streamed.output;
  EXPECT_EQ(memory.output.find("streaming"), std::string::npos) << memory.output;
  EXPECT_EQ(loss_rows(scratch / "stream"), loss_rows(scratch / "memory"));
  EXPECT_EQ(loss_rows(scratch / "memory").size(), 3u);
  const nlohmann::json a = read_checkpoint_meta(scratch / "memory/checkpoint.pt");
  const nlohmann::json b = read_checkpoint_meta(scratch / "stream/checkpoint.pt");
  EXPECT_EQ(b.at("score_stats"), a.at("score_stats"));
  EXPECT_EQ(b.at("config"), a.at("config"));  // --memory-budget is no setting of the run

  // eval streams the test split too, with the same scores.
  const test::CommandResult eval_memory = run_piade_command(
      {"eval", "--checkpoint", (scratch / "memory").string(), "--out", (scratch / "eval-memory").string(),
       "--threads", "1", "--progress=false"});
  ASSERT_EQ(eval_memory.status, 0) << eval_memory.output;
  const test::CommandResult eval_streamed = run_piade_command(
      {"eval", "--checkpoint", (scratch / "memory").string(), "--out", (scratch / "eval-stream").string(),
       "--threads", "1", "--progress=false", "--memory-budget", "1K"});
  ASSERT_EQ(eval_streamed.status, 0) << eval_streamed.output;
  EXPECT_EQ(test::read_text(scratch / "eval-stream/scores.csv"), test::read_text(scratch / "eval-memory/scores.csv"));
}

// A training image that cannot be decoded is found when its batch is
// decoded (streamed files are not read up front without --skip-bad): one
// line naming the file, exit 1, as in memory, where loading finds it.
TEST(CliStreamTest, AnUndecodableFileIsNamedInOneLineWhenStreamedAndInMemory) {
  const test::ScratchDir scratch;
  write_folder_dataset(scratch / "data", 9);
  const fs::path bad = scratch / "data/train/good/005.png";
  test::write_text(bad, "not a png");
  const std::string expected = bad.string() + ": cannot decode as an image (unreadable, truncated or not an image); "
                                              "fix or remove it, or pass --skip-bad";
  for (const std::string budget : {"1G", "1K"}) {
    const test::CommandResult run = run_piade_command(
        with(folder_run(scratch / "data", scratch / ("run-" + budget)), {"--memory-budget", budget}));
    EXPECT_EQ(run.status, 1) << run.output;
    EXPECT_NE(run.output.find(expected), std::string::npos) << budget << ": " << run.output;
    // The error is the last line, and the only one that names the file.
    const std::vector<std::string> lines = test::lines(run.output);
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines.back().find(expected), std::string::npos) << run.output;
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [&](const std::string& line) { return line.find(bad.string()) != std::string::npos; }),
              1)
        << run.output;
  }
  // With --skip-bad both drop it up front and train the same run.
  for (const std::string budget : {"1G", "1K"}) {
    const test::CommandResult run = run_piade_command(
        with(folder_run(scratch / "data", scratch / ("skip-" + budget)), {"--memory-budget", budget, "--skip-bad"}));
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("skipped " + bad.string()), std::string::npos) << run.output;
  }
  EXPECT_EQ(loss_rows(scratch / "skip-1K"), loss_rows(scratch / "skip-1G"));
}

}  // namespace
}  // namespace piade
