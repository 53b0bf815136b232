// MVTec AD and users' image folders (datasets/mvtec.h, datasets/folder.h):
// counts, labels, masks aligned with their images through resize and crop,
// the named-directory options, and every kind of bad layout named.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "datasets/folder.h"
#include "datasets/mvtec.h"
#include "fixtures.h"

namespace piade {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::load;
using test::ScratchDir;
using test::write_image;

const cv::Scalar kGray(40, 40, 40);
const cv::Scalar kRed(0, 0, 255);  // BGR

// A 64x64 gray image with a red defect on rows [top, top+16), columns
// [left, left+16), and its mask.
cv::Mat defect(int top, int left, bool mask) {
  cv::Mat image = mask ? cv::Mat(64, 64, CV_8UC1, cv::Scalar(0)) : test::solid(64, kGray);
  image(cv::Rect(left, top, 16, 16)).setTo(mask ? cv::Scalar(255) : kRed);
  return image;
}

// root/bottle as MVTec AD lays it out, root/screw with training images only,
// and a folder that is no category.
class Mvtec : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path bottle = dir_ / "bottle";
    for (int i = 0; i < 4; ++i) write_image(bottle / "train/good" / name(i), test::solid(64, kGray));
    for (int i = 0; i < 2; ++i) write_image(bottle / "test/good" / name(i), test::solid(64, kGray));
    write_image(bottle / "test/crack/000.png", defect(16, 32, false));
    write_image(bottle / "ground_truth/crack/000_mask.png", defect(16, 32, true));
    write_image(bottle / "test/crack/001.png", defect(0, 0, false));
    write_image(bottle / "ground_truth/crack/001_mask.png", defect(0, 0, true));
    write_image(bottle / "test/hole/000.png", defect(48, 48, false));
    write_image(bottle / "ground_truth/hole/000_mask.png", defect(48, 48, true));
    write_image(dir_ / "screw/train/good/000.png", test::solid(64, kGray));
    fs::create_directories(dir_ / "license");
  }
  static std::string name(int i) { return fmt::format("{:03d}.png", i); }
  std::string root() const { return dir_.path().string(); }
  std::string bottle() const { return (dir_ / "bottle").string(); }
  std::string bottle(const std::string& path) const { return (dir_ / "bottle" / path).string(); }
  std::vector<std::string> args(std::vector<std::string> more = {}) const {
    std::vector<std::string> all = {"--dataset", "mvtec", "--data-root", root(), "--category", "bottle"};
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
  ScratchDir dir_;
};

TEST_F(Mvtec, CountsLabelsAndIds) {
  EXPECT_EQ(mvtec_categories(root()), (std::vector<std::string>{"bottle", "screw"}));
  const OneClassSplit split = load(args({"--image-size", "32"}));
  EXPECT_EQ(split.description, "MVTec AD bottle");
  EXPECT_EQ(split.train.size(), 4);
  EXPECT_EQ(split.train.labels.sum().item<int64_t>(), 0);
  EXPECT_FALSE(split.train.masks.defined());
  EXPECT_EQ(split.train.ids[0], bottle("train/good/000.png"));
  ASSERT_EQ(split.test.size(), 5);
  EXPECT_EQ(split.test.ids, (std::vector<std::string>{bottle("test/good/000.png"), bottle("test/good/001.png"),
                                                      bottle("test/crack/000.png"), bottle("test/crack/001.png"),
                                                      bottle("test/hole/000.png")}));
  EXPECT_TRUE(torch::equal(split.test.labels, torch::tensor({0, 0, 1, 1, 1}, torch::kLong)));
  EXPECT_EQ(split.test.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  ASSERT_TRUE(split.test.masks.defined());
  EXPECT_EQ(split.test.masks.sizes(), (std::vector<int64_t>{5, 1, 32, 32}));
  EXPECT_EQ(split.test.masks.dtype(), torch::kUInt8);
  EXPECT_EQ(split.test.masks[0].sum().item<int64_t>(), 0);  // normal: all zero
  EXPECT_EQ(split.test.masks[2].sum().item<int64_t>(), 64 * 255);  // the 16x16 defect at half size
}

TEST_F(Mvtec, MasksFollowTheirImagesThroughResizeAndCrop) {
  // 64 -> 32 -> center 16 (offset 8): the defect on rows 16..31 and columns
  // 32..47 lands on rows 0..7, columns 8..15, in the image and in the mask.
  const OneClassSplit split = load(args({"--resize", "32", "--image-size", "16"}));
  const torch::Tensor mask = split.test.masks[2][0];
  const torch::Tensor red = split.test.images[2][0];
  const torch::Tensor green = split.test.images[2][1];
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      const bool inside = y < 8 && x >= 8;
      ASSERT_EQ(mask[y][x].item<int>(), inside ? 255 : 0) << y << "," << x;
      ASSERT_EQ(red[y][x].item<int>(), inside ? 255 : 40) << y << "," << x;
      ASSERT_EQ(green[y][x].item<int>(), inside ? 0 : 40) << y << "," << x;
    }
  // The defect of crack/001 (rows and columns 0..15) is cropped away.
  EXPECT_EQ(split.test.masks[3].sum().item<int64_t>(), 0);
  // Masks are binary after resizing.
  const OneClassSplit odd = load(args({"--image-size", "20"}));
  EXPECT_EQ(((odd.test.masks != 0) & (odd.test.masks != 255)).sum().item<int64_t>(), 0);
  EXPECT_GT(odd.test.masks[4].sum().item<int64_t>(), 0);
}

TEST_F(Mvtec, SubsetsApplyToTheFiles) {
  const OneClassSplit split = load(args({"--image-size", "16", "--max-train", "2", "--max-test", "3"}), 4);
  EXPECT_EQ(split.train.size(), 2);
  EXPECT_EQ(split.test.size(), 3);
  EXPECT_EQ(split.test.labels.sum().item<int64_t>(), 2);  // round(2/5 * 3) = 1 normal
  EXPECT_EQ(split.test.masks.size(0), 3);
  const OneClassSplit again = load(args({"--image-size", "16", "--max-train", "2", "--max-test", "3"}), 4);
  EXPECT_EQ(split.train.ids, again.train.ids);
  EXPECT_EQ(split.test.ids, again.test.ids);
}

TEST_F(Mvtec, UnknownOrMissingCategoryNamesTheAvailableOnes) {
  std::vector<std::string> no_category = {"--dataset", "mvtec", "--data-root", root()};
  EXPECT_EQ(error_of([&] { load(no_category); }),
            "--category: needed for --dataset mvtec (available in " + root() + ": bottle, screw)");
  no_category.insert(no_category.end(), {"--category", "botle"});
  EXPECT_EQ(error_of([&] { load(no_category); }),
            "--category: 'botle' is not a category in " + root() + " (available: bottle, screw)");
  EXPECT_EQ(error_of([&] { load({"--dataset", "mvtec", "--data-root", bottle(), "--category", "bottle"}); }),
            "--data-root: '" + bottle() + "' is one category (it has train/good/); give the directory above it with "
                                          "--category bottle");
  EXPECT_EQ(error_of([&] { load(args({"--normal-class", "1"})); }),
            "--normal-class: not used by --dataset mvtec; its normal images are <category>/train/good");
  EXPECT_EQ(error_of([&] { load({"--dataset", "cifar10", "--category", "bottle"}); }),
            "--category: only for --dataset mvtec, not cifar10");
}

TEST_F(Mvtec, BadLayoutsAreNamed) {
  // A mask without its image, named; --skip-bad drops it and says so.
  const std::string orphan = write_image(dir_ / "bottle/ground_truth/crack/007_mask.png", defect(0, 0, true));
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            orphan + ": mask without its image (no 007.* among the anomalous test images it belongs to); remove it, "
                     "or pass --skip-bad");
  EXPECT_EQ(load(args({"--image-size", "16", "--skip-bad"})).skipped, 1);
  fs::remove(orphan);

  const std::string lost = write_image(dir_ / "bottle/ground_truth/scratch/000_mask.png", defect(0, 0, true));
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            lost + ": mask without its image (no anomalous test directory named scratch); remove it, or pass --skip-bad");
  fs::remove_all(dir_ / "bottle/ground_truth/scratch");

  // An anomalous image without its mask.
  fs::remove(dir_ / "bottle/ground_truth/hole/000_mask.png");
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            bottle("test/hole/000.png") + ": anomalous image without a mask (no 000_mask.* under " + bottle("ground_truth") +
                "); add it, or pass --skip-bad");
  fs::remove_all(dir_ / "bottle/ground_truth/hole");
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            bottle("ground_truth") + ": no hole/ directory with the masks of " + bottle("test/hole"));
  write_image(dir_ / "bottle/ground_truth/hole/000_mask.png", cv::Mat(32, 64, CV_8UC1, cv::Scalar(255)));
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            bottle("ground_truth/hole/000_mask.png") + ": mask is 64x32 pixels but its image " + bottle("test/hole/000.png") +
                " is 64x64; fix or remove it, or pass --skip-bad");
  write_image(dir_ / "bottle/ground_truth/hole/000_mask.png", defect(48, 48, true));

  // A truncated image, named; skipped and counted with --skip-bad.
  const std::string cut = bottle("test/crack/001.png");
  fs::resize_file(cut, fs::file_size(cut) / 2);
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            cut + ": cannot decode as an image (unreadable, truncated or not an image); fix or remove it, or pass --skip-bad");
  const OneClassSplit skipped = load(args({"--image-size", "16", "--skip-bad"}));
  EXPECT_EQ(skipped.skipped, 1);
  EXPECT_EQ(skipped.test.size(), 4);
  EXPECT_EQ(skipped.test.masks.size(0), 4);
  EXPECT_EQ(skipped.test.masks[3].sum().item<int64_t>(), 16 * 255);  // hole/000's 4x4 defect, still aligned

  // An empty split.
  for (int i = 0; i < 4; ++i) fs::remove(dir_ / "bottle/train/good" / name(i));
  EXPECT_EQ(error_of([&] { load(args({"--image-size", "16"})); }),
            bottle("train/good") + ": no images (png, jpg, jpeg, bmp, tif, tiff) in this training directory");
  fs::remove_all(dir_ / "bottle/test/good");
  EXPECT_EQ(error_of([&] { load(args()); }),
            bottle() + ": no test/good/ directory; expected train/good/, test/good/, test/<anomaly>/ and optionally "
                       "ground_truth/<anomaly>/");
}

TEST_F(Mvtec, TestOnlyAndTheCheckpointRecordGiveTheSameTestSplit) {
  const std::vector<std::string> training = args({"--resize", "32", "--image-size", "16", "--max-train", "3",
                                                  "--max-test", "4"});
  const OneClassSplit both = load(training, 9);
  const OneClassSplit test_only = load_dataset(test::parse_data_options(training), 9, DatasetSplits::test_only);
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
      {"dataset", dataset_to_json(test::parse_data_options(training), both)}};
  EXPECT_EQ(meta["dataset"]["description"], "MVTec AD bottle");
  EXPECT_EQ(meta["dataset"]["options"]["category"], "bottle");
  EXPECT_EQ(meta["dataset"]["options"]["data-root"], root());
  CommandLine eval = test::parse_data_options({"--max-test", "4"});
  apply_checkpoint_dataset(eval, meta, "run/checkpoint.pt");
  const OneClassSplit evaluated = load_dataset(eval, 9, DatasetSplits::test_only);
  EXPECT_EQ(evaluated.test.ids, both.test.ids);
  EXPECT_TRUE(torch::equal(evaluated.test.images, both.test.images));

  CommandLine other_size = test::parse_data_options({"--image-size", "20"});
  EXPECT_EQ(error_of([&] { apply_checkpoint_dataset(other_size, meta, "run/checkpoint.pt"); }),
            "--image-size: run/checkpoint.pt was trained with --image-size 16; leave the option out or give 16");
  // Another dataset: only the geometry is taken.
  CommandLine other_data = test::parse_data_options({"--dataset", "cifar10"});
  apply_checkpoint_dataset(other_data, meta, "run/checkpoint.pt");
  EXPECT_FALSE(other_data.values.count("category"));
  EXPECT_EQ(other_data.get<int64_t>("resize"), 32);
}

TEST(Folder, LayoutAndNamedDirectories) {
  ScratchDir dir;
  // The MVTec layout with any anomaly names, no masks, mixed extensions.
  write_image(dir / "mine/train/good/a.PNG", test::solid(32, kGray));
  write_image(dir / "mine/train/good/b.jpg", test::solid(32, kGray));
  write_image(dir / "mine/train/good/c.BMP", test::solid(32, kGray));
  write_image(dir / "mine/test/good/d.tiff", test::solid(32, kGray));
  write_image(dir / "mine/test/broken/e.png", test::solid(32, kRed));
  const std::string mine = (dir / "mine").string();
  const OneClassSplit layout = load({"--dataset", "folder", "--data-root", mine});
  EXPECT_EQ(layout.description, "image folder " + mine);
  EXPECT_EQ(layout.train.size(), 3);
  EXPECT_EQ(layout.train.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(layout.test.labels, torch::tensor({0, 1}, torch::kLong)));
  EXPECT_FALSE(layout.test.masks.defined());
  EXPECT_EQ(layout.test.images[1][0][0][0].item<int>(), 255);

  // Directories named one by one; masks in sub-directories named after the
  // anomalous directories, NAME_mask.* or NAME.*.
  write_image(dir / "normal/a.png", test::solid(48, kGray));
  write_image(dir / "normal/b.png", test::solid(48, kGray));
  write_image(dir / "more/c.png", test::solid(48, kGray));
  write_image(dir / "ok/d.png", test::solid(48, kGray));
  write_image(dir / "bad1/e.png", defect(16, 32, false)(cv::Rect(0, 0, 48, 48)));
  write_image(dir / "bad2/f.png", test::solid(48, kRed));
  write_image(dir / "masks/bad1/e_mask.png", defect(16, 32, true)(cv::Rect(0, 0, 48, 48)));
  write_image(dir / "masks/bad2/f.png", test::solid(48, {255}, CV_8UC1));
  std::vector<std::string> named = {"--dataset", "folder", "--train-dir", (dir / "normal").string(),
                                    "--train-dir", (dir / "more").string(), "--test-normal-dir", (dir / "ok").string(),
                                    "--test-anomalous-dir", (dir / "bad1").string(), "--test-anomalous-dir",
                                    (dir / "bad2").string(), "--mask-dir", (dir / "masks").string(),
                                    "--image-size", "24", "--channels", "1"};
  const OneClassSplit split = load(named);
  EXPECT_EQ(split.train.size(), 3);
  EXPECT_EQ(split.train.images.sizes(), (std::vector<int64_t>{3, 1, 24, 24}));
  EXPECT_TRUE(torch::equal(split.test.labels, torch::tensor({0, 1, 1}, torch::kLong)));
  EXPECT_EQ(split.test.masks[1].sum().item<int64_t>(), 8 * 8 * 255);
  EXPECT_EQ(split.test.masks[1][0][10][18].item<int>(), 255);
  EXPECT_EQ(split.test.masks[2].sum().item<int64_t>(), 24 * 24 * 255);
  EXPECT_EQ(split.test.masks[0].sum().item<int64_t>(), 0);

  // Mistakes with the options.
  EXPECT_EQ(error_of([&] { load({"--dataset", "folder", "--train-dir", (dir / "normal").string()}); }),
            "--test-normal-dir: needed for --dataset folder with named directories (--train-dir, --test-normal-dir, "
            "--test-anomalous-dir, optional --mask-dir)");
  EXPECT_EQ(error_of([&] { load({"--dataset", "fmnist", "--train-dir", "x"}); }),
            "--train-dir: only for --dataset folder, not fmnist");
  EXPECT_EQ(error_of([&] { load({"--dataset", "folder", "--data-root", mine, "--train-dir", "x"}); }),
            "--data-root: give either --data-root (laid out as train/good/, test/good/, test/<anomaly>/) or "
            "--train-dir, --test-normal-dir and --test-anomalous-dir, not both");
  named.resize(named.size() - 4);  // no --image-size: the sizes differ (48 and the 32 of `mine`)
  named.insert(named.end(), {"--train-dir", (dir / "mine/train/good").string()});
  EXPECT_EQ(error_of([&] { load(named); }),
            (dir / "mine/train/good/a.PNG").string() + ": 32x32 pixels, but " + (dir / "normal/a.png").string() +
                " is 48x48; images of several sizes need --image-size S");
}

}  // namespace
}  // namespace piade
