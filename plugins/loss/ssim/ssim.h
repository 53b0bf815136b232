// loss/ssim's options, declared once: the parameter table, the parsing and
// pretty_print() are derived from them (piade/sdk/options.h). The term's
// `weight` is not one of them: the host adds it to every loss (loss.h).
#pragma once

#include <cstdint>

#include "piade/sdk/options.h"
#include "piade/sdk/pixel_range.h"

namespace piade::ssim {

struct SsimLossOptions {
  /// Side of the gaussian window; odd, so that it is centred on the pixel.
  TORCH_ARG(int64_t, window) = 11;
  /// Standard deviation of the gaussian window, in pixels.
  TORCH_ARG(double, sigma) = 1.5;
  /// [0,1] (the default, and what this term always computed): both sides
  /// mapped by (x+1)/2 with the constants of data range 1, exactly the
  /// authors' pytorch_ssim on ToTensor() images; [-1,1]: the images as fed,
  /// with the constants (K L)^2 of Wang et al. for data range L = 2.
  TORCH_ARG(PixelRange, pixel_range) = PixelRange::zero_to_one;

  PIADE_OPTIONS(
      PIADE_OPTION(window, "side of the gaussian window; odd", param::Range::at_least(1)),
      PIADE_OPTION(sigma, "standard deviation of the gaussian window, in pixels",
                   param::Range::at_least(0)),
      PIADE_OPTION(pixel_range,
                   "pixel range SSIM is computed in: [0,1] (the authors' pytorch_ssim, constants for "
                   "data range 1) or [-1,1] (images as fed, constants for data range 2)",
                   kPixelRanges))
};

}  // namespace piade::ssim
