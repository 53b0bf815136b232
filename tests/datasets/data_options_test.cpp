// The dataset options (host/data_options.h) as every command parses them:
// geometry settings, format names, and IDX data through load_dataset.
#include <gtest/gtest.h>

#include "fixtures.h"

namespace piade {
namespace {

using test::error_of;
using test::load;
using test::parse_data_options;

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

}  // namespace
}  // namespace piade
