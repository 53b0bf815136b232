// loss/ssim: the structural similarity term of the PIADE loss (paper sec.
// 3.2, eq. 4 and the lambda_2 term of eq. 5), 1 - SSIM (Wang et al. 2004),
// computed as the authors' pytorch_ssim does: a normalized gaussian window
// (11x11, sigma 1.5), zero padding of window/2, one window per channel,
// C1 = 0.01^2, C2 = 0.03^2.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "piade/sdk/plugin.h"

#include "gaussian_blur.h"
#include "ssim.h"

namespace {

using piade::ssim::SsimLossOptions;

/// Wang et al.'s K1 and K2: the stabilizing constants are (K1 L)^2 and
/// (K2 L)^2 for data range L (pytorch_ssim hard-codes L = 1).
constexpr double kK1 = 0.01;
constexpr double kK2 = 0.03;

class SsimLossImpl : public torch::nn::Cloneable<SsimLossImpl>, public piade::Loss {
 public:
  using Options = SsimLossOptions;

  explicit SsimLossImpl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)) {
    if (options_.window() % 2 == 0)
      throw std::invalid_argument("window=" + std::to_string(options_.window()) +
                                  " is even; use an odd size such as " +
                                  std::to_string(options_.window() + 1));
    if (!(options_.sigma() > 0))
      throw std::invalid_argument("sigma=" + context.params.text("sigma") +
                                  " must be greater than 0; use e.g. sigma=1.5");
    reset();
  }

  void reset() override {
    // The 1-D gaussian, normalized to sum 1, computed in double as
    // pytorch_ssim's gaussian(); its outer product is the 2-D window, so two
    // 1-D passes equal one 2-D pass up to float rounding. A buffer, not a
    // parameter: the window is fixed, and it follows .to(device).
    const int64_t size = options_.window();
    std::vector<double> values(static_cast<size_t>(size));
    double sum = 0;
    for (int64_t x = 0; x < size; ++x) {
      const double d = static_cast<double>(x - size / 2);
      values[static_cast<size_t>(x)] = std::exp(-d * d / (2 * options_.sigma() * options_.sigma()));
      sum += values[static_cast<size_t>(x)];
    }
    for (double& v : values) v /= sum;
    gaussian_ = register_buffer(
        "gaussian", torch::tensor(values, torch::kDouble).to(torch::kFloat));
  }

  piade::LossTerm forward(const torch::Tensor& images, const torch::Tensor& reconstructions) override {
    TORCH_CHECK(images.dim() == 4 && images.sizes() == reconstructions.sizes(),
                "loss/ssim: expected images and reconstructions of one shape [N,C,H,W], got ",
                images.sizes(), " and ", reconstructions.sizes());
    const int64_t n = images.size(0), channels = images.size(1);
    const int64_t height = images.size(2), width = images.size(3);
    // [0,1]: mapped as the authors' ToTensor() images, data range 1; [-1,1]:
    // as fed, data range 2. The luminance term is not shift invariant, so the
    // two differ even with the constants scaled.
    const bool unit = options_.pixel_range() == piade::PixelRange::zero_to_one;
    const torch::Tensor x = piade::in_pixel_range(images, options_.pixel_range());
    const torch::Tensor y = piade::in_pixel_range(reconstructions, options_.pixel_range());
    const double range = unit ? 1.0 : 2.0;
    const double c1 = (kK1 * range) * (kK1 * range), c2 = (kK2 * range) * (kK2 * range);
    // The five local statistics of eq. 4 in one grouped convolution:
    // E[x], E[y], E[x^2], E[y^2], E[xy] for every channel.
    const torch::Tensor stacked = torch::cat({x, y, x * x, y * y, x * y}, 1);
    const torch::Tensor filtered = piade::ssim::separable_blur(stacked, gaussian_);
    const auto parts = filtered.reshape({n, 5, channels, height, width}).unbind(1);
    const torch::Tensor& mu_x = parts[0];
    const torch::Tensor& mu_y = parts[1];
    const torch::Tensor mu_xx = mu_x * mu_x, mu_yy = mu_y * mu_y, mu_xy = mu_x * mu_y;
    const torch::Tensor var_x = parts[2] - mu_xx;
    const torch::Tensor var_y = parts[3] - mu_yy;
    const torch::Tensor cov = parts[4] - mu_xy;
    // Eq. 4, pixel by pixel.
    const torch::Tensor ssim = ((2 * mu_xy + c1) * (2 * cov + c2)) /
                               ((mu_xx + mu_yy + c1) * (var_x + var_y + c2));
    return {1 - ssim.flatten(1).mean(1), 1 - ssim.mean(1)};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, "loss/ssim", options_);
  }

 private:
  SsimLossOptions options_;
  torch::Tensor gaussian_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<SsimLossImpl>("ssim", "1 - structural similarity (paper eq. 4)"),
};

}  // namespace

PIADE_PLUGIN("ssim", "structural similarity loss term", kComponents)
