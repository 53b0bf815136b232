// pooling/pyramid's options, declared once: the parameter table, the parsing
// and pretty_print() are derived from them (piade/sdk/options.h).
#pragma once

#include <cstdint>
#include <vector>

#include "piade/sdk/options.h"

namespace piade::pyramid {

/// Example: 512x4x4 features with the defaults give 64*(64+16+4+1)/8 = 680
/// capsules of length 8.
struct PyramidOptions {
  /// Output side of each adaptive average pooling level; the paper uses
  /// 8x8, 4x4, 2x2 and 1x1.
  TORCH_ARG(std::vector<int64_t>, levels) = std::vector<int64_t>{8, 4, 2, 1};
  /// Channels of the 1x1 convolution after each level (paper: 64).
  TORCH_ARG(int64_t, channels) = 64;
  /// Length of each primary capsule (paper: 8-dimensional vectors).
  TORCH_ARG(int64_t, capsule_dim) = 8;

  PIADE_OPTIONS(
      PIADE_OPTION(levels, "output side of each adaptive average pooling level",
                   param::Range::at_least(1)),
      PIADE_OPTION(channels, "channels of the 1x1 convolution after each level",
                   param::Range::at_least(1)),
      PIADE_OPTION(capsule_dim, "length of each primary capsule; must divide the pooled values",
                   param::Range::at_least(1)))
};

}  // namespace piade::pyramid
