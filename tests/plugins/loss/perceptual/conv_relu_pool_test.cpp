// The perceptual term's fused conv 3x3 -> ReLU -> 2x2 max pool against
// ATen's three operations: outputs, the pool's winners, input gradients.
#include <gtest/gtest.h>

#include <tuple>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "plugins/loss/perceptual/conv_relu_pool.h"

namespace {
namespace F = torch::nn::functional;
using piade::perceptual::conv_relu_pool;
using piade::perceptual::conv_relu_pool_backward_cpu;
using piade::perceptual::conv_relu_pool_forward_cpu;

struct Case {
  int64_t images, in_channels, out_channels, height, width;
};

// Sizes around the kernel's 16-column blocks, odd ones (the pool drops the
// last row/column), the smallest, and the paper's 120x120 RGB.
const Case kCases[] = {{2, 3, 64, 120, 120}, {3, 3, 5, 27, 40}, {1, 1, 4, 7, 9},  {2, 3, 3, 2, 2},
                       {2, 2, 6, 33, 17},    {1, 3, 7, 16, 34}, {1, 3, 2, 3, 65}};

torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  return F::max_pool2d(F::conv2d(x, weight, F::Conv2dFuncOptions().bias(bias).padding(1)),
                       F::MaxPool2dFuncOptions(2))
      .relu();
}

struct Operands {
  torch::Tensor x, weight, bias;
};

Operands operands(const Case& c, int64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({c.images, c.in_channels, c.height, c.width}),
          torch::randn({c.out_channels, c.in_channels, 3, 3}) / 3, torch::randn({c.out_channels}) / 10};
}

std::string name(const Case& c) {
  return std::to_string(c.images) + "x" + std::to_string(c.in_channels) + "x" + std::to_string(c.height) + "x" +
         std::to_string(c.width) + " -> " + std::to_string(c.out_channels);
}

TEST(ConvReluPool, ForwardMatchesAten) {
  for (const Case& c : kCases) {
    const Operands o = operands(c, 1);
    const auto [output, argmax] = conv_relu_pool_forward_cpu(o.x, o.weight, o.bias, true);
    const torch::Tensor expected = reference(o.x, o.weight, o.bias);
    ASSERT_EQ(output.sizes(), expected.sizes()) << name(c);
    // Float sums of 27 products in another order: a few ulps of the largest value.
    EXPECT_LT((output - expected).abs().max().item<double>(), 1e-5 * expected.abs().max().item<double>() + 1e-7)
        << name(c);
    // ReLU zeroed the same outputs (up to values within rounding of 0).
    EXPECT_LT(((output > 1e-5) != (expected > 1e-5)).sum().item<int64_t>(), 1) << name(c);
  }
}

TEST(ConvReluPool, WinnersAreAtensMaxPoolIndices) {
  for (const Case& c : kCases) {
    const Operands o = operands(c, 2);
    const torch::Tensor full = F::conv2d(o.x, o.weight, F::Conv2dFuncOptions().bias(o.bias).padding(1));
    const auto [pooled, flat] = torch::max_pool2d_with_indices(full, {2, 2});
    // ATen's flat index in the full map -> position in the 2x2 window, row-major.
    const int64_t w = c.width;
    const torch::Tensor rows = flat.div(w, "floor").remainder(2);
    const torch::Tensor columns = flat.remainder(w).remainder(2);
    const torch::Tensor expected = (rows * 2 + columns).to(torch::kByte);
    const torch::Tensor argmax = std::get<1>(conv_relu_pool_forward_cpu(o.x, o.weight, o.bias, true));
    // Windows whose top two values are within rounding may pick either.
    const torch::Tensor windows = F::unfold(full, F::UnfoldFuncOptions({2, 2}).stride(2));  // [N, C*4, L]
    const torch::Tensor top2 = std::get<0>(windows.view({c.images, c.out_channels, 4, -1}).topk(2, 2));
    const torch::Tensor clear = (top2.select(2, 0) - top2.select(2, 1)).view_as(pooled) > 1e-5;
    EXPECT_TRUE(argmax.masked_select(clear).equal(expected.masked_select(clear))) << name(c);
    EXPECT_GT(clear.sum().item<int64_t>(), clear.numel() / 2) << name(c);
  }
}

TEST(ConvReluPool, TiesGoToTheFirstPixelAndNaNsWin) {
  // A zero weight makes every window a tie: ATen keeps the first pixel.
  torch::Tensor x = torch::randn({1, 3, 6, 8});
  const torch::Tensor weight = torch::zeros({2, 3, 3, 3});
  const torch::Tensor bias = torch::tensor({0.5f, -0.5f});
  auto [output, argmax] = conv_relu_pool_forward_cpu(x, weight, bias, true);
  EXPECT_TRUE(argmax.eq(0).all().item<bool>());
  EXPECT_TRUE(output.select(1, 0).eq(0.5f).all().item<bool>());
  EXPECT_TRUE(output.select(1, 1).eq(0.f).all().item<bool>());
  // A NaN pixel poisons the outputs whose windows see it, as in ATen.
  x[0][1][3][4] = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor dense = torch::randn({2, 3, 3, 3});
  const torch::Tensor fused = std::get<0>(conv_relu_pool_forward_cpu(x, dense, bias, false));
  const torch::Tensor expected = reference(x, dense, bias);
  EXPECT_TRUE(fused.isnan().equal(expected.isnan()));
  EXPECT_GT(fused.isnan().sum().item<int64_t>(), 0);
}

TEST(ConvReluPool, InputGradientMatchesAtensAutograd) {
  for (const Case& c : kCases) {
    const Operands o = operands(c, 3);
    const torch::Tensor x = o.x.clone().requires_grad_(true);
    const torch::Tensor expected_output = reference(x, o.weight, o.bias);
    const torch::Tensor grad_output = torch::randn(expected_output.sizes());
    const torch::Tensor expected = torch::autograd::grad({expected_output}, {x}, {grad_output})[0];

    const torch::Tensor fused_x = o.x.clone().requires_grad_(true);
    const torch::Tensor output = conv_relu_pool(fused_x, o.weight, o.bias);
    const torch::Tensor actual = torch::autograd::grad({output}, {fused_x}, {grad_output})[0];
    ASSERT_EQ(actual.sizes(), expected.sizes()) << name(c);
    EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>())
        << name(c);
  }
}

TEST(ConvReluPool, BackwardWithTheForwardsWinnersIsExactlyTheTaps) {
  // One output gradient, one winner: the input gradient is that gradient
  // times the 3x3 taps of its output channel, around the winning pixel.
  const torch::Tensor x = torch::randn({1, 2, 6, 6});
  const torch::Tensor weight = torch::randn({3, 2, 3, 3});
  const torch::Tensor bias = torch::full({3}, 100.f);  // every output positive: ReLU passes all
  auto [output, argmax] = conv_relu_pool_forward_cpu(x, weight, bias, true);
  torch::Tensor grad_output = torch::zeros_like(output);
  grad_output[0][1][1][2] = 2.f;
  const torch::Tensor grad = conv_relu_pool_backward_cpu(grad_output, output, argmax, weight, x.sizes());
  const int64_t which = argmax[0][1][1][2].item<int64_t>();
  const int64_t row = 2 + which / 2, column = 4 + which % 2;  // the winner in the full map
  torch::Tensor expected = torch::zeros({1, 2, 8, 8});   // padded by one
  expected[0].narrow(1, row, 3).narrow(2, column, 3).copy_(2.f * weight[1]);
  EXPECT_TRUE(grad.equal(expected.narrow(2, 1, 6).narrow(3, 1, 6)));
}

TEST(ConvReluPool, SameResultWithAnyThreadCount) {
  const Case c = kCases[0];
  const Operands o = operands(c, 4);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto [one, one_argmax] = conv_relu_pool_forward_cpu(o.x, o.weight, o.bias, true);
  const torch::Tensor grad_output = torch::randn(one.sizes());
  const torch::Tensor one_grad = conv_relu_pool_backward_cpu(grad_output, one, one_argmax, o.weight, o.x.sizes());
  at::set_num_threads(std::max(2, threads));
  const auto [many, many_argmax] = conv_relu_pool_forward_cpu(o.x, o.weight, o.bias, true);
  const torch::Tensor many_grad = conv_relu_pool_backward_cpu(grad_output, many, many_argmax, o.weight, o.x.sizes());
  at::set_num_threads(threads);
  EXPECT_TRUE(one.equal(many));
  EXPECT_TRUE(one_argmax.equal(many_argmax));
  EXPECT_TRUE(one_grad.equal(many_grad));
}

TEST(ConvReluPool, TrainableWeightsAndOtherTypesTakeAtensPath) {
  const Operands o = operands(kCases[1], 5);
  // A weight that needs its gradient: ATen's operations, which give it one.
  const torch::Tensor weight = o.weight.clone().requires_grad_(true);
  conv_relu_pool(o.x, weight, o.bias).sum().backward();
  ASSERT_TRUE(weight.grad().defined());
  EXPECT_GT(weight.grad().abs().sum().item<double>(), 0);
  // Double precision: ATen's result exactly.
  const torch::Tensor x = o.x.to(torch::kDouble);
  const torch::Tensor w = o.weight.to(torch::kDouble);
  const torch::Tensor b = o.bias.to(torch::kDouble);
  EXPECT_TRUE(conv_relu_pool(x, w, b).equal(reference(x, w, b)));
}

TEST(ConvReluPool, RejectsShapesItCannotTake) {
  const torch::Tensor weight = torch::randn({4, 3, 3, 3});
  const torch::Tensor bias = torch::zeros({4});
  EXPECT_THROW(conv_relu_pool(torch::randn({1, 2, 8, 8}), weight, bias), c10::Error);
  EXPECT_THROW(conv_relu_pool(torch::randn({1, 3, 1, 8}), weight, bias), c10::Error);
  EXPECT_THROW(conv_relu_pool(torch::randn({1, 3, 8, 8}), torch::randn({4, 3, 5, 5}), bias), c10::Error);
  EXPECT_THROW(conv_relu_pool(torch::randn({1, 3, 8, 8}), weight, torch::zeros({3})), c10::Error);
}

}  // namespace
