// Turns decoded uint8 images into the network's input: resized, with the
// requested channel count, as float in [-1,1] (the decoder's tanh range).
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace piade {

struct Preprocess {
  int64_t image_size = 0;  ///< resize to image_size x image_size (0 = keep)
  int64_t channels = 0;    ///< 1 or 3 (0 = keep); gray is repeated, RGB averaged
};

/// [N,C,H,W] uint8 -> [N,channels,S,S] float in [-1,1] (bilinear resize).
torch::Tensor preprocess(const torch::Tensor& images, const Preprocess& settings);

/// The inverse map for pictures: [-1,1] float -> [0,255] uint8.
torch::Tensor to_uint8(const torch::Tensor& images);

}  // namespace piade
