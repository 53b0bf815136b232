// VGG's first block, conv 3x3 (padding 1) -> ReLU -> 2x2 max pool, as one
// operation. On the CPU in fp32 it is one fused pass that never writes the
// full-size activations: at 120x120 they are 64 channels of 14400 pixels
// per image, and writing them, then reading them back for the pool and, in
// backward, scattering the pool's gradient into them, cost more than the
// convolution's arithmetic (docs/BENCHMARKS.md).
#pragma once

#include <cstdint>
#include <tuple>

#include <torch/torch.h>

namespace piade::perceptual {

/// relu(max_pool2d(conv2d(x, weight, bias, padding=1), 2)) for x [N,Cin,H,W],
/// weight [Cout,Cin,3,3], bias [Cout]: [N,Cout,H/2,W/2] (floor, like the
/// pool). Differentiable in x; `weight` and `bias` must not need gradients
/// (the perceptual network is frozen). The fused pass runs for contiguous
/// fp32 CPU tensors, ATen's three operations everywhere else.
torch::Tensor conv_relu_pool(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

/// The fused CPU forward. With `with_argmax`, also which of the 2x2 window's
/// pixels won for each output ([N,Cout,H/2,W/2] uint8, 0..3 in row-major
/// order; the first of equal maxima, a NaN wins, as in ATen's max pool).
std::tuple<torch::Tensor, torch::Tensor> conv_relu_pool_forward_cpu(const torch::Tensor& x,
                                                                    const torch::Tensor& weight,
                                                                    const torch::Tensor& bias, bool with_argmax);

/// The fused CPU backward: the gradient in x [N,Cin,H,W] from the gradient of
/// the output, the output itself (ReLU's mask) and the forward's argmax.
torch::Tensor conv_relu_pool_backward_cpu(const torch::Tensor& grad_output, const torch::Tensor& output,
                                          const torch::Tensor& argmax, const torch::Tensor& weight,
                                          const torch::IntArrayRef input_size);

}  // namespace piade::perceptual
