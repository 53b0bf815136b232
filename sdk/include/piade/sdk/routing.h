// Routing: routes primary capsules to instantiation vectors (paper sec. 3.1).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include "piade/sdk/component.h"

namespace piade {

/// The instantiation vector handed to the decoder, one per image.
struct VectorSelection {
  torch::Tensor vectors;  ///< [N,D]
  torch::Tensor index;    ///< [N] int64: which of the routed vectors was chosen
};

/// Maps capsules [N,count,dim] to instantiation vectors [N,V,D].
class PIADE_SDK_API Routing : public virtual torch::nn::Module {
 public:
  static constexpr Kind kind = Kind::routing;
  ~Routing() override;

  virtual torch::Tensor forward(const torch::Tensor& capsules) = 0;
  /// Vector count and length for a capsule shape; known before forward().
  virtual VectorShape output_shape(const CapsuleShape& input) const = 0;

  /// Chooses the vector to decode from forward()'s output [N,V,D]. The
  /// default is the paper's (sec. 3.1): vector 0 while training, so that one
  /// vector learns the normal class, and the longest (most likely entity)
  /// in evaluation.
  virtual VectorSelection select(const torch::Tensor& vectors) const;
};

/// Each image's longest vector of [N,V,D] (the most likely entity, sec.
/// 3.1): what Routing::select() decodes in evaluation, for a routing that
/// decodes it in training too.
PIADE_SDK_API VectorSelection select_longest(const torch::Tensor& vectors);

}  // namespace piade
