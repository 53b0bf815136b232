#include "piade/datasets/transforms.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <torch/nn/functional.h>

#include "piade/datasets/error.h"

namespace piade {
namespace {

namespace F = torch::nn::functional;

torch::Tensor bilinear(const torch::Tensor& x, int64_t size) {
  if (x.size(2) == size && x.size(3) == size) return x;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{size, size})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace

int64_t center_crop_offset(int64_t from, int64_t to) {
  // std::nearbyint rounds halves to even in the default rounding mode, as
  // Python's round() in torchvision.transforms.functional.center_crop.
  return static_cast<int64_t>(std::nearbyint(double(from - to) / 2.0));
}

torch::Tensor resize_and_crop(const torch::Tensor& images, const Preprocess& settings) {
  if (images.dim() != 4) throw DatasetError("preprocess: expected images [N,C,H,W]");
  const int64_t size = settings.image_size;
  if (size <= 0 || (images.size(2) == size && images.size(3) == size)) return images;
  if (settings.resize > 0 && settings.resize < size)
    throw DatasetError("resize", fmt::format("must be at least `image_size` ({}), got {}", size, settings.resize));
  auto geometry = [&](torch::Tensor x) {
    if (settings.resize > 0) {
      x = bilinear(x, settings.resize);
      const int64_t offset = center_crop_offset(settings.resize, size);
      return x.narrow(2, offset, size).narrow(3, offset, size);
    }
    return bilinear(x, size);
  };
  if (images.scalar_type() != torch::kUInt8) return geometry(images).contiguous();
  // uint8 sets (a whole dataset) go through float a chunk at a time.
  constexpr int64_t kChunk = 256;
  torch::Tensor out = torch::empty({images.size(0), images.size(1), size, size}, torch::kUInt8);
  for (int64_t begin = 0; begin < images.size(0); begin += kChunk) {
    const int64_t count = std::min(kChunk, images.size(0) - begin);
    out.narrow(0, begin, count)
        .copy_(geometry(images.narrow(0, begin, count).to(torch::kFloat)).round().clamp(0, 255).to(torch::kUInt8));
  }
  return out;
}

torch::Tensor preprocess(const torch::Tensor& images, const Preprocess& settings) {
  if (images.dim() != 4) throw DatasetError("preprocess: expected images [N,C,H,W]");
  torch::Tensor x = images.to(torch::kFloat).div(255.0);
  if (settings.channels != 0 && settings.channels != x.size(1)) {
    if (settings.channels == 3 && x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
    else if (settings.channels == 1 && x.size(1) == 3) x = x.mean(1, /*keepdim=*/true);
    else
      throw DatasetError("channels", fmt::format("cannot turn {}-channel images into {}", x.size(1),
                              settings.channels));
  }
  x = resize_and_crop(x, settings);
  return x.mul(2.0).sub(1.0).clamp(-1.0, 1.0).contiguous();
}

torch::Tensor to_uint8(const torch::Tensor& images) {
  return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch::kUInt8);
}

}  // namespace piade
