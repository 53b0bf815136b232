// The dataset options (cli/data_options.h) as every command parses them:
// geometry settings, format names, IDX data through load_dataset, dataset
// errors as the CLI words them, and the dataset a checkpoint records.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli/data_options.h"
#include "piade/datasets/limits.h"
#include "piade/core/error.h"
#include "tests/datasets/fixtures.h"  // write_mvtec_tree, shared with the dataset tests
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

namespace fs = std::filesystem;

/// The message of the piade::Error `call` throws, or "(no error)".
std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// The options as `piade train` parses them.
CommandLine parse_data_options(const std::vector<std::string>& args) {
  return parse_options(args, command_spec("train"));
}

/// The options as `piade eval` parses them for a checkpoint with `meta`.
CommandLine parse_eval_options(std::vector<std::string> args, const nlohmann::json& meta) {
  args.insert(args.begin(), {"--checkpoint", "run"});
  return parse_options(args, command_spec("eval"), [&](const std::string&, const KeyTexts& given) {
    return checkpoint_configuration(meta, "run/checkpoint.pt", given);
  });
}

/// load_dataset on parsed words.
OneClassSplit load(const std::vector<std::string>& args, uint64_t seed = 0) {
  return load_dataset(parse_data_options(args), seed);
}

Preprocess settings(const std::vector<std::string>& args) { return preprocess_settings(parse_data_options(args)); }

TEST(DataOptions, ResizeThenCropSettings) {
  const Preprocess paper = settings({"--resize", "156", "--image-size", "120", "--channels", "3"});
  EXPECT_EQ(paper.image_size, 120);
  EXPECT_EQ(paper.resize, 156);
  EXPECT_EQ(paper.channels, 3);
  const Preprocess resize_only = settings({"--resize", "64"});  // no crop
  EXPECT_EQ(resize_only.image_size, 64);
  EXPECT_EQ(resize_only.resize, 0);
  EXPECT_EQ(settings({"--resize", "64", "--image-size", "64"}).resize, 0);
  EXPECT_EQ(settings({}).image_size, 0);
  EXPECT_EQ(error_of([] { settings({"--resize", "100", "--image-size", "120"}); }),
            "--resize: must be at least --image-size (120), got 100");
  EXPECT_EQ(error_of([] { settings({"--resize", "8"}); }), "--resize: must be at least 16, got 8");

  const DecodeOptions decode = decode_settings(parse_data_options({"--resize", "156", "--image-size", "120", "--skip-bad"}));
  EXPECT_EQ(decode.image_size, 120);
  EXPECT_EQ(decode.resize, 156);
  EXPECT_TRUE(decode.skip_bad);
  EXPECT_FALSE(decode_settings(parse_data_options({})).skip_bad);
}

TEST(DataOptions, UnknownDatasetListsTheSupportedOnes) {
  EXPECT_EQ(error_of([] { load({"--dataset", "mvtek"}); }),
            "--dataset: 'mvtek' is not supported (supported: fmnist, mnist, cifar10, coil100, mvtec, folder), did "
            "you mean 'mvtec'?");
  EXPECT_EQ(error_of([] { load({"--dataset", "mnist"}); }), "--data-root: needed for --dataset mnist");
  EXPECT_EQ(error_of([] { load({"--dataset", "folder"}); }),
            "--data-root: needed for --dataset folder (a directory with train/good/, test/good/ and test/<anomaly>/), "
            "or name the directories with --train-dir, --test-normal-dir and --test-anomalous-dir");
  EXPECT_EQ(error_of([] { load({"--max-test", "1"}); }), "--max-test: needs at least 2 images (one normal, one anomalous)");
}

// Debian's dataset-fashion-mnist, as the one-class tests use it.
TEST(DataOptions, FashionMnistWithResizeHasTheFinalGeometry) {
  const OneClassSplit plain = load({"--max-train", "5", "--max-test", "20", "--normal-class", "1"}, 3);
  EXPECT_EQ(plain.description, "Fashion-MNIST class 1 (trouser)");
  EXPECT_EQ(plain.train.images.sizes(), (std::vector<int64_t>{5, 1, 28, 28}));  // preprocess() resizes later
  EXPECT_EQ(plain.test.size(), 20);
  EXPECT_EQ(plain.test.labels.sum().item<int64_t>(), 18);
  EXPECT_NE(plain.test.ids[0].find("t10k-images-idx3-ubyte"), std::string::npos);
  EXPECT_FALSE(plain.test.masks.defined());
  const OneClassSplit test_only = load_dataset(
      parse_data_options({"--max-train", "5", "--max-test", "20", "--normal-class", "1"}), 3, DatasetSplits::test_only);
  EXPECT_EQ(test_only.train.size(), 0);
  EXPECT_EQ(test_only.test.ids, plain.test.ids);

  const OneClassSplit cropped =
      load({"--max-train", "5", "--max-test", "20", "--normal-class", "1", "--resize", "36", "--image-size", "28"}, 3);
  EXPECT_EQ(cropped.train.ids, plain.train.ids);
  ASSERT_EQ(cropped.train.images.sizes(), (std::vector<int64_t>{5, 1, 28, 28}));
  // Zoomed in by 36/28 about the centre: the same as preprocess() on the raw images.
  Preprocess geometry;
  geometry.image_size = 28;
  geometry.resize = 36;
  Preprocess to_36;
  to_36.image_size = 36;
  const torch::Tensor expected = resize_and_crop(resize_and_crop(plain.train.images, to_36), geometry);
  EXPECT_TRUE(torch::equal(cropped.train.images, expected));
  EXPECT_FALSE(torch::equal(cropped.train.images, plain.train.images));
}

// root/bottle as MVTec AD lays it out, root/screw with training images only,
// and a folder that is no category.
class MvtecOptions : public ::testing::Test {
 protected:
  void SetUp() override { test::write_mvtec_tree(dir_.path()); }
  std::string root() const { return dir_.path().string(); }
  std::vector<std::string> args(std::vector<std::string> more = {}) const {
    std::vector<std::string> all = {"--dataset", "mvtec", "--data-root", root(), "--category", "bottle"};
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
  test::ScratchDir dir_;
};

// Dataset errors (piade::DatasetError) as the CLI words them: settings
// become the flags that set them.
TEST_F(MvtecOptions, DatasetErrorsNameTheFlags) {
  EXPECT_EQ(error_of([&] { load({"--dataset", "mvtec", "--data-root", root()}); }),
            "--category: needed for --dataset mvtec (available in " + root() + ": bottle, screw)");
  EXPECT_EQ(error_of([&] { load(args({"--normal-class", "1"})); }),
            "--normal-class: not used by --dataset mvtec; its normal images are <category>/train/good");
  EXPECT_EQ(error_of([&] { load({"--dataset", "cifar10", "--category", "bottle"}); }),
            "--category: only for --dataset mvtec, not cifar10");
  EXPECT_EQ(error_of([&] { load({"--dataset", "fmnist", "--train-dir", "x"}); }),
            "--train-dir: only for --dataset folder, not fmnist");
  EXPECT_EQ(error_of([&] { load({"--dataset", "folder", "--train-dir", root()}); }),
            "--test-normal-dir: needed for --dataset folder with named directories (--train-dir, --test-normal-dir, "
            "--test-anomalous-dir, optional --mask-dir)");
  EXPECT_EQ(error_of([&] { load(args({"--resize", "20", "--image-size", "32"})); }),
            "--resize: must be at least --image-size (32), got 20");
}

// --skip-bad names what it skipped: the count, the first five with their
// reasons (the path said once), and how many more.
TEST_F(MvtecOptions, SkipBadWarnsWithTheFirstSkippedFiles) {
  std::vector<std::string> orphans;
  for (int i = 0; i < 7; ++i) {
    const fs::path mask = dir_.path() / "bottle/ground_truth/scratch" / fmt::format("{:03d}_mask.png", i);
    fs::create_directories(mask.parent_path());
    ASSERT_TRUE(cv::imwrite(mask.string(), cv::Mat(64, 64, CV_8UC1, cv::Scalar(255))));
    orphans.push_back(mask.string());
  }
  testing::internal::CaptureStderr();
  const OneClassSplit split = load(args({"--skip-bad", "--image-size", "16"}));
  const std::string warnings = testing::internal::GetCapturedStderr();
  ASSERT_EQ(split.skipped_items.size(), 7u);
  std::string expected = "piade: warning: --skip-bad: skipped 7 unreadable files or records of MVTec AD bottle\n";
  for (int i = 0; i < 5; ++i)
    expected += "piade: warning: skipped " + orphans[std::size_t(i)] +
                ": mask without its image (no anomalous test directory named scratch)\n";
  expected += "piade: warning: ... and 2 more (--log-file FILE lists them all)\n";
  EXPECT_EQ(warnings, expected);

  // Nothing skipped: nothing said.
  fs::remove_all(dir_.path() / "bottle/ground_truth/scratch");
  testing::internal::CaptureStderr();
  EXPECT_TRUE(load(args({"--skip-bad", "--image-size", "16"})).skipped_items.empty());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(MvtecOptions, TestOnlyAndTheCheckpointRecordGiveTheSameTestSplit) {
  const std::vector<std::string> training = args({"--resize", "32", "--image-size", "16", "--max-train", "3",
                                                  "--max-test", "4"});
  const OneClassSplit both = load(training, 9);
  const OneClassSplit test_only = load_dataset(parse_data_options(training), 9, DatasetSplits::test_only);
  EXPECT_EQ(test_only.train.size(), 0);
  EXPECT_EQ(test_only.test.ids, both.test.ids);
  EXPECT_TRUE(torch::equal(test_only.test.masks, both.test.masks));
  // The test subset does not depend on --max-train.
  std::vector<std::string> more_train = training;
  more_train[more_train.size() - 3] = "4";
  EXPECT_EQ(load(more_train, 9).test.ids, both.test.ids);

  // What `piade train` records, and an evaluation that names nothing.
  const nlohmann::json meta = {
      {"image", {{"channels", 3}, {"height", 16}, {"width", 16}}},
      {"preprocess", {{"image_size", 16}, {"channels", 3}, {"resize", 32}}},
      {"dataset", dataset_to_json(parse_data_options(training), both)}};
  EXPECT_EQ(meta["dataset"]["description"], "MVTec AD bottle");
  EXPECT_EQ(meta["dataset"]["options"]["category"], "bottle");
  EXPECT_EQ(meta["dataset"]["options"]["data-root"], root());
  const CommandLine eval = parse_eval_options({"--max-test", "4"}, meta);
  EXPECT_EQ(eval.source("category").text(), "checkpoint run");
  EXPECT_EQ(eval.source("max-test").text(), "command line");
  check_checkpoint_geometry(eval, meta, "run/checkpoint.pt");
  const OneClassSplit evaluated = load_dataset(eval, 9, DatasetSplits::test_only);
  EXPECT_EQ(evaluated.test.ids, both.test.ids);
  EXPECT_TRUE(torch::equal(evaluated.test.images, both.test.images));

  const CommandLine other_size = parse_eval_options({"--image-size", "20"}, meta);
  EXPECT_EQ(error_of([&] { check_checkpoint_geometry(other_size, meta, "run/checkpoint.pt"); }),
            "--image-size: run/checkpoint.pt was trained with --image-size 16; leave the option out or give 16");
  // Another dataset: only the geometry is taken.
  const CommandLine other_data = parse_eval_options({"--dataset", "cifar10"}, meta);
  EXPECT_FALSE(other_data.values.count("category"));
  EXPECT_EQ(other_data.get<int64_t>("resize"), 32);
}

}  // namespace
}  // namespace piade

namespace piade {
namespace {

// --memory-budget (issue 17): sizes with binary units; a bad one is one line
// naming the option and the text.
TEST(DataOptions, MemoryBudgetSizesParseWithBinaryUnits) {
  EXPECT_EQ(parse_memory_budget("65536"), 65536u);
  EXPECT_EQ(parse_memory_budget("512M"), uint64_t(512) << 20);
  EXPECT_EQ(parse_memory_budget("4G"), uint64_t(4) << 30);
  EXPECT_EQ(parse_memory_budget("4gib"), uint64_t(4) << 30);
  EXPECT_EQ(parse_memory_budget("1.5K"), 1536u);
  EXPECT_EQ(parse_memory_budget("2TB"), uint64_t(2) << 40);
  EXPECT_EQ(error_of([] { parse_memory_budget("lots"); }),
            "--memory-budget: expected a size such as 4G, 512M or 65536 (bytes), got 'lots'");
  EXPECT_EQ(error_of([] { parse_memory_budget("4X"); }),
            "--memory-budget: expected a size such as 4G, 512M or 65536 (bytes), got '4X'");
  EXPECT_EQ(error_of([] { parse_memory_budget("-1G"); }),
            "--memory-budget: expected a size such as 4G, 512M or 65536 (bytes), got '-1G'");
  EXPECT_EQ(error_of([] { parse_memory_budget("0"); }), "--memory-budget: must be at least 1 byte, got '0'");
  EXPECT_EQ(error_of([] { parse_memory_budget("99999999T"); }), "--memory-budget: '99999999T' is more than 8 EiB");

  // Through the options: given, or a quarter of the memory by default; not a
  // setting of the run, so a checkpoint does not record it.
  EXPECT_EQ(decode_settings(parse_data_options({"--memory-budget", "3M"})).memory_budget, uint64_t(3) << 20);
  EXPECT_EQ(decode_settings(parse_data_options({})).memory_budget, default_memory_budget());
}

// Above the budget a folder dataset is streamed: the same split, nothing of
// it decoded.
TEST_F(MvtecOptions, AboveTheMemoryBudgetTheSplitIsStreamed) {
  const OneClassSplit memory = load(args({"--image-size", "16"}));
  const OneClassSplit streamed = load(args({"--image-size", "16", "--memory-budget", "1K"}));
  ASSERT_FALSE(memory.train.streamed());
  ASSERT_TRUE(streamed.train.streamed());
  ASSERT_TRUE(streamed.test.streamed());
  EXPECT_EQ(streamed.train.ids, memory.train.ids);
  EXPECT_EQ(streamed.test.ids, memory.test.ids);
  EXPECT_TRUE(torch::equal(streamed.test.masks, memory.test.masks));
  EXPECT_TRUE(torch::equal(streamed.test.images_at({0, 1, 2, 3, 4}), memory.test.images));
}

}  // namespace
}  // namespace piade
