// loss/ssim's options, declared once: the parameter table, the parsing and
// pretty_print() are derived from them (piade/sdk/options.h). The term's
// `weight` is not one of them: the host adds it to every loss (loss.h).
#pragma once

#include <cstdint>

#include "piade/sdk/options.h"

namespace piade::ssim {

struct SsimLossOptions {
  /// Side of the gaussian window; odd, so that it is centred on the pixel.
  TORCH_ARG(int64_t, window) = 11;
  /// Standard deviation of the gaussian window, in pixels.
  TORCH_ARG(double, sigma) = 1.5;

  PIADE_OPTIONS(
      PIADE_OPTION(window, "side of the gaussian window; odd", param::Range::at_least(1)),
      PIADE_OPTION(sigma, "standard deviation of the gaussian window, in pixels",
                   param::Range::at_least(0)))
};

}  // namespace piade::ssim
