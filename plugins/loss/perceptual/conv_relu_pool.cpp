#include "conv_relu_pool.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

namespace piade::perceptual {
namespace {

namespace F = torch::nn::functional;

// Eight floats; GCC and Clang keep such values in registers (two SSE
// registers where AVX is missing).
typedef float Floats __attribute__((vector_size(32)));
typedef int32_t Ints __attribute__((vector_size(32)));
constexpr int64_t kLanes = 8;
// Pooled columns computed together: the 4 pixels of their windows, 2
// vectors each, stay in registers through the taps.
constexpr int64_t kBlock = 2 * kLanes;

// The kernels are also compiled for x86-64-v3 (AVX2, FMA), chosen at load
// time, so a generic x86-64 build still gets the fast path.
#if defined(__x86_64__) && defined(__GNUC__)
#define PIADE_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PIADE_KERNEL
#endif

// The kernels read a zero-padded copy of the input (one row and column of
// padding before) with each row split into its even and odd columns: the
// full-resolution pixels of a 2x2 window are then at the same index of four
// contiguous arrays, and every tap is a contiguous load.
// Layout per image: [channel][padded row][parity][half_width].
struct Geometry {
  int64_t in_channels, height, width, out_height, out_width, blocks, padded_height, half_width;

  Geometry(int64_t channels, int64_t input_height, int64_t input_width)
      : in_channels(channels),
        height(input_height),
        width(input_width),
        out_height(input_height / 2),
        out_width(input_width / 2),
        blocks((input_width / 2 + kBlock - 1) / kBlock),
        padded_height(input_height + 2),
        half_width(blocks * kBlock + 1) {}

  int64_t columns() const { return blocks * kBlock; }  // pooled columns computed, >= out_width
  int64_t plane() const { return padded_height * 2 * half_width; }
  // The even-column half of padded row `row` in channel `channel`.
  int64_t row(int64_t channel, int64_t row) const { return channel * plane() + row * 2 * half_width; }

  // [N,C,H,W] -> the split, padded layout (zeros around).
  torch::Tensor split(const torch::Tensor& x) const {
    torch::Tensor padded = torch::zeros({x.size(0), in_channels, padded_height, 2 * half_width}, x.options());
    padded.narrow(2, 1, height).narrow(3, 1, width).copy_(x);
    return padded.view({x.size(0), in_channels, padded_height, half_width, 2}).transpose(3, 4).contiguous();
  }
  // The inverse, for a gradient in the split layout: [N,C,H,W].
  torch::Tensor merge(const torch::Tensor& split) const {
    return split.transpose(3, 4).reshape({split.size(0), in_channels, padded_height, 2 * half_width})
        .narrow(2, 1, height)
        .narrow(3, 1, width);
  }
};

// An unaligned load; a macro, since a function returning a 32-byte vector
// has no fixed ABI across the two compilations of the kernels.
#define PIADE_LOAD(to, from) std::memcpy(&(to), (from), sizeof(Floats))

// One output channel of one image, one output row and kBlock pooled columns
// at a time: the four pixels of each 2x2 window, their maximum and ReLU.
PIADE_KERNEL
void forward_plane(const float* input, const Geometry& g, const float* weight, float bias, float* output,
                   uint8_t* argmax) {
  const int64_t hw = g.half_width;
  for (int64_t i = 0; i < g.out_height; ++i)
    for (int64_t b = 0; b < g.blocks; ++b) {
      // window[r][q][v]: the pixels of row r (top, bottom) and column parity
      // q (even, odd) of the block's 2x2 windows, vector v of the block.
      Floats window[2][2][2];
      for (auto& row : window)
        for (auto& parity : row)
          for (Floats& vector : parity) vector = Floats{} + bias;
      for (int64_t ci = 0; ci < g.in_channels; ++ci)
        for (int64_t ky = 0; ky < 3; ++ky) {
          const float* w = weight + (ci * 3 + ky) * 3;
          const Floats w0 = Floats{} + w[0], w1 = Floats{} + w[1], w2 = Floats{} + w[2];
          for (int r = 0; r < 2; ++r) {
            // Full-resolution column 2m + q + kx - 1 of the input is padded
            // column 2m + q + kx: even half at m, odd half at m, even half at m + 1, ...
            const float* even = input + g.row(ci, 2 * i + r + ky) + b * kBlock;
            const float* odd = even + hw;
            for (int v = 0; v < 2; ++v) {
              Floats e0, o0, e1, o1;  // even and odd halves at m and m + 1
              PIADE_LOAD(e0, even + v * kLanes);
              PIADE_LOAD(o0, odd + v * kLanes);
              PIADE_LOAD(e1, even + v * kLanes + 1);
              PIADE_LOAD(o1, odd + v * kLanes + 1);
              window[r][0][v] += w0 * e0;
              window[r][0][v] += w1 * o0;
              window[r][0][v] += w2 * e1;
              window[r][1][v] += w0 * o0;
              window[r][1][v] += w1 * e1;
              window[r][1][v] += w2 * o1;
            }
          }
        }
      // ATen's max pool, in the window's row-major order: the first of equal
      // maxima, and a NaN wins. Branch-free: on real data each comparison is
      // a coin toss for a branch predictor.
      float pooled[kBlock];
      int32_t which[kBlock];
      for (int v = 0; v < 2; ++v) {
        Floats best = window[0][0][v];
        Ints index = Ints{};
        const Floats candidates[3] = {window[0][1][v], window[1][0][v], window[1][1][v]};
        for (int p = 0; p < 3; ++p) {
          const Ints wins = (candidates[p] > best) | (candidates[p] != candidates[p]);
          best = wins ? candidates[p] : best;
          index = wins ? Ints{} + (p + 1) : index;
        }
        best = (best > 0.f) | (best != best) ? best : Floats{};  // ReLU, NaN kept
        std::memcpy(pooled + v * kLanes, &best, sizeof best);
        std::memcpy(which + v * kLanes, &index, sizeof index);
      }
      const int64_t first = b * kBlock;
      const int64_t count = std::min(kBlock, g.out_width - first);
      std::copy(pooled, pooled + count, output + i * g.out_width + first);
      if (argmax)
        for (int64_t k = 0; k < count; ++k) argmax[i * g.out_width + first + k] = static_cast<uint8_t>(which[k]);
    }
}

// One image: each output gradient goes to the pixel that won its window
// (where ReLU passed it), and from there through the 3x3 taps into the
// split, padded input gradient. Each destination row is written in one pass
// that sums all its taps: passes per tap that re-read rows the previous
// pass had just written at an offset stalled on store forwarding.
// `scratch` holds 4 * (columns() + 2) floats.
PIADE_KERNEL
void backward_image(const float* grad_output, const float* output, const uint8_t* argmax, const float* weight,
                    int64_t out_channels, const Geometry& g, float* scratch, float* grad_input) {
  const int64_t hw = g.half_width;
  const int64_t stride = g.columns() + 2;
  // The winners' gradients of one output row by window pixel (top-left,
  // top-right, bottom-left, bottom-right), with a zero before the first
  // column and after the last.
  std::fill(scratch, scratch + 4 * stride, 0.f);
  float* pixel[4];
  for (int p = 0; p < 4; ++p) pixel[p] = scratch + p * stride + 1;
  for (int64_t c = 0; c < out_channels; ++c)
    for (int64_t i = 0; i < g.out_height; ++i) {
      const int64_t row = (c * g.out_height + i) * g.out_width;
      // ReLU's backward: nothing where the output is 0 (ATen's
      // threshold_backward). Eight windows at a time, then the rest.
      Ints nonzero = Ints{};
      int64_t j = 0;
      for (; j + kLanes <= g.out_width; j += kLanes) {
        Floats grad, out;
        PIADE_LOAD(grad, grad_output + row + j);
        PIADE_LOAD(out, output + row + j);
        int32_t winners[kLanes];
        for (int64_t l = 0; l < kLanes; ++l) winners[l] = argmax[row + j + l];
        Ints winner;
        std::memcpy(&winner, winners, sizeof winner);
        const Floats gradient = out <= 0.f ? Floats{} : grad;
        for (int32_t p = 0; p < 4; ++p) {
          const Floats share = winner == p ? gradient : Floats{};
          std::memcpy(pixel[p] + j, &share, sizeof share);
        }
        nonzero |= gradient != 0.f;
      }
      bool any = false;
      for (int64_t l = 0; l < kLanes; ++l) any |= nonzero[l] != 0;
      for (; j < g.out_width; ++j) {
        const float gradient = output[row + j] <= 0.f ? 0.f : grad_output[row + j];
        for (int32_t p = 0; p < 4; ++p) pixel[p][j] = argmax[row + j] == p ? gradient : 0.f;
        any |= gradient != 0.f;
      }
      if (!any) continue;
      for (int64_t ci = 0; ci < g.in_channels; ++ci) {
        const float* w = weight + (c * g.in_channels + ci) * 9;
        // Pixel row r (0 top, 1 bottom) reaches padded row 2i + r + ky, so
        // destination row 2i + d takes tap row ky = d - r (zero outside 0..2).
        for (int64_t d = 0; d < 4; ++d) {
          float taps[2][3] = {};
          for (int64_t r = 0; r < 2; ++r)
            if (d - r >= 0 && d - r < 3) std::copy(w + (d - r) * 3, w + (d - r) * 3 + 3, taps[r]);
          float* __restrict even = grad_input + g.row(ci, 2 * i + d);
          float* __restrict odd = even + hw;
          const float* __restrict top_even = pixel[0];
          const float* __restrict top_odd = pixel[1];
          const float* __restrict bottom_even = pixel[2];
          const float* __restrict bottom_odd = pixel[3];
          // Window m's pixel of parity q through tap kx lands on padded
          // column 2m + q + kx: half (q + kx) % 2, index m + (q + kx) / 2.
          for (int64_t k = 0; k < hw; ++k) {
            even[k] += taps[0][0] * top_even[k] + taps[0][2] * top_even[k - 1] + taps[0][1] * top_odd[k - 1] +
                       taps[1][0] * bottom_even[k] + taps[1][2] * bottom_even[k - 1] +
                       taps[1][1] * bottom_odd[k - 1];
            odd[k] += taps[0][1] * top_even[k] + taps[0][0] * top_odd[k] + taps[0][2] * top_odd[k - 1] +
                      taps[1][1] * bottom_even[k] + taps[1][0] * bottom_odd[k] + taps[1][2] * bottom_odd[k - 1];
          }
        }
      }
    }
}

void check_operands(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) >= 2 && x.size(3) >= 2, "conv_relu_pool: expected input [N,C,H,W] with H,W >= 2, got ",
              x.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(1) == x.size(1) && weight.size(2) == 3 && weight.size(3) == 3,
              "conv_relu_pool: expected a 3x3 weight [Cout,", x.size(1), ",3,3], got ", weight.sizes());
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "conv_relu_pool: expected bias [",
              weight.size(0), "], got ", bias.sizes());
}

bool fused_path_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool frozen = !torch::GradMode::is_enabled() || (!weight.requires_grad() && !bias.requires_grad());
  return frozen && x.is_cpu() && weight.is_cpu() && bias.is_cpu() && x.scalar_type() == torch::kFloat &&
         weight.scalar_type() == torch::kFloat && bias.scalar_type() == torch::kFloat;
}

class ConvReluPoolFunction : public torch::autograd::Function<ConvReluPoolFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    auto [output, argmax] = conv_relu_pool_forward_cpu(x, weight, bias, /*with_argmax=*/true);
    context->save_for_backward({output, argmax, weight});
    context->saved_data["input_size"] = x.sizes().vec();
    return output;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* context,
                                               torch::autograd::tensor_list grad_outputs) {
    const torch::autograd::variable_list saved = context->get_saved_variables();
    const std::vector<int64_t> input_size = context->saved_data["input_size"].toIntVector();
    return {conv_relu_pool_backward_cpu(grad_outputs[0], saved[0], saved[1], saved[2], input_size),
            torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::tuple<torch::Tensor, torch::Tensor> conv_relu_pool_forward_cpu(const torch::Tensor& x,
                                                                    const torch::Tensor& weight,
                                                                    const torch::Tensor& bias, bool with_argmax) {
  check_operands(x, weight, bias);
  TORCH_CHECK(fused_path_applies(x, weight, bias), "conv_relu_pool: the fused pass takes fp32 CPU tensors");
  const int64_t images = x.size(0);
  const int64_t out_channels = weight.size(0);
  const Geometry g(x.size(1), x.size(2), x.size(3));
  const torch::Tensor input = g.split(x);
  const torch::Tensor w = weight.contiguous();
  const torch::Tensor b = bias.contiguous();
  torch::Tensor output = torch::empty({images, out_channels, g.out_height, g.out_width}, x.options());
  torch::Tensor argmax;
  if (with_argmax) argmax = torch::empty(output.sizes(), x.options().dtype(torch::kByte));

  const float* input_data = input.data_ptr<float>();
  const float* weight_data = w.data_ptr<float>();
  const float* bias_data = b.data_ptr<float>();
  float* output_data = output.data_ptr<float>();
  uint8_t* argmax_data = with_argmax ? argmax.data_ptr<uint8_t>() : nullptr;
  const int64_t out_plane = g.out_height * g.out_width;
  // One task per image and output channel; consecutive tasks share an image.
  at::parallel_for(0, images * out_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / out_channels;
      const int64_t c = task % out_channels;
      forward_plane(input_data + n * g.in_channels * g.plane(), g, weight_data + c * g.in_channels * 9,
                    bias_data[c], output_data + task * out_plane,
                    argmax_data ? argmax_data + task * out_plane : nullptr);
    }
  });
  return {output, argmax};
}

torch::Tensor conv_relu_pool_backward_cpu(const torch::Tensor& grad_output, const torch::Tensor& output,
                                          const torch::Tensor& argmax, const torch::Tensor& weight,
                                          const torch::IntArrayRef input_size) {
  TORCH_CHECK(input_size.size() == 4, "conv_relu_pool: expected an input size [N,C,H,W]");
  const int64_t images = input_size[0];
  const int64_t out_channels = weight.size(0);
  const Geometry g(input_size[1], input_size[2], input_size[3]);
  TORCH_CHECK(grad_output.sizes() == output.sizes() && argmax.sizes() == output.sizes() &&
                  output.sizes() == torch::IntArrayRef({images, out_channels, g.out_height, g.out_width}),
              "conv_relu_pool: gradient ", grad_output.sizes(), ", output ", output.sizes(), " and argmax ",
              argmax.sizes(), " do not match the input ", input_size);
  const torch::Tensor grad = grad_output.to(torch::kFloat).contiguous();
  const torch::Tensor out = output.contiguous();
  const torch::Tensor which = argmax.contiguous();
  const torch::Tensor w = weight.contiguous();
  torch::Tensor grad_split = torch::zeros({images, g.in_channels, g.padded_height, 2, g.half_width}, out.options());

  const float* grad_data = grad.data_ptr<float>();
  const float* output_data = out.data_ptr<float>();
  const uint8_t* argmax_data = which.data_ptr<uint8_t>();
  const float* weight_data = w.data_ptr<float>();
  float* grad_input_data = grad_split.data_ptr<float>();
  const int64_t out_size = out_channels * g.out_height * g.out_width;
  // One task per image: its input gradient is written by that task alone.
  at::parallel_for(0, images, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(4 * (g.columns() + 2));
    for (int64_t n = begin; n < end; ++n)
      backward_image(grad_data + n * out_size, output_data + n * out_size, argmax_data + n * out_size,
                     weight_data, out_channels, g, scratch.data(), grad_input_data + n * g.in_channels * g.plane());
  });
  return g.merge(grad_split);
}

torch::Tensor conv_relu_pool(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  check_operands(x, weight, bias);
  if (!fused_path_applies(x, weight, bias))
    return F::max_pool2d(F::conv2d(x, weight, F::Conv2dFuncOptions().bias(bias).padding(1)),
                         F::MaxPool2dFuncOptions(2))
        .relu_();
  if (torch::GradMode::is_enabled() && x.requires_grad()) return ConvReluPoolFunction::apply(x, weight, bias);
  return std::get<0>(conv_relu_pool_forward_cpu(x, weight, bias, /*with_argmax=*/false));
}

}  // namespace piade::perceptual
