// Turns decoded uint8 images into the network's input: resized (and
// center-cropped), with the requested channel count, as float in [-1,1]
// (the decoder's tanh range).
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace piade {

struct Preprocess {
  int64_t image_size = 0;  ///< output image_size x image_size (0 = keep)
  int64_t channels = 0;    ///< 1 or 3 (0 = keep); gray is repeated, RGB averaged
  /// Resize to resize x resize first, then center-crop image_size x image_size
  /// (the authors' code: 156 then 120); 0 = resize straight to image_size.
  int64_t resize = 0;
};

/// The top-left offset torchvision's CenterCrop takes: round((from - to) / 2),
/// halves to even as Python's round().
int64_t center_crop_offset(int64_t from, int64_t to);

/// The geometry alone, [N,C,H,W] uint8 or float -> [N,C,S,S] of the same
/// type (bilinear; uint8 is rounded back). Images already image_size x
/// image_size are returned as they are: they are taken to be at the final
/// geometry (file datasets decode straight to it), so applying this twice
/// changes nothing.
torch::Tensor resize_and_crop(const torch::Tensor& images, const Preprocess& settings);

/// [N,C,H,W] uint8 -> [N,channels,S,S] float in [-1,1] (resize_and_crop's
/// geometry).
torch::Tensor preprocess(const torch::Tensor& images, const Preprocess& settings);

/// The inverse map for pictures: [-1,1] float -> [0,255] uint8.
torch::Tensor to_uint8(const torch::Tensor& images);

}  // namespace piade
