#include "gaussian_blur.h"

#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>

namespace piade::ssim {
namespace {

// Also compiled for x86-64-v3 (AVX2, FMA), chosen at load time, so a
// generic x86-64 build still vectorizes with FMA.
#if defined(__x86_64__) && defined(__GNUC__)
#define PIADE_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PIADE_KERNEL
#endif

// One plane, one output row at a time: the column pass into `row` (which
// has taps/2 zeros on each side), then the row pass out of it.
PIADE_KERNEL
void blur_plane(const float* input, float* output, int64_t height, int64_t width, const float* taps,
                int64_t size, float* row) {
  const int64_t pad = size / 2;
  float* __restrict middle = row + pad;
  for (int64_t r = 0; r < height; ++r) {
    std::fill(middle, middle + width, 0.f);
    // Rows outside the plane are the zero padding: skip their taps.
    for (int64_t t = std::max<int64_t>(0, pad - r); t < std::min(size, height + pad - r); ++t) {
      const float* __restrict from = input + (r + t - pad) * width;
      const float tap = taps[t];
      for (int64_t c = 0; c < width; ++c) middle[c] += tap * from[c];
    }
    float* __restrict to = output + r * width;
    std::fill(to, to + width, 0.f);
    for (int64_t t = 0; t < size; ++t) {
      const float* __restrict from = row + t;
      const float tap = taps[t];
      for (int64_t c = 0; c < width; ++c) to[c] += tap * from[c];
    }
  }
}

// The window is symmetric and the padding zero, so the filter is its own
// transpose: its backward filters the gradient the same way.
class SeparableBlurFunction : public torch::autograd::Function<SeparableBlurFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x,
                               const torch::Tensor& taps) {
    context->save_for_backward({taps});
    return separable_blur_cpu(x, taps);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* context,
                                               torch::autograd::tensor_list grad_outputs) {
    return {separable_blur_cpu(grad_outputs[0], context->get_saved_variables()[0]), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor separable_blur_cpu(const torch::Tensor& x, const torch::Tensor& taps) {
  TORCH_CHECK(x.dim() == 4 && x.is_cpu() && x.scalar_type() == torch::kFloat,
              "separable_blur: expected a CPU float tensor [N,C,H,W], got ", x.sizes(), " ", x.dtype());
  TORCH_CHECK(taps.dim() == 1 && taps.size(0) % 2 == 1, "separable_blur: expected an odd 1-D window, got ",
              taps.sizes());
  const torch::Tensor input = x.contiguous();
  const torch::Tensor window = taps.to(torch::kCPU, torch::kFloat).contiguous();
  torch::Tensor output = torch::empty_like(input);
  const int64_t planes = input.size(0) * input.size(1);
  const int64_t height = input.size(2), width = input.size(3), size = window.size(0);
  const float* input_data = input.data_ptr<float>();
  const float* taps_data = window.data_ptr<float>();
  float* output_data = output.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(width + size - 1), 0.f);
    for (int64_t p = begin; p < end; ++p)
      blur_plane(input_data + p * height * width, output_data + p * height * width, height, width, taps_data,
                 size, row.data());
  });
  return output;
}

torch::Tensor separable_blur(const torch::Tensor& x, const torch::Tensor& taps) {
  TORCH_CHECK(x.dim() == 4 && taps.dim() == 1 && taps.size(0) % 2 == 1,
              "separable_blur: expected [N,C,H,W] and an odd 1-D window, got ", x.sizes(), " and ", taps.sizes());
  TORCH_CHECK(taps.equal(taps.flip(0)), "separable_blur: the window must be symmetric");
  if (x.is_cpu() && x.scalar_type() == torch::kFloat) {
    if (torch::GradMode::is_enabled() && x.requires_grad()) return SeparableBlurFunction::apply(x, taps);
    return separable_blur_cpu(x, taps);
  }
  const int64_t planes = x.size(1), size = taps.size(0), pad = size / 2;
  const torch::Tensor g = taps.to(x.options());
  const torch::Tensor rows = torch::conv2d(x, g.view({1, 1, -1, 1}).expand({planes, 1, size, 1}), {}, 1,
                                           std::vector<int64_t>{pad, 0}, 1, planes);
  return torch::conv2d(rows, g.view({1, 1, 1, -1}).expand({planes, 1, 1, size}), {}, 1,
                       std::vector<int64_t>{0, pad}, 1, planes);
}

}  // namespace piade::ssim
