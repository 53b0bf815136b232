// The options of backbone/resnet18, resnet50 and their SE variants, declared
// once: the parameter tables, the parsing and pretty_print() are derived from
// them (piade/sdk/options.h).
#pragma once

#include <cstdint>
#include <string>

#include "piade/sdk/options.h"

namespace piade::resnet {

/// The first layers before layer1.
enum class Stem {
  /// torchvision's: 7x7 stride-2 conv + 3x3 stride-2 max-pool (/4).
  imagenet,
  /// CIFAR ResNets' (He et al., arXiv 1512.03385 sec. 4.2): one 3x3 stride-1
  /// conv, no max-pool, so 28-32 px images keep a 4x4 final map.
  small,
};
inline const piade::Choice<Stem> kStems[] = {{Stem::imagenet, "imagenet"}, {Stem::small, "small"}};

struct ResNetOptions {
  /// torchvision's state dict of the same depth; empty: the orthogonal init
  /// of paper sec. 4.2 (which used ImageNet weights).
  TORCH_ARG(std::string, weights) = "";
  /// Map [-1,1] images to torchvision's input statistics; off only for
  /// weights trained on piade's own [-1,1] inputs.
  TORCH_ARG(bool, normalize) = true;
  /// imagenet (/32 overall) or small (/8 overall, for 28-32 px images).
  TORCH_ARG(Stem, stem) = Stem::imagenet;

  PIADE_OPTIONS(
      PIADE_OPTION(weights,
                   "torchvision weights of the same depth (resnet18/resnet50 .pth as downloaded, "
                   "or .safetensors); empty: orthogonal init"),
      PIADE_OPTION(normalize,
                   "map [-1,1] images to [0,1] and normalise with ImageNet mean/std, as "
                   "torchvision's weights expect"),
      PIADE_OPTION(stem,
                   "imagenet: 7x7 stride-2 conv + max-pool (output /32); small: 3x3 stride-1 conv, "
                   "no max-pool (output /8: 32x32 gives 4x4)",
                   kStems))
};

struct SeResNetOptions : ResNetOptions {
  /// Reduction ratio r of each SE block: W1 is C/r x C (paper eq. 2, r = 4;
  /// the authors' SE-ResNet50 in capsmod.py uses 16).
  TORCH_ARG(int64_t, reduction) = 4;

  PIADE_OPTIONS_EXTEND(
      ResNetOptions,
      PIADE_OPTION(reduction,
                   "SE reduction ratio r: W1 is C/r x C, W2 is C x C/r (paper eq. 2 uses 4, the "
                   "authors' SE-ResNet50 16)",
                   param::Range::between(1, 64)))
};

}  // namespace piade::resnet
