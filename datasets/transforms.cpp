#include "datasets/transforms.h"

#include <fmt/format.h>
#include <torch/nn/functional.h>

#include "host/error.h"

namespace piade {

torch::Tensor preprocess(const torch::Tensor& images, const Preprocess& settings) {
  if (images.dim() != 4) throw Error("preprocess: expected images [N,C,H,W]");
  torch::Tensor x = images.to(torch::kFloat).div(255.0);
  if (settings.channels != 0 && settings.channels != x.size(1)) {
    if (settings.channels == 3 && x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
    else if (settings.channels == 1 && x.size(1) == 3) x = x.mean(1, /*keepdim=*/true);
    else
      throw Error(fmt::format("--channels: cannot turn {}-channel images into {}", x.size(1),
                              settings.channels));
  }
  if (settings.image_size > 0 && (x.size(2) != settings.image_size || x.size(3) != settings.image_size)) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{settings.image_size, settings.image_size})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  return x.mul(2.0).sub(1.0).clamp(-1.0, 1.0).contiguous();
}

torch::Tensor to_uint8(const torch::Tensor& images) {
  return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch::kUInt8);
}

}  // namespace piade
