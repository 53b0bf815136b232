// loss/perceptual's options, declared once: the parameter table, the parsing
// and pretty_print() are derived from them (piade/sdk/options.h). The term's
// `weight` is not one of them: the host adds it to every loss (loss.h).
#pragma once

#include <string>

#include "piade/sdk/options.h"

namespace piade::perceptual {

struct PerceptualLossOptions {
  /// torchvision's vgg11 state dict, of which only the two convolutions used
  /// are read; empty: orthogonal init (the paper's VGG is pretrained and
  /// fixed, sec. 3.2).
  TORCH_ARG(std::string, weights) = "";

  PIADE_OPTIONS(PIADE_OPTION(
      weights,
      "torchvision vgg11 weights (its .pth as downloaded, or .safetensors; only "
      "features.0 and features.3 are read); empty: orthogonal init"))
};

}  // namespace piade::perceptual
