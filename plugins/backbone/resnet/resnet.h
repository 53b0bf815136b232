// backbone/resnet18's and backbone/se_resnet18's options, declared once:
// the parameter tables, the parsing and pretty_print() are derived from
// them (piade/sdk/options.h).
#pragma once

#include <cstdint>
#include <string>

#include "piade/sdk/options.h"

namespace piade::resnet {

struct ResNet18Options {
  /// torchvision's resnet18 state dict; empty: the orthogonal init of paper
  /// sec. 4.2 (which used ImageNet weights).
  TORCH_ARG(std::string, weights) = "";
  /// Map [-1,1] images to torchvision's input statistics; off only for
  /// weights trained on piade's own [-1,1] inputs.
  TORCH_ARG(bool, normalize) = true;

  PIADE_OPTIONS(
      PIADE_OPTION(weights,
                   "torchvision resnet18 weights (its .pth as downloaded, or .safetensors); "
                   "empty: orthogonal init"),
      PIADE_OPTION(normalize,
                   "map [-1,1] images to [0,1] and normalise with ImageNet mean/std, as "
                   "torchvision's weights expect"))
};

struct SeResNet18Options : ResNet18Options {
  /// Reduction ratio r of each SE block: W1 is C/r x C (paper eq. 2, r = 4).
  TORCH_ARG(int64_t, reduction) = 4;

  PIADE_OPTIONS_EXTEND(
      ResNet18Options,
      PIADE_OPTION(reduction,
                   "SE reduction ratio r: W1 is C/r x C, W2 is C x C/r (paper eq. 2 uses 4)",
                   param::Range::between(1, 64)))
};

}  // namespace piade::resnet
