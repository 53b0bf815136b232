// Image files (datasets/image_files.h): decoded in parallel straight to the
// requested geometry, RGB plane order, channel handling, and bad files named.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "piade/datasets/image_files.h"
#include "piade/datasets/limits.h"
#include "fixtures.h"

namespace piade {
namespace {

using test::error_of;
using test::ScratchDir;
using test::write_bytes;
using test::write_image;

// A gray image constant on 2x2 blocks: area-shrinking it by 2 gives the
// block values exactly, block (R, C) = (7C + 3R) % 256.
cv::Mat blocks(int size) {
  cv::Mat image(size, size, CV_8UC1);
  for (int r = 0; r < size; ++r)
    for (int c = 0; c < size; ++c) image.at<uint8_t>(r, c) = uint8_t(((c / 2) * 7 + (r / 2) * 3) % 256);
  return image;
}

TEST(ImageFiles, DecodesStraightToTheSizeInRgbOrder) {
  ScratchDir dir;
  // OpenCV's order is BGR: this is R=200, G=100, B=50.
  const std::string file = write_image(dir / "a.png", test::solid(40, {50, 100, 200}));
  DecodeOptions options;
  options.channels = 3;
  options.image_size = 20;
  const ImageSet set = read_images({file}, options);
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{1, 3, 20, 20}));
  EXPECT_EQ(set.images.dtype(), torch::kUInt8);
  EXPECT_EQ(set.images[0][0][7][9].item<int>(), 200);
  EXPECT_EQ(set.images[0][1][7][9].item<int>(), 100);
  EXPECT_EQ(set.images[0][2][7][9].item<int>(), 50);
  EXPECT_EQ(set.ids, std::vector<std::string>{file});
  EXPECT_FALSE(set.masks.defined());
}

TEST(ImageFiles, ChannelsFollowTheFirstFileOrTheOption) {
  ScratchDir dir;
  const std::string gray = write_image(dir / "g.png", test::solid(16, {77}, CV_8UC1));
  DecodeOptions options;  // channels 0: the first file's
  EXPECT_EQ(read_images({gray}, options).images.size(1), 1);
  options.channels = 3;  // gray repeated
  const ImageSet rgb = read_images({gray}, options);
  ASSERT_EQ(rgb.images.size(1), 3);
  EXPECT_EQ(rgb.images[0][2][5][5].item<int>(), 77);
  EXPECT_EQ(rgb.images[0][0][5][5].item<int>(), 77);
}

TEST(ImageFiles, WithoutASizeTheImagesMustBeSquareAndAlike) {
  ScratchDir dir;
  const std::string a = write_image(dir / "a.png", test::solid(24, {1, 2, 3}));
  const std::string b = write_image(dir / "b.png", test::solid(24, {4, 5, 6}));
  const std::string c = write_image(dir / "c.png", test::solid(32, {4, 5, 6}));
  const std::string wide = write_image(dir / "w.png", cv::Mat(20, 30, CV_8UC3, cv::Scalar(0, 0, 0)));
  DecodeOptions options;
  EXPECT_EQ(read_images({a, b}, options).images.sizes(), (std::vector<int64_t>{2, 3, 24, 24}));
  EXPECT_EQ(error_of([&] { read_images({a, c}, options); }),
            c + ": 32x32 pixels, but " + a + " is 24x24; images of several sizes need `image_size` S");
  EXPECT_EQ(error_of([&] { read_images({wide, a}, options); }),
            wide + ": 30x20 pixels is not square; pass `image_size` S to resize the images");
  options.image_size = 16;
  EXPECT_EQ(read_images({wide, a, c}, options).images.sizes(), (std::vector<int64_t>{3, 3, 16, 16}));
}

TEST(ImageFiles, ResizeThenCenterCropKeepsTheRightPixels) {
  ScratchDir dir;
  const std::string file = write_image(dir / "blocks.png", blocks(64));
  DecodeOptions options;
  options.resize = 32;      // area: 2x2 blocks -> one pixel each, exactly
  options.image_size = 16;  // center crop: offset (32 - 16) / 2 = 8
  const ImageSet set = read_images({file}, options);
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{1, 1, 16, 16}));
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      ASSERT_EQ(set.images[0][0][y][x].item<int>(), ((x + 8) * 7 + (y + 8) * 3) % 256) << y << "," << x;
  options.image_size = 40;  // smaller than --image-size
  EXPECT_EQ(error_of([&] { read_images({file}, options); }), "resize: must be at least `image_size` (40), got 32");
}

TEST(ImageFiles, ParallelDecodingGivesTheSameCacheAsOneThread) {
  ScratchDir dir;
  std::vector<std::string> files;
  for (int i = 0; i < 24; ++i) {
    cv::Mat image(48, 48, CV_8UC3);
    cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(255));
    files.push_back(write_image(dir / (std::to_string(100 + i) + ".png"), image));
  }
  DecodeOptions options;
  options.image_size = 20;
  options.resize = 30;
  options.threads = 1;
  const ImageSet one = read_images(files, options);
  options.threads = 4;
  const ImageSet four = read_images(files, options);
  EXPECT_TRUE(torch::equal(one.images, four.images));
  EXPECT_EQ(one.ids, four.ids);
  EXPECT_EQ(four.ids, files);
}

TEST(ImageFiles, BadFilesAreNamedOrSkippedWithTheirReasons) {
  ScratchDir dir;
  const std::string good = write_image(dir / "0good.png", test::solid(32, {9, 9, 9}));
  const std::string truncated = write_image(dir / "1cut.png", blocks(64));
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) / 2);
  const std::string text = write_bytes(dir / "2text.png", "this is not an image\n");
  const std::string missing = (dir / "3missing.png").string();
  DecodeOptions options;
  options.image_size = 16;
  const std::string undecodable = ": cannot decode as an image (unreadable, truncated or not an image)";
  const std::string advice = "; fix or remove it, or pass `skip_bad`";
  EXPECT_EQ(error_of([&] { read_images({good, truncated}, options); }), truncated + undecodable + advice);
  EXPECT_EQ(error_of([&] { read_images({good, text}, options); }), text + undecodable + advice);
  EXPECT_EQ(error_of([&] { read_images({good, missing}, options); }), missing + ": no such file" + advice);
  // The first bad file in the list's order, whatever thread met it first.
  EXPECT_EQ(error_of([&] { read_images({good, text, truncated}, options); }), text + undecodable + advice);

  // skip_bad: each bad file in the list's order, with the error it would
  // have thrown less the advice, appended to what the list already holds.
  options.skip_bad = true;
  std::vector<SkippedItem> skipped = {{"earlier.png", "from another read"}};
  const ImageSet set = read_images({truncated, good, text, missing}, options, &skipped);
  EXPECT_EQ(test::items_of(skipped), (std::vector<std::string>{"earlier.png", truncated, text, missing}));
  ASSERT_EQ(skipped.size(), 4u);
  EXPECT_EQ(skipped[1].reason, truncated + undecodable);
  EXPECT_EQ(skipped[2].reason, text + undecodable);
  EXPECT_EQ(skipped[3].reason, missing + ": no such file");
  EXPECT_EQ(set.ids, std::vector<std::string>{good});
  EXPECT_EQ(set.size(), 1);
  EXPECT_NE(error_of([&] { read_images({truncated, text}, options); }).find("no image could be read"), std::string::npos);

  // A bad mask drops its image: the item is the image, the reason names the mask.
  const std::string other = write_image(dir / "4good.png", test::solid(32, {9, 9, 9}));
  const std::string no_mask = (dir / "4good_mask.png").string();
  std::vector<SkippedItem> masked;
  EXPECT_EQ(read_image_files({{good, 0, ""}, {other, 1, no_mask}}, options, &masked).ids,
            std::vector<std::string>{good});
  ASSERT_EQ(masked.size(), 1u);
  EXPECT_EQ(masked[0].item, other);
  EXPECT_EQ(masked[0].reason, no_mask + ": no such file");
}

TEST(ImageFiles, ATruncatedJpegIsAnErrorNotAGreyImage) {
  // libjpeg only warns about a JPEG cut short and OpenCV fills the missing
  // rows with grey; the file must be named instead (docs/reliability.md).
  ScratchDir dir;
  const std::string whole = write_image(dir / "whole.jpg", blocks(64));
  const std::string cut = write_image(dir / "cut.jpg", blocks(64));
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) * 2 / 3);
  DecodeOptions options;
  options.image_size = 16;
  EXPECT_EQ(read_images({whole}, options).size(), 1);
  EXPECT_EQ(error_of([&] { read_images({whole, cut}, options); }),
            cut + ": truncated JPEG (it ends before its end-of-image marker); copy or download it again; fix or "
                  "remove it, or pass `skip_bad`");
}

TEST(ImageFiles, KeepEachFilesOwnSize) {
  ScratchDir dir;
  const std::string wide = write_image(dir / "wide.png", cv::Mat(30, 50, CV_8UC3, cv::Scalar(1, 2, 3)));
  const std::string tall = write_image(dir / "tall.png", cv::Mat(41, 17, CV_8UC1, cv::Scalar(9)));
  const std::string bad = write_bytes(dir / "bad.png", "not an image\n");
  DecodeOptions options;
  options.image_size = 16;
  options.skip_bad = true;
  const ImageSet set = read_images({wide, bad, tall}, options);
  ASSERT_EQ(set.ids, (std::vector<std::string>{wide, tall}));
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  // Height and width before decoding, aligned with the images (the skipped
  // file's gone), and through select().
  EXPECT_EQ(set.original_sizes, (std::vector<ImageSize>{{30, 50}, {41, 17}}));
  EXPECT_EQ(set.select({1, 0}).original_sizes, (std::vector<ImageSize>{{41, 17}, {30, 50}}));
}

TEST(ImageFiles, ListsCommonExtensionsInAnyCase) {
  ScratchDir dir;
  for (const char* name : {"a.PNG", "b.jpg", "c.JPEG", "d.bmp", "e.Tif", "f.tiff"})
    write_image(dir / name, test::solid(8, {1, 1, 1}));
  write_bytes(dir / "notes.txt", "x");
  const std::vector<std::string> files = list_images({dir.path().string()});
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "a.PNG");
  EXPECT_EQ(read_images(files, 3, 8).size(), 6);  // the call `piade score` makes
}

// The signature and IHDR of a PNG of width x height, nothing more: it need
// not decode, since the size must be refused from the header alone.
std::string png_header(uint32_t width, uint32_t height) {
  std::string bytes("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  for (uint32_t v : {width, height})
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(char(v >> shift));
  bytes += std::string("\x08\x02\0\0\0\0\0\0\0", 9);  // 8-bit RGB, then a dummy CRC
  return bytes;
}

// Without `image_size` a 20000x20000 PNG made the set 20000x20000 per image
// (1.2 GB each) and OpenCV decoded it whole; now its header is refused
// before decoding, naming the file and the limit, and skip_bad skips it.
TEST(ImageFiles, AnImageLargerThanThePixelLimitIsRefusedFromItsHeader) {
  ScratchDir dir;
  const std::string big = write_bytes(dir / "big.png", png_header(20000, 20000));
  const std::string small = write_image(dir / "small.png", test::solid(8, {1, 2, 3}));
  const std::string refused =
      big + ": 20000x20000 pixels, more than piade's limit of 268435456 pixels (16384x16384) for one image";
  EXPECT_EQ(error_of([&] { read_images({big, small}, DecodeOptions()); }),
            refused + "; fix or remove it, or pass `skip_bad`");
  DecodeOptions sized;
  sized.image_size = 8;
  EXPECT_EQ(error_of([&] { read_images({small, big}, sized); }), refused + "; fix or remove it, or pass `skip_bad`");
  std::vector<SkippedItem> skipped;
  DecodeOptions skip;
  skip.skip_bad = true;
  EXPECT_EQ(read_images({big, small}, skip, &skipped).size(), 1);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].reason, refused);
}

// The set's size is checked before the [N,C,S,S] cache is allocated.
TEST(ImageFiles, ASetLargerThanTheMemoryLimitIsRefusedBeforeAllocating) {
  ScratchDir dir;
  const std::string small = write_image(dir / "small.png", test::solid(8, {1, 2, 3}));
  DecodeOptions options;
  options.image_size = 16384;
  options.channels = 3;
  const std::vector<std::string> files(50, small);  // 50 x 768 MiB
  EXPECT_EQ(error_of([&] { read_images(files, options); }),
            "image_size: 50 images of 3x16384x16384 take 40265318400 bytes, more than piade's limit of 32 GiB for "
            "one dataset; pass a smaller `image_size` or fewer images");
  options.image_size = 100000;
  EXPECT_EQ(error_of([&] { read_images({small}, options); }),
            "image_size: 100000 makes 100000x100000 images, more than piade's limit of 268435456 pixels "
            "(16384x16384) for one image");
}

// Opening a FIFO blocks until something writes to it: `piade score` on one hung.
TEST(ImageFiles, AFifoIsRefusedBeforeOpening) {
  ScratchDir dir;
  const std::string fifo = (dir / "pipe.png").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { list_images({fifo}); }), fifo + ": is a FIFO (named pipe), not a regular file");
  EXPECT_EQ(error_of([&] { read_images({fifo}, 1, 8); }),
            fifo + ": is a FIFO (named pipe), not a regular file; fix or remove it, or pass `skip_bad`");
}

}  // namespace
}  // namespace piade
