// loss/perceptual's options, declared once: the parameter table, the parsing
// and pretty_print() are derived from them (piade/sdk/options.h). The term's
// `weight` is not one of them: the host adds it to every loss (loss.h).
#pragma once

#include <string>

#include "piade/sdk/options.h"
#include "piade/sdk/pixel_range.h"

namespace piade::perceptual {

/// What VGG sees: torchvision's ImageNet standardisation of [0,1] pixels
/// (what its weights expect), or the pixels as they are.
enum class Normalization { imagenet, raw };
const Choice<Normalization> kNormalizations[] = {{Normalization::imagenet, "imagenet"},
                                                 {Normalization::raw, "raw"}};

struct PerceptualLossOptions {
  /// torchvision's vgg11 state dict, of which only the two convolutions used
  /// are read; empty: orthogonal init (the paper's VGG is pretrained and
  /// fixed, sec. 3.2).
  TORCH_ARG(std::string, weights) = "";
  /// imagenet: ((x+1)/2 - mean) / std, torchvision's input contract; raw:
  /// the pixels in `pixel_range` as they are (the authors'
  /// vgg_percep_loss.py feeds ToTensor() images in [0,1]).
  TORCH_ARG(Normalization, normalization) = Normalization::imagenet;
  /// With raw: the range of the pixels VGG sees. ImageNet's mean and std are
  /// defined on [0,1] pixels, so with imagenet only the default is accepted.
  TORCH_ARG(PixelRange, pixel_range) = PixelRange::minus_one_to_one;

  PIADE_OPTIONS(
      PIADE_OPTION(weights,
                   "torchvision vgg11 weights (its .pth as downloaded, or .safetensors; only "
                   "features.0 and features.3 are read); empty: orthogonal init"),
      PIADE_OPTION(normalization,
                   "VGG input: imagenet (mean/std of ImageNet on [0,1] pixels) or raw (the pixels as "
                   "they are, in pixel_range; the authors' code)",
                   kNormalizations),
      PIADE_OPTION(pixel_range,
                   "pixel range VGG sees with normalization=raw: [-1,1] (images as fed) or [0,1] (the "
                   "authors' code)",
                   kPixelRanges))
};

}  // namespace piade::perceptual
