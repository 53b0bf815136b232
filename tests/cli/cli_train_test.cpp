// `piade train` and `piade score` as a user runs them, on the Fashion-MNIST
// that Debian's dataset-fashion-mnist package installs: outputs, Ctrl-C,
// resume, and one-line errors for bad input.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <regex>
#include <opencv2/imgcodecs.hpp>

#include "piade/core/checkpoint.h"
#include "piade/sdk/weights.h"
#include "tests/support/process.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

const std::string kPiade = std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade";
const std::vector<std::string> kSmallRun = {"--dataset", "fmnist", "--max-train", "48", "--batch-size", "16",
                                            "--backbone", "resnet18", "--loss", "mse", "--threads", "1",
                                            "--progress=false", "--checkpoint-every", "1"};

using Result = piade::test::CommandResult;

Result run(const std::vector<std::string>& args) { return piade::test::run_piade_command(args); }

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

std::vector<std::string> lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  return all;
}

class CliTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
        << "Debian's dataset-fashion-mnist is missing; tools/setup.sh installs it";
    dir_ = fs::temp_directory_path() /
           ("piade_cli_train_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(CliTrainTest, TrainsOnFashionMnistThenScoresImageFiles) {
  const fs::path out = dir_ / "run";
  Result train = run(with(with({"train"}, kSmallRun), {"--epochs", "2", "--out", out.string()}));
  ASSERT_EQ(train.status, 0) << train.output;
  EXPECT_NE(train.output.find("training on 48 normal images of 1x28x28 for 2 epochs on cpu"), std::string::npos)
      << train.output;
  const auto log = lines(out / "train_log.csv");
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "epoch,loss,mse,images_per_second,seconds");
  const nlohmann::json meta = piade::read_checkpoint_meta(out / "checkpoint.pt");
  EXPECT_EQ(meta["training"]["epochs_done"], 2);
  EXPECT_EQ(meta["pipeline"]["backbone"]["name"], "resnet18");
  EXPECT_EQ(meta["dataset"]["train_images"], 48);
  EXPECT_GT(meta["score_stats"]["threshold"].get<double>(), 0.0);

  // Export: every tensor of the model under its documented name, equal to
  // what the checkpoint holds.
  const fs::path exported = dir_ / "model.safetensors";
  Result exporting = run({"export", "--checkpoint", out.string(), "--format", "safetensors", "--out", exported.string()});
  ASSERT_EQ(exporting.status, 0) << exporting.output;
  const auto tensors = piade::load_tensors(exported.string());
  EXPECT_TRUE(tensors.count("backbone.conv1.weight"));
  EXPECT_TRUE(tensors.count("backbone.layer4.1.bn2.running_var"));
  EXPECT_TRUE(tensors.count("routing.weight"));
  EXPECT_GT(tensors.size(), 100u);
  Result bad_format = run({"export", "--checkpoint", out.string(), "--format", "onnx", "--out", exported.string()});
  EXPECT_EQ(bad_format.status, 1);
  EXPECT_NE(bad_format.output.find("--format: 'onnx' is not supported"), std::string::npos) << bad_format.output;

  // Three images (one 3-channel and larger: converted and resized) and one
  // that is not an image.
  const fs::path images = dir_ / "images";
  fs::create_directories(images);
  for (int i = 0; i < 3; ++i) {
    cv::Mat image(i == 2 ? 56 : 28, i == 2 ? 56 : 28, i == 2 ? CV_8UC3 : CV_8UC1, cv::Scalar::all(40 * i));
    ASSERT_TRUE(cv::imwrite((images / ("img" + std::to_string(i) + ".png")).string(), image));
  }
  std::ofstream(images / "broken.png") << "not a png";
  Result bad = run({"score", "--checkpoint", out.string(), images.string(), "--threads", "1"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("broken.png: cannot decode as an image"), std::string::npos) << bad.output;

  const fs::path csv = dir_ / "scores.csv";
  Result score = run({"score", "--checkpoint", out.string(), images.string(), "--skip-bad", "--out",
                      csv.string(), "--threads", "1"});
  ASSERT_EQ(score.status, 0) << score.output;
  EXPECT_NE(score.output.find("--skip-bad: skipped 1 unreadable image"), std::string::npos) << score.output;
  EXPECT_NE(score.output.find("skipped " + (images / "broken.png").string() + ": cannot decode as an image"),
            std::string::npos)
      << score.output;
  // Scoring restores every weight: no "no pretrained weights" advice.
  EXPECT_EQ(score.output.find("pretrained"), std::string::npos) << score.output;
  const auto rows = lines(csv);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "path,score,score_normalized,mse,vector,anomalous");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_NE(rows[i].find("img" + std::to_string(i - 1) + ".png,"), std::string::npos) << rows[i];
    const double value = std::stod(rows[i].substr(rows[i].find(',') + 1));
    EXPECT_GT(value, 0.0);
  }
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Output to a pipe (a cluster job's log): a line per epoch, no \r; a run in
// --out is never replaced without --overwrite, which leaves nothing of it.
TEST_F(CliTrainTest, RunsAreNeverOverwrittenAndLogsSuitPipes) {
  const fs::path out = dir_ / "run";
  const fs::path log = dir_ / "train.log";
  Result first = run(with(with({"train"}, kSmallRun),
                          {"--progress=true", "--epochs", "2", "--out", out.string(), "--log-file", log.string()}));
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_EQ(first.output.find('\r'), std::string::npos) << first.output;
  const std::regex epoch_line("epoch [12]/2: loss [0-9.]+ \\(mse [0-9.]+\\) \\| [0-9.]+ img/s \\| [0-9:]+ \\| ETA [0-9:]+");
  int epoch_lines = 0;
  for (const std::string& line : piade::test::lines(first.output)) epoch_lines += std::regex_match(line, epoch_line);
  EXPECT_EQ(epoch_lines, 2) << first.output;
  const std::string logged = file_bytes(log);
  EXPECT_NE(logged.find("[info] piade train "), std::string::npos) << logged;
  EXPECT_NE(logged.find("[info] epoch 2/2: loss "), std::string::npos) << logged;

  Result eval = run({"eval", "--checkpoint", out.string(), "--out", (out / "eval").string(), "--max-test", "40",
                     "--pictures", "1", "--threads", "1", "--progress=false"});
  ASSERT_EQ(eval.status, 0) << eval.output;
  const std::vector<fs::path> outputs = {out / "checkpoint.pt", out / "train_log.csv", out / "eval" / "metrics.json",
                                         out / "eval" / "scores.csv"};
  std::vector<std::string> before;
  for (const fs::path& file : outputs) before.push_back(file_bytes(file));

  // Refused: nothing changes.
  Result again = run(with(with({"train"}, kSmallRun), {"--epochs", "1", "--out", out.string()}));
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("piade train: --out: '" + out.string() +
                              "' holds an earlier train run (checkpoint.pt, train_log.csv); pass --resume to continue "
                              "it, --overwrite to replace it"),
            std::string::npos)
      << again.output;
  Result eval_again = run({"eval", "--checkpoint", out.string(), "--out", (out / "eval").string()});
  EXPECT_EQ(eval_again.status, 1);
  EXPECT_NE(eval_again.output.find("holds an earlier eval run"), std::string::npos) << eval_again.output;
  // A finished run: --resume says so and changes nothing.
  Result resumed = run(with(with({"train"}, kSmallRun), {"--epochs", "2", "--out", out.string(), "--resume"}));
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("is a finished run (2 epochs); nothing to do"), std::string::npos) << resumed.output;
  for (std::size_t i = 0; i < outputs.size(); ++i)
    EXPECT_EQ(file_bytes(outputs[i]), before[i]) << outputs[i] << " changed";

  // --overwrite: the old run's outputs, its evaluation included, are gone
  // before the new run writes; a file of the user's stays.
  std::ofstream(out / "notes.txt") << "mine";
  std::ofstream(out / ".checkpoint.pt.tmp-999999") << "left by a killed run";
  Result replaced = run(with(with({"train"}, kSmallRun), {"--epochs", "1", "--out", out.string(), "--overwrite"}));
  ASSERT_EQ(replaced.status, 0) << replaced.output;
  EXPECT_FALSE(fs::exists(out / "eval"));
  EXPECT_FALSE(fs::exists(out / ".checkpoint.pt.tmp-999999"));
  EXPECT_TRUE(fs::exists(out / "notes.txt"));
  EXPECT_EQ(lines(out / "train_log.csv").size(), 2u);  // header and the one new epoch
  EXPECT_EQ(piade::read_checkpoint_meta(out / "checkpoint.pt")["training"]["epochs_done"], 1);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(out)) left.push_back(entry.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"checkpoint.pt", "notes.txt", "train_log.csv"}));

  // eval starts from the checkpoint's stored configuration: its dataset,
  // class and seed, with the command line on top.
  Result shown = run({"eval", "--checkpoint", out.string(), "--out", (dir_ / "e").string(), "--show-config"});
  ASSERT_EQ(shown.status, 0) << shown.output;
  for (const std::string& line : {"dataset = fmnist  # checkpoint " + out.string(),
                                  "batch-size = 16  # checkpoint " + out.string(),
                                  "image-size = 28  # checkpoint " + out.string(),
                                  "out = " + (dir_ / "e").string() + "  # command line"})
    EXPECT_NE(shown.output.find(line + "\n"), std::string::npos) << line << " in\n" << shown.output;
}

// --skip-bad names every skipped file in the log file, the first five on
// the screen.
TEST_F(CliTrainTest, SkipBadListsEverySkippedFileInTheLogFile) {
  const fs::path out = dir_ / "run";
  Result train = run(with(with({"train"}, kSmallRun), {"--epochs", "1", "--out", out.string()}));
  ASSERT_EQ(train.status, 0) << train.output;
  const fs::path images = dir_ / "images";
  fs::create_directories(images);
  ASSERT_TRUE(cv::imwrite((images / "good.png").string(), cv::Mat(28, 28, CV_8UC1, cv::Scalar(9))));
  for (int i = 0; i < 7; ++i) std::ofstream(images / ("broken" + std::to_string(i) + ".png")) << "not a png";
  const fs::path log = dir_ / "score.log";
  Result score = run({"score", "--checkpoint", out.string(), images.string(), "--skip-bad", "--log-file", log.string(),
                      "--out", (dir_ / "scores.csv").string(), "--threads", "1"});
  ASSERT_EQ(score.status, 0) << score.output;
  EXPECT_NE(score.output.find("piade: warning: --skip-bad: skipped 7 unreadable images"), std::string::npos)
      << score.output;
  EXPECT_NE(score.output.find("... and 2 more (all of them in --log-file)"), std::string::npos) << score.output;
  const std::string logged = file_bytes(log);
  for (int i = 0; i < 7; ++i) {
    const std::string name = (images / ("broken" + std::to_string(i) + ".png")).string();
    EXPECT_NE(logged.find("skipped " + name + ": cannot decode as an image"), std::string::npos) << name << logged;
    EXPECT_EQ(score.output.find(name) != std::string::npos, i < 5) << name << "\n" << score.output;
  }
  EXPECT_EQ(lines(dir_ / "scores.csv").size(), 2u);
}

TEST_F(CliTrainTest, CtrlCWritesACheckpointAndResumeFinishesTheRun) {
  const fs::path out = dir_ / "run";
  std::vector<std::string> args = with({kPiade, "train"}, with(kSmallRun, {"--epochs", "40", "--out", out.string()}));
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string log_file = (dir_ / "train.out").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, kPiade.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);

  // Interrupt once the first epoch is logged.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (lines(out / "train_log.csv").size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GE(lines(out / "train_log.csv").size(), 2u) << "no epoch finished in time";
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::ifstream printed(log_file);
  const std::string output((std::istreambuf_iterator<char>(printed)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 130) << output;
  EXPECT_NE(output.find("checkpoint written to"), std::string::npos) << output;
  EXPECT_NE(output.find("continue with --resume"), std::string::npos) << output;

  const nlohmann::json meta = piade::read_checkpoint_meta(out / "checkpoint.pt");
  const int64_t done = meta["training"]["epochs_done"].get<int64_t>();
  EXPECT_GE(done, 1);
  EXPECT_LT(done, 40);
  // No temporary file is left behind next to the checkpoint.
  for (const auto& entry : fs::directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();

  Result resumed = run(with(with({"train"}, kSmallRun), {"--epochs", std::to_string(done + 1), "--out", out.string(), "--resume"}));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_EQ(lines(out / "train_log.csv").size(), static_cast<std::size_t>(done + 2));
  EXPECT_EQ(piade::read_checkpoint_meta(out / "checkpoint.pt")["training"]["epochs_done"], done + 1);
  // Resuming with another pipeline is refused.
  Result other = run(with(with({"train"}, kSmallRun), {"--epochs", std::to_string(done + 2), "--out", out.string(), "--resume",
                                      "--set", "routing.vectors=1"}));
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("was trained with another pipeline"), std::string::npos) << other.output;
}

TEST_F(CliTrainTest, BadDataOptionsGiveOneLineErrors) {
  const std::string out = (dir_ / "x").string();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--dataset", "fmnits"}, "--dataset: 'fmnits' is not supported (supported: fmnist, mnist, cifar10, coil100, mvtec, folder), did you mean 'fmnist'?"},
      {{"--normal-class", "12"}, "--normal-class: must be 0..9 for fmnist, got 12"},
      {{"--data-root", "/nonexistent"}, "--data-root: '/nonexistent' is not a directory"},
      {{"--data-root", dir_.string()}, "has no train-images-idx3-ubyte (or train-images-idx3-ubyte.gz)"},
      {{"--channels", "2"}, "--channels: must be 1 or 3, got 2"},
      {{"--batch-size", "1"}, "--batch-size: must be at least 2 (batch norm), got 1"},
      {{"--epochz", "3"}, "unknown option '--epochz', did you mean '--epochs'?"},
  };
  for (const Case& c : cases) {
    Result r = run(with({"train", "--out", out, "--threads", "1", "--loss", "mse"}, c.args));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}

}  // namespace
