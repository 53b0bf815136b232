// Backbone: the feature extractor at the start of the pipeline (paper sec. 3.1).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include "piade/sdk/component.h"

namespace piade {

/// Maps an image batch [N,C,H,W] (float, in [-1,1]) to one feature map
/// [N,K,h,w], which the pooling part and the decoder both read.
class PIADE_SDK_API Backbone : public virtual torch::nn::Module {
 public:
  static constexpr Kind kind = Kind::backbone;
  ~Backbone() override;

  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
  /// Output channels and size for an input size; known before any forward().
  virtual FeatureShape output_shape(const ImageShape& input) const = 0;
};

}  // namespace piade
