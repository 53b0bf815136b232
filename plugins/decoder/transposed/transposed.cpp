// decoder/transposed: PIADE's upsampling and decoding layers (paper sec.
// 3.1, "Upsampling and decoding layers"). A small MLP lifts the chosen
// instantiation vector to a 512 x mf x mf map (mf: the backbone's feature
// width), which is concatenated with the backbone's features, reshaped to
// n x 8 x 8 and decoded to the image by transposed convolutions.
//
// The transposed-convolution stack is derived from the image size (see
// plan_axis() and README.md); for 120x120 it is exactly the paper's
//   ConvT(n,16,3,s2,p1) ConvT(16,32,3,s2,p1) ConvT(32,32,4,s2) ConvT(32,C,4,s2,p1)
// taking 8 -> 15 -> 29 -> 60 -> 120.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "piade/sdk/batch_norm.h"
#include "piade/sdk/plugin.h"

#include "transposed.h"

namespace {

/// The reshaped decoder input is n x kSeed x kSeed (paper sec. 3.1).
constexpr int64_t kSeed = 8;

using piade::transposed::TransposedDecoderOptions;

/// One transposed convolution along one image axis.
struct AxisStep {
  int64_t kernel = 3;
  int64_t stride = 1;
  int64_t padding = 1;
};

/// A stride-2 transposed convolution maps m to 2(m-1) - 2p + k = 2m + delta.
/// The five small kernels give delta in [-2, 2]; a larger delta (only for
/// sizes that stride 2 cannot reach otherwise) takes kernel delta+2.
AxisStep doubling(int64_t delta) {
  switch (delta) {
    case -2: return {2, 2, 1};
    case -1: return {3, 2, 1};  // the paper's first layers (8 -> 15 -> 29)
    case 0: return {4, 2, 1};   // exact doubling, the paper's last layer
    case 1: return {3, 2, 0};
    case 2: return {4, 2, 0};   // the paper's third layer (29 -> 60)
    default: return {delta + 2, 2, 0};
  }
}

/// The stride-2 steps that take one axis from kSeed to `size`:
///  - the last step doubles exactly (kernel 4, padding 1), or gives 2m+1
///    for an odd size, so the steps before it must reach half = size/2;
///  - r steps with delta in [-2,2] reach exactly [6*2^r+2, 10*2^r-2] from 8;
///    take the smallest r whose range reaches half, and choose each step's
///    delta greedily in the order -1, 0, +1, +2, -2 (kernel 3 padding 1
///    first, as the paper) among those that keep half reachable;
///  - when half falls between two ranges (e.g. size 48), take one step fewer,
///    +2 each, and let the last of them take the rest with a larger kernel.
/// For 120: half 60, r 3: deltas -1 (15), -1 (29), +2 (60), then 0 (120).
std::vector<AxisStep> plan_axis(int64_t size, const char* axis) {
  if (size < 2 * kSeed)
    throw std::invalid_argument(std::string("image ") + axis + " " +
                                std::to_string(size) + " is too small; the decoder upsamples " +
                                std::to_string(kSeed) + "x" + std::to_string(kSeed) +
                                " at least once, so resize images to 16 pixels or more");
  const int64_t half = size / 2;
  const int64_t last_delta = size % 2;
  auto lowest = [](int64_t from, int64_t steps) { return (from - 2) * (int64_t{1} << steps) + 2; };
  auto highest = [](int64_t from, int64_t steps) { return (from + 2) * (int64_t{1} << steps) - 2; };
  int64_t steps = 0;
  while (highest(kSeed, steps) < half) ++steps;
  std::vector<AxisStep> plan;
  int64_t m = kSeed;
  if (lowest(kSeed, steps) <= half) {
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t after = steps - 1 - i;
      for (int64_t delta : {-1, 0, 1, 2, -2}) {
        const int64_t next = 2 * m + delta;
        if (lowest(next, after) <= half && half <= highest(next, after)) {
          plan.push_back(doubling(delta));
          m = next;
          break;
        }
      }
    }
  } else {
    --steps;  // >= 0: steps = 0 always reaches half = 8 from below
    for (int64_t i = 0; i + 1 < steps; ++i) {
      plan.push_back(doubling(2));
      m = 2 * m + 2;
    }
    if (steps > 0) {
      plan.push_back(doubling(half - 2 * m));
      m = half;
    }
  }
  // The last step; with no step before it, it takes the whole way alone.
  plan.push_back(doubling(m == half ? last_delta : size - 2 * m));
  return plan;
}

class TransposedDecoderImpl : public torch::nn::Cloneable<TransposedDecoderImpl>,
                              public piade::Decoder {
 public:
  using Options = TransposedDecoderOptions;

  explicit TransposedDecoderImpl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)), image_(context.image) {
    if (!context.features || !context.vectors)
      throw std::invalid_argument(
          "no feature or vector shape in the build context; build the "
          "backbone and routing parts first");
    features_ = *context.features;
    vector_dim_ = context.vectors->dim;
    if (options_.channels().empty())
      throw std::invalid_argument(
          "'channels' is empty; give at least one width, e.g. channels=16,32,32");
    if (image_.channels < 1)
      throw std::invalid_argument("image channels " +
                                  std::to_string(image_.channels) + " must be at least 1");
    const int64_t values = (options_.upsample_channels() + features_.channels) *
                           features_.height * features_.width;
    if (values % (kSeed * kSeed) != 0)
      throw std::invalid_argument(
          "(upsample_channels " + std::to_string(options_.upsample_channels()) +
          " + feature channels " + std::to_string(features_.channels) + ") x feature size " +
          std::to_string(features_.height) + "x" + std::to_string(features_.width) + " = " +
          std::to_string(values) + " values do not reshape to n x 8 x 8; choose upsample_channels " +
          "so that the total is a multiple of 64");
    seed_channels_ = values / (kSeed * kSeed);
    // Each axis gets its own plan; the shorter one starts with size-keeping
    // steps so both have as many layers as the longer (and as `channels`
    // asks for: extra layers are size-keeping kernel-3 steps at 8x8).
    rows_ = plan_axis(image_.height, "height");
    cols_ = plan_axis(image_.width, "width");
    const size_t layers = std::max({rows_.size(), cols_.size(), options_.channels().size() + 1});
    rows_.insert(rows_.begin(), layers - rows_.size(), AxisStep{});
    cols_.insert(cols_.begin(), layers - cols_.size(), AxisStep{});
    reset();
  }

  void reset() override {
    // Upsampling MLP: Linear, BatchNorm1d, ReLU per hidden size, then a last
    // Linear + ReLU to upsample_channels x h x w (sec. 3.1). Layers followed
    // by batch norm have no bias: its mean subtraction cancels any.
    upsample_ = torch::nn::Sequential();
    int64_t width = vector_dim_;
    for (int64_t hidden : options_.hidden()) {
      upsample_->push_back(linear(width, hidden, /*bias=*/false));
      upsample_->push_back(piade::sdk::BatchNorm1d(hidden));
      upsample_->push_back(torch::nn::ReLU());
      width = hidden;
    }
    upsample_->push_back(
        linear(width, options_.upsample_channels() * features_.height * features_.width, true));
    upsample_->push_back(torch::nn::ReLU());
    register_module("upsample", upsample_);

    // Decoder: ConvT + BatchNorm + ReLU, the last ConvT straight into tanh.
    decode_ = torch::nn::Sequential();
    int64_t in = seed_channels_;
    for (size_t i = 0; i < rows_.size(); ++i) {
      const bool last = i + 1 == rows_.size();
      const int64_t out = last ? image_.channels : width_of_layer(i);
      auto conv = torch::nn::ConvTranspose2d(
          torch::nn::ConvTranspose2dOptions(in, out, {rows_[i].kernel, cols_[i].kernel})
              .stride({rows_[i].stride, cols_[i].stride})
              .padding({rows_[i].padding, cols_[i].padding})
              .bias(last));
      torch::nn::init::orthogonal_(conv->weight);
      if (last) torch::nn::init::zeros_(conv->bias);
      decode_->push_back(conv);
      if (!last) {
        decode_->push_back(piade::sdk::BatchNorm2d(out));
        decode_->push_back(torch::nn::ReLU());
      }
      in = out;
    }
    decode_->push_back(torch::nn::Tanh());
    register_module("decode", decode_);
  }

  torch::Tensor forward(const torch::Tensor& vector, const torch::Tensor& features) override {
    TORCH_CHECK(vector.dim() == 2 && vector.size(1) == vector_dim_,
                "decoder/transposed: expected vectors [N,", vector_dim_, "], got ", vector.sizes());
    TORCH_CHECK(features.dim() == 4 && features.size(0) == vector.size(0) &&
                    features.size(1) == features_.channels &&
                    features.size(2) == features_.height && features.size(3) == features_.width,
                "decoder/transposed: expected features [", vector.size(0), ",", features_.channels,
                ",", features_.height, ",", features_.width, "], got ", features.sizes());
    const int64_t n = vector.size(0);
    torch::Tensor lifted = upsample_->forward(vector).view(
        {n, options_.upsample_channels(), features_.height, features_.width});
    torch::Tensor seed = torch::cat({lifted, features}, 1).reshape({n, seed_channels_, kSeed, kSeed});
    return decode_->forward(seed);
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, "decoder/transposed", options_);
  }

 private:
  static torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
    auto layer = torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
    torch::nn::init::orthogonal_(layer->weight);  // orthogonal init (sec. 4.2)
    if (bias) torch::nn::init::zeros_(layer->bias);
    return layer;
  }

  /// Output channels of layer i (not the last). A stack deeper than
  /// `channels` (large images) repeats its last width.
  int64_t width_of_layer(size_t i) const {
    const auto& widths = options_.channels();
    return widths[std::min(i, widths.size() - 1)];
  }

  TransposedDecoderOptions options_;
  piade::ImageShape image_;
  piade::FeatureShape features_;
  int64_t vector_dim_ = 0;
  int64_t seed_channels_ = 0;
  std::vector<AxisStep> rows_;
  std::vector<AxisStep> cols_;
  torch::nn::Sequential upsample_{nullptr};
  torch::nn::Sequential decode_{nullptr};
};

const PiadeComponentSpec kComponents[] = {
    piade::component<TransposedDecoderImpl>(
        "transposed", "upsampling MLP and transposed-convolution decoder (paper sec. 3.1)"),
};

}  // namespace

PIADE_PLUGIN("transposed", "transposed-convolution image decoder", kComponents)
