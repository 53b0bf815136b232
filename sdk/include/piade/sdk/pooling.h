// Pooling: turns the backbone's feature map into primary capsules (paper sec. 3.1, Fig. 2).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include "piade/sdk/component.h"

namespace piade {

/// Maps features [N,K,h,w] to primary capsules [N,count,dim].
class PIADE_SDK_API Pooling : public virtual torch::nn::Module {
 public:
  static constexpr Kind kind = Kind::pooling;
  ~Pooling() override;

  virtual torch::Tensor forward(const torch::Tensor& features) = 0;
  /// Capsule count and length for a feature shape; known before forward().
  virtual CapsuleShape output_shape(const FeatureShape& input) const = 0;
};

}  // namespace piade
