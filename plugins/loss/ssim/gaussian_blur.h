// SSIM's local statistics: a separable, symmetric window slid over every
// plane with zero padding, output the size of the input. On the CPU in fp32
// a direct two-pass kernel; oneDNN runs these 1-D depthwise convolutions at
// a few GFLOP/s, and they were 6% of a training step at 120x120
// (docs/BENCHMARKS.md).
#pragma once

#include <torch/torch.h>

namespace piade::ssim {

/// Filters every plane of x [N,C,H,W] with `taps` (1-D, odd length,
/// symmetric) along the rows and then along the columns, zero padding of
/// taps/2: torch::conv2d with the two 1-D windows, one group per plane.
/// Differentiable in x. The direct kernel runs for fp32 CPU tensors, ATen's
/// convolutions everywhere else.
torch::Tensor separable_blur(const torch::Tensor& x, const torch::Tensor& taps);

/// The direct CPU kernel, without autograd.
torch::Tensor separable_blur_cpu(const torch::Tensor& x, const torch::Tensor& taps);

}  // namespace piade::ssim
