// Decoder: reconstructs the image from one instantiation vector and the
// backbone's features (paper sec. 3.1).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include "piade/sdk/component.h"

namespace piade {

/// Maps a vector [N,D] and features [N,K,h,w] to a reconstruction
/// [N,C,H,W] in [-1,1] of the image shape given at construction.
class PIADE_SDK_API Decoder : public virtual torch::nn::Module {
 public:
  static constexpr Kind kind = Kind::decoder;
  ~Decoder() override;

  virtual torch::Tensor forward(const torch::Tensor& vector, const torch::Tensor& features) = 0;
};

}  // namespace piade
