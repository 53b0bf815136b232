// loss/mse: pixel-wise mean squared error between image and reconstruction,
// the reconstruction term of the PIADE loss (paper sec. 3.2, the first term
// of eq. 5: (1/WH) ||X - X^||_F^2, here also averaged over channels).
#include <torch/torch.h>

#include "piade/sdk/plugin.h"

#include "mse.h"

namespace {

class MseLossImpl : public torch::nn::Cloneable<MseLossImpl>, public piade::Loss {
 public:
  using Options = piade::mse::MseLossOptions;

  explicit MseLossImpl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)) {
    reset();
  }
  void reset() override {}

  piade::LossTerm forward(const torch::Tensor& images, const torch::Tensor& reconstructions) override {
    TORCH_CHECK(images.sizes() == reconstructions.sizes(), "loss/mse: images ", images.sizes(),
                " and reconstructions ", reconstructions.sizes(), " differ in shape");
    // Per pixel: squared error averaged over channels; per image: mean over
    // pixels and channels, through the norm, whose backward is one
    // multiplication (square().mean()'s takes three passes).
    // On [0,1] both sides are mapped by (x+1)/2, so their difference is
    // halved: scaling by a power of two is exact, so the value is exactly a
    // quarter of the [-1,1] one.
    const torch::Tensor difference = options_.pixel_range() == piade::PixelRange::zero_to_one
                                         ? (reconstructions - images) * 0.5
                                         : reconstructions - images;
    const double values = static_cast<double>(difference[0].numel());
    torch::Tensor per_image =
        torch::linalg_vector_norm(difference, 2, std::vector<int64_t>{1, 2, 3}, false, c10::nullopt)
            .square() / values;
    // Training never uses the map (the loss SDK's contract).
    if (is_training()) return {per_image, torch::Tensor()};
    return {per_image, difference.square().mean(/*dim=*/1)};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, "loss/mse", options_);
  }

 private:
  Options options_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<MseLossImpl>("mse", "pixel-wise mean squared error (paper sec. 3.2, eq. 5)"),
};

}  // namespace

PIADE_PLUGIN("mse", "mean squared error reconstruction loss", kComponents)
