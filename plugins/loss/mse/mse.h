// loss/mse's options, declared once: the parameter table, the parsing and
// pretty_print() are derived from them (piade/sdk/options.h). The term's
// `weight` is not one of them: the host adds it to every loss (loss.h).
#pragma once

#include "piade/sdk/options.h"
#include "piade/sdk/pixel_range.h"

namespace piade::mse {

struct MseLossOptions {
  /// [-1,1]: the images as piade feeds them; [0,1]: both sides mapped by
  /// (x+1)/2 first, as the authors' train.py, which gives a quarter of the
  /// [-1,1] value.
  TORCH_ARG(PixelRange, pixel_range) = PixelRange::minus_one_to_one;

  PIADE_OPTIONS(PIADE_OPTION(pixel_range,
                             "pixel range the error is measured in: [-1,1] (images as fed) or [0,1] "
                             "(the authors' code; a quarter of the [-1,1] value)",
                             kPixelRanges))
};

}  // namespace piade::mse
