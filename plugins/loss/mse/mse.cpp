// loss/mse: pixel-wise mean squared error between image and reconstruction,
// the reconstruction term of the PIADE loss (paper sec. 4.2, eq. 8).
#include <torch/torch.h>

#include "piade/sdk/plugin.h"

namespace {

class MseLossImpl : public torch::nn::Cloneable<MseLossImpl>, public piade::Loss {
 public:
  explicit MseLossImpl(const piade::ComponentContext& /*context*/) { reset(); }
  void reset() override {}

  piade::LossTerm forward(const torch::Tensor& images, const torch::Tensor& reconstructions) override {
    TORCH_CHECK(images.sizes() == reconstructions.sizes(), "loss/mse: images ", images.sizes(),
                " and reconstructions ", reconstructions.sizes(), " differ in shape");
    // Per pixel: squared error averaged over channels; per image: mean over pixels.
    torch::Tensor map = (images - reconstructions).square().mean(/*dim=*/1);
    return {map.flatten(1).mean(1), map};
  }
};

const PiadeComponentSpec kComponents[] = {
    piade::component<MseLossImpl>("mse", "pixel-wise mean squared error (paper eq. 8)"),
};

}  // namespace

PIADE_PLUGIN("mse", "1.0.0", "mean squared error reconstruction loss", kComponents)
