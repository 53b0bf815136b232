// Loss term: one part of the reconstruction loss, which is also the anomaly
// score (paper sec. 3.2, eq. 5).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include "piade/sdk/component.h"

namespace piade {

/// One term's result. Maps are read in eval mode only: in training mode
/// (is_training()) a term may leave `map` undefined and spare the work.
struct LossTerm {
  torch::Tensor per_image;  ///< [N], unweighted; higher = worse reconstruction
  torch::Tensor map;        ///< [N,H,W] per-pixel contribution, or undefined
};

/// Compares images and reconstructions, both [N,C,H,W] in [-1,1]. The host
/// multiplies each term by its `weight` parameter (which it adds to every
/// loss component's schema) and sums the terms per image: the mean over the
/// batch is the training loss, the per-image sum is the anomaly score.
class PIADE_SDK_API Loss : public virtual torch::nn::Module {
 public:
  static constexpr Kind kind = Kind::loss;
  ~Loss() override;

  virtual LossTerm forward(const torch::Tensor& images, const torch::Tensor& reconstructions) = 0;
};

}  // namespace piade
