// decoder/transposed's options, declared once: the parameter table, the
// parsing and pretty_print() are derived from them (piade/sdk/options.h).
#pragma once

#include <cstdint>
#include <vector>

#include "piade/sdk/options.h"

namespace piade::transposed {

struct TransposedDecoderOptions {
  /// Hidden sizes of the upsampling MLP (paper: 64 -> 128 -> 512 -> 512*mf*mf).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{128, 512};
  /// Channels of the map the MLP produces, the 512 of 512 x mf x mf.
  TORCH_ARG(int64_t, upsample_channels) = 512;
  /// Output channels of the transposed convolutions before the last (paper:
  /// 16, 32, 32); the last one gives the image's channels.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{16, 32, 32};

  PIADE_OPTIONS(
      PIADE_OPTION(hidden, "hidden sizes of the upsampling MLP", param::Range::at_least(1)),
      PIADE_OPTION(upsample_channels, "channels of the upsampled map concatenated with the features",
                   param::Range::at_least(1)),
      PIADE_OPTION(channels, "output channels of the transposed convolutions but the last",
                   param::Range::at_least(1)))
};

}  // namespace piade::transposed
