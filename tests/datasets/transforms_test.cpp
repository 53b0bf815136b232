// Preprocessing geometry (datasets/transforms.h): resize, or resize then
// center crop as the authors' code (156 then 120), the same for tensors as
// for decoded files.
#include <gtest/gtest.h>

#include "piade/datasets/transforms.h"

namespace piade {
namespace {

TEST(Transforms, CenterCropOffsetRoundsAsTorchvision) {
  EXPECT_EQ(center_crop_offset(156, 120), 18);
  EXPECT_EQ(center_crop_offset(157, 120), 18);  // round(18.5) = 18, halves to even
  EXPECT_EQ(center_crop_offset(159, 120), 20);  // round(19.5) = 20
  EXPECT_EQ(center_crop_offset(120, 120), 0);
}

TEST(Transforms, ResizeThenCropOnTensors) {
  // 2x2 blocks: bilinear halving samples between the two pixels of a block.
  torch::Tensor images = torch::empty({2, 1, 64, 64}, torch::kUInt8);
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c) images.index_put_({torch::indexing::Slice(), 0, r, c}, ((c / 2) * 7 + (r / 2) * 3) % 256);
  Preprocess settings;
  settings.image_size = 16;
  settings.resize = 32;
  const torch::Tensor out = resize_and_crop(images, settings);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 1, 16, 16}));
  EXPECT_EQ(out.dtype(), torch::kUInt8);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) ASSERT_EQ(out[1][0][y][x].item<int>(), ((x + 8) * 7 + (y + 8) * 3) % 256);
  // Already at the output size: taken as final, unchanged.
  EXPECT_TRUE(torch::equal(resize_and_crop(out, settings), out));

  settings.channels = 3;
  const torch::Tensor input = preprocess(images, settings);
  ASSERT_EQ(input.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  EXPECT_NEAR(input[0][2][0][0].item<float>(), (8 * 7 + 8 * 3) / 127.5 - 1.0, 1e-5);
}

TEST(Transforms, ResizeSmallerThanTheImageSizeIsAnError) {
  Preprocess settings;
  settings.image_size = 32;
  settings.resize = 20;
  try {
    resize_and_crop(torch::zeros({1, 1, 8, 8}, torch::kUInt8), settings);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "resize: must be at least `image_size` (32), got 20");
  }
}

}  // namespace
}  // namespace piade
