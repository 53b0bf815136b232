// The pixel range a loss term measures in, as a choice parameter of its
// options (piade/sdk/options.h). Images reach a loss in [-1,1] (loss.h); the
// authors' code measures on ToTensor() images in [0,1] (issue 18's switches
// of loss/mse, loss/ssim and loss/perceptual).
#pragma once

#include <torch/types.h>

#include "piade/sdk/options.h"

namespace piade {

enum class PixelRange { minus_one_to_one, zero_to_one };
const Choice<PixelRange> kPixelRanges[] = {{PixelRange::minus_one_to_one, "[-1,1]"},
                                           {PixelRange::zero_to_one, "[0,1]"}};

/// `images`, given in [-1,1], in `range`: (x+1)/2 for [0,1], which is exact
/// in floating point (a halving), and the images themselves for [-1,1].
inline torch::Tensor in_pixel_range(const torch::Tensor& images, PixelRange range) {
  return range == PixelRange::zero_to_one ? (images + 1) * 0.5 : images;
}

}  // namespace piade
