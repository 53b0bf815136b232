// SSIM's separable window (gaussian_blur.cpp, compiled in) against ATen's
// grouped convolutions: values and input gradients.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "plugins/loss/ssim/gaussian_blur.h"

namespace {
using piade::ssim::separable_blur;
using piade::ssim::separable_blur_cpu;

torch::Tensor gaussian(int64_t size, double sigma) {
  const torch::Tensor d = torch::arange(size, torch::kDouble) - size / 2;
  const torch::Tensor g = (-d * d / (2 * sigma * sigma)).exp();
  return (g / g.sum()).to(torch::kFloat);
}

// The reference: one depthwise 2-D convolution with the outer product.
torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& taps) {
  const int64_t planes = x.size(1), size = taps.size(0);
  const torch::Tensor window = torch::outer(taps, taps).expand({planes, 1, size, size});
  return torch::conv2d(x, window, {}, 1, size / 2, 1, planes);
}

struct Case {
  int64_t images, channels, height, width, window;
};
// The SSIM plugin's 15 planes at 120x120, odd sizes, planes smaller than
// the window, a window of one.
const Case kCases[] = {{2, 15, 120, 120, 11}, {3, 2, 27, 40, 11}, {1, 3, 5, 4, 11},
                       {2, 1, 9, 33, 7},      {1, 2, 6, 6, 1},    {1, 1, 1, 17, 5}};

TEST(SeparableBlur, MatchesATwoDimensionalWindow) {
  torch::manual_seed(0);
  for (const Case& c : kCases) {
    const torch::Tensor x = torch::rand({c.images, c.channels, c.height, c.width});
    const torch::Tensor taps = gaussian(c.window, 1.5);
    const torch::Tensor actual = separable_blur(x, taps);
    const torch::Tensor expected = reference(x, taps);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-6) << c.height << "x" << c.width;
  }
}

TEST(SeparableBlur, GradientMatchesATensAutograd) {
  torch::manual_seed(1);
  for (const Case& c : kCases) {
    const torch::Tensor taps = gaussian(c.window, 2.0);
    const torch::Tensor x = torch::rand({c.images, c.channels, c.height, c.width}).requires_grad_(true);
    const torch::Tensor grad_output = torch::randn(x.sizes());
    const torch::Tensor actual = torch::autograd::grad({separable_blur(x, taps)}, {x}, {grad_output})[0];
    const torch::Tensor expected = torch::autograd::grad({reference(x, taps)}, {x}, {grad_output})[0];
    EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-5) << c.height << "x" << c.width;
  }
}

TEST(SeparableBlur, AnImpulseGivesTheWindow) {
  // A single 1 far from the borders comes out as the outer product of the taps.
  torch::Tensor x = torch::zeros({1, 1, 15, 15});
  x[0][0][7][7] = 1.f;
  const torch::Tensor taps = gaussian(5, 1.0);
  const torch::Tensor out = separable_blur_cpu(x, taps);
  EXPECT_TRUE(torch::allclose(out[0][0].narrow(0, 5, 5).narrow(1, 5, 5), torch::outer(taps, taps), 0, 1e-7));
  EXPECT_NEAR(out.sum().item<double>(), 1.0, 1e-6);
}

TEST(SeparableBlur, SameResultWithAnyThreadCount) {
  const torch::Tensor x = torch::rand({4, 15, 64, 48});
  const torch::Tensor taps = gaussian(11, 1.5);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor one = separable_blur_cpu(x, taps);
  at::set_num_threads(std::max(2, threads));
  const torch::Tensor many = separable_blur_cpu(x, taps);
  at::set_num_threads(threads);
  EXPECT_TRUE(one.equal(many));
}

TEST(SeparableBlur, OtherTypesTakeATensPathAndBadWindowsAreRefused) {
  const torch::Tensor x = torch::rand({1, 2, 10, 12}, torch::kDouble);
  const torch::Tensor taps = gaussian(5, 1.0).to(torch::kDouble);
  EXPECT_LT((separable_blur(x, taps) - reference(x, taps)).abs().max().item<double>(), 1e-12);
  EXPECT_THROW(separable_blur(x, torch::ones({4}, torch::kDouble) / 4), c10::Error);           // even
  EXPECT_THROW(separable_blur(x, torch::tensor({0.2, 0.3, 0.5}, torch::kDouble)), c10::Error);  // asymmetric
}

}  // namespace
