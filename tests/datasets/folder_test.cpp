// MVTec AD and users' image folders (datasets/mvtec.h, datasets/folder.h):
// counts, labels, masks aligned with their images through resize and crop,
// the named directories, and every kind of bad layout named.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "piade/datasets/folder.h"
#include "piade/datasets/mvtec.h"
#include "fixtures.h"

namespace piade {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::load;
using test::Request;
using test::ScratchDir;
using test::defect;
using test::write_image;

const cv::Scalar kGray(40, 40, 40);
const cv::Scalar kRed(0, 0, 255);  // BGR

// root/bottle as MVTec AD lays it out, root/screw with training images only,
// and a folder that is no category.
class Mvtec : public ::testing::Test {
 protected:
  void SetUp() override { test::write_mvtec_tree(dir_.path()); }
  static std::string name(int i) { return fmt::format("{:03d}.png", i); }
  std::string root() const { return dir_.path().string(); }
  std::string bottle() const { return (dir_ / "bottle").string(); }
  std::string bottle(const std::string& path) const { return (dir_ / "bottle" / path).string(); }
  Request args() const { return Request("mvtec", root()).category("bottle"); }
  ScratchDir dir_;
};

TEST_F(Mvtec, CountsLabelsAndIds) {
  EXPECT_EQ(mvtec_categories(root()), (std::vector<std::string>{"bottle", "screw"}));
  const OneClassSplit split = load(args().size(32));
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
  // The files' own size survives the split; a file's kind is its directory.
  EXPECT_EQ(split.test.original_sizes, std::vector<ImageSize>(5, ImageSize{64, 64}));
  EXPECT_TRUE(split.test_classes.empty());
}

TEST_F(Mvtec, MasksFollowTheirImagesThroughResizeAndCrop) {
  // 64 -> 32 -> center 16 (offset 8): the defect on rows 16..31 and columns
  // 32..47 lands on rows 0..7, columns 8..15, in the image and in the mask.
  const OneClassSplit split = load(args().size(16, 32));
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
  const OneClassSplit odd = load(args().size(20));
  EXPECT_EQ(((odd.test.masks != 0) & (odd.test.masks != 255)).sum().item<int64_t>(), 0);
  EXPECT_GT(odd.test.masks[4].sum().item<int64_t>(), 0);
}

TEST_F(Mvtec, SubsetsApplyToTheFiles) {
  const OneClassSplit split = load(args().max_train(2).max_test(3).size(16), 4);
  EXPECT_EQ(split.train.size(), 2);
  EXPECT_EQ(split.test.size(), 3);
  EXPECT_EQ(split.test.labels.sum().item<int64_t>(), 2);  // round(2/5 * 3) = 1 normal
  EXPECT_EQ(split.test.masks.size(0), 3);
  const OneClassSplit again = load(args().max_train(2).max_test(3).size(16), 4);
  EXPECT_EQ(split.train.ids, again.train.ids);
  EXPECT_EQ(split.test.ids, again.test.ids);
}

TEST_F(Mvtec, UnknownOrMissingCategoryNamesTheAvailableOnes) {
  Request no_category("mvtec", root());
  EXPECT_EQ(error_of([&] { load(no_category); }),
            "category: needed for `dataset` mvtec (available in " + root() + ": bottle, screw)");
  no_category.category("botle");
  EXPECT_EQ(error_of([&] { load(no_category); }),
            "category: 'botle' is not a category in " + root() + " (available: bottle, screw)");
  EXPECT_EQ(error_of([&] { load(Request("mvtec", bottle()).category("bottle")); }),
            "data_root: '" + bottle() + "' is one category (it has train/good/); give the directory above it with "
                                        "`category` bottle");
  EXPECT_EQ(error_of([&] { load(args().normal_class(1)); }),
            "normal_class: not used by `dataset` mvtec; its normal images are <category>/train/good");
  EXPECT_EQ(error_of([&] { load(Request("cifar10").category("bottle")); }),
            "category: only for `dataset` mvtec, not cifar10");
}

TEST_F(Mvtec, BadLayoutsAreNamed) {
  // A mask without its image, named; --skip-bad drops it and says so.
  const std::string orphan = write_image(dir_ / "bottle/ground_truth/crack/007_mask.png", defect(0, 0, true));
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            orphan + ": mask without its image (no 007.* among the anomalous test images it belongs to); remove it, "
                     "or pass `skip_bad`");
  EXPECT_EQ(test::items_of(load(args().skip_bad().size(16)).skipped_items), std::vector<std::string>{orphan});
  fs::remove(orphan);

  const std::string lost = write_image(dir_ / "bottle/ground_truth/scratch/000_mask.png", defect(0, 0, true));
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            lost + ": mask without its image (no anomalous test directory named scratch); remove it, or pass `skip_bad`");
  fs::remove_all(dir_ / "bottle/ground_truth/scratch");

  // An anomalous image without its mask.
  fs::remove(dir_ / "bottle/ground_truth/hole/000_mask.png");
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            bottle("test/hole/000.png") + ": anomalous image without a mask (no 000_mask.* under " + bottle("ground_truth") +
                "); add it, or pass `skip_bad`");
  fs::remove_all(dir_ / "bottle/ground_truth/hole");
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            bottle("ground_truth") + ": no hole/ directory with the masks of " + bottle("test/hole"));
  write_image(dir_ / "bottle/ground_truth/hole/000_mask.png", cv::Mat(32, 64, CV_8UC1, cv::Scalar(255)));
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            bottle("ground_truth/hole/000_mask.png") + ": mask is 64x32 pixels but its image " + bottle("test/hole/000.png") +
                " is 64x64; fix or remove it, or pass `skip_bad`");
  write_image(dir_ / "bottle/ground_truth/hole/000_mask.png", defect(48, 48, true));

  // A truncated image, named; skipped and named with --skip-bad.
  const std::string cut = bottle("test/crack/001.png");
  fs::resize_file(cut, fs::file_size(cut) / 2);
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            cut + ": cannot decode as an image (unreadable, truncated or not an image); fix or remove it, or pass `skip_bad`");
  const OneClassSplit skipped = load(args().skip_bad().size(16));
  EXPECT_EQ(test::items_of(skipped.skipped_items), std::vector<std::string>{cut});
  EXPECT_EQ(skipped.test.size(), 4);
  EXPECT_EQ(skipped.test.masks.size(0), 4);
  EXPECT_EQ(skipped.test.masks[3].sum().item<int64_t>(), 16 * 255);  // hole/000's 4x4 defect, still aligned

  // An empty split.
  for (int i = 0; i < 4; ++i) fs::remove(dir_ / "bottle/train/good" / name(i));
  EXPECT_EQ(error_of([&] { load(args().size(16)); }),
            bottle("train/good") + ": no images (png, jpg, jpeg, bmp, tif, tiff) in this training directory");
  fs::remove_all(dir_ / "bottle/test/good");
  EXPECT_EQ(error_of([&] { load(args()); }),
            bottle() + ": no test/good/ directory; expected train/good/, test/good/, test/<anomaly>/ and optionally "
                       "ground_truth/<anomaly>/");
}

TEST_F(Mvtec, SkipBadNamesEverySkippedFileWithItsReason) {
  // Two masks of no anomalous directory, a mask of no image, an anomalous
  // image without its mask, and a truncated image: five files, which the
  // old count gave as 5.
  const std::string lost0 = write_image(dir_ / "bottle/ground_truth/scratch/000_mask.png", defect(0, 0, true));
  const std::string lost1 = write_image(dir_ / "bottle/ground_truth/scratch/001_mask.png", defect(0, 0, true));
  const std::string orphan = write_image(dir_ / "bottle/ground_truth/crack/007_mask.png", defect(0, 0, true));
  fs::remove(dir_ / "bottle/ground_truth/hole/000_mask.png");
  const std::string unmasked = bottle("test/hole/000.png");
  const std::string cut = bottle("test/crack/001.png");
  fs::resize_file(cut, fs::file_size(cut) / 2);

  const OneClassSplit split = load(args().skip_bad().size(16));
  // Listing order (unknown mask directories, unmatched masks, images
  // without masks), then the decode's.
  EXPECT_EQ(test::items_of(split.skipped_items), (std::vector<std::string>{lost0, lost1, orphan, unmasked, cut}));
  ASSERT_EQ(split.skipped_items.size(), 5u);
  EXPECT_EQ(split.skipped_items[0].reason, lost0 + ": mask without its image (no anomalous test directory named scratch)");
  EXPECT_EQ(split.skipped_items[2].reason,
            orphan + ": mask without its image (no 007.* among the anomalous test images it belongs to)");
  EXPECT_EQ(split.skipped_items[3].reason,
            unmasked + ": anomalous image without a mask (no 000_mask.* under " + bottle("ground_truth") + ")");
  EXPECT_EQ(split.skipped_items[4].reason, cut + ": cannot decode as an image (unreadable, truncated or not an image)");
  EXPECT_EQ(split.test.ids,
            (std::vector<std::string>{bottle("test/good/000.png"), bottle("test/good/001.png"), bottle("test/crack/000.png")}));
  // The same list on every load.
  EXPECT_EQ(test::items_of(load(args().skip_bad().size(16)).skipped_items), test::items_of(split.skipped_items));
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
  const OneClassSplit layout = load(Request("folder", mine));
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
  const auto named = [&] {
    return Request("folder")
        .train_dir((dir / "normal").string())
        .train_dir((dir / "more").string())
        .test_normal_dir((dir / "ok").string())
        .test_anomalous_dir((dir / "bad1").string())
        .test_anomalous_dir((dir / "bad2").string())
        .mask_dir((dir / "masks").string());
  };
  const OneClassSplit split = load(named().size(24).channels(1));
  EXPECT_EQ(split.train.size(), 3);
  EXPECT_EQ(split.train.images.sizes(), (std::vector<int64_t>{3, 1, 24, 24}));
  EXPECT_TRUE(torch::equal(split.test.labels, torch::tensor({0, 1, 1}, torch::kLong)));
  EXPECT_EQ(split.test.masks[1].sum().item<int64_t>(), 8 * 8 * 255);
  EXPECT_EQ(split.test.masks[1][0][10][18].item<int>(), 255);
  EXPECT_EQ(split.test.masks[2].sum().item<int64_t>(), 24 * 24 * 255);
  EXPECT_EQ(split.test.masks[0].sum().item<int64_t>(), 0);

  // Mistakes with the settings.
  EXPECT_EQ(error_of([&] { load(Request("folder").train_dir((dir / "normal").string())); }),
            "test_normal_dir: needed for `dataset` folder with named directories (`train_dir`, `test_normal_dir`, "
            "`test_anomalous_dir`, optional `mask_dir`)");
  EXPECT_EQ(error_of([&] { load(Request("fmnist").train_dir("x")); }),
            "train_dir: only for `dataset` folder, not fmnist");
  EXPECT_EQ(error_of([&] { load(Request("folder", mine).train_dir("x")); }),
            "data_root: give either `data_root` (laid out as train/good/, test/good/, test/<anomaly>/) or "
            "`train_dir`, `test_normal_dir` and `test_anomalous_dir`, not both");
  // No image_size: the sizes differ (48 and the 32 of `mine`).
  EXPECT_EQ(error_of([&] { load(named().train_dir((dir / "mine/train/good").string())); }),
            (dir / "mine/train/good/a.PNG").string() + ": 32x32 pixels, but " + (dir / "normal/a.png").string() +
                " is 48x48; images of several sizes need `image_size` S");
}

// A symbolic link loop named like an image made directory listing throw
// std::filesystem's own error, and skip_bad did not skip it.
TEST(Folder, ASymlinkLoopIsNamedAndSkippedWithSkipBad) {
  ScratchDir dir;
  write_image(dir / "set/train/good/a.png", test::solid(16, kGray));
  write_image(dir / "set/test/good/b.png", test::solid(16, kGray));
  write_image(dir / "set/test/broken/c.png", test::solid(16, kRed));
  const fs::path loop = dir / "set/train/good/loop.png";
  fs::create_symlink(loop.filename(), loop);
  const std::string root = (dir / "set").string();
  EXPECT_EQ(error_of([&] { load(Request("folder", root)); }),
            loop.string() + ": cannot open: a symbolic link loop (Too many levels of symbolic links); fix or remove "
                            "it, or pass `skip_bad`");
  const OneClassSplit split = load(Request("folder", root).skip_bad());
  EXPECT_EQ(split.train.size(), 1);
  ASSERT_EQ(split.skipped_items.size(), 1u);
  EXPECT_EQ(split.skipped_items[0].item, loop.string());
}

}  // namespace
}  // namespace piade
