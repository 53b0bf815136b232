// Reliability of the `piade` commands (issue 16; docs/reliability.md):
// outputs that are inputs, leftover temporary files, absurd batch sizes and
// resuming with other data. Each is refused with one line and exit code 1,
// or handled, before any work is lost.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <caffe2/serialize/inline_container.h>
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

}  // namespace
}  // namespace piade
