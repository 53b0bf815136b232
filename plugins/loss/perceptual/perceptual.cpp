// loss/perceptual: the perceptual loss term of PIADE (paper sec. 3.2, eq. 5,
// after Johnson et al., arXiv 1603.08155): the mean squared difference
// between the features that the first four layers of an ImageNet VGG11 give
// for the image and for its reconstruction, (1/WCH) ||F(X) - F(X^)||_F^2.
// The VGG is pretrained and "kept fixed" (sec. 3.2, 4.2).
#include <array>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "piade/sdk/log.h"
#include "piade/sdk/plugin.h"
#include "piade/sdk/weights.h"

#include "conv_relu_pool.h"
#include "perceptual.h"

namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

constexpr const char* kId = "loss/perceptual";

// torchvision's ImageNet statistics, which its VGG11 weights expect.
constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

// (1/WCH)||D||^2 per image of D [N,C,H,W], whose backward is one
// multiplication, 2D/WCH times the gradient. ATen's square().mean() took
// three passes over D in backward, the norm's (1.13) a division, a
// multiplication and a masked fill; D is 128 channels at half resolution.
class MeanSquarePerImage : public torch::autograd::Function<MeanSquarePerImage> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& difference) {
    context->save_for_backward({difference});
    return value(difference);
  }

  static torch::Tensor value(const torch::Tensor& difference) {
    const double values = static_cast<double>(difference[0].numel());
    return torch::linalg_vector_norm(difference, 2, std::vector<int64_t>{1, 2, 3}, false, c10::nullopt)
               .square() / values;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* context,
                                               torch::autograd::tensor_list grad_outputs) {
    const torch::Tensor difference = context->get_saved_variables()[0];
    const double values = static_cast<double>(difference[0].numel());
    return {difference * (grad_outputs[0] * (2 / values)).view({-1, 1, 1, 1})};
  }
};

class PerceptualLossImpl : public nn::Cloneable<PerceptualLossImpl>, public piade::Loss {
 public:
  using Options = piade::perceptual::PerceptualLossOptions;
  using Normalization = piade::perceptual::Normalization;
  using PixelRange = piade::PixelRange;

  explicit PerceptualLossImpl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)) {
    const piade::ImageShape& image = context.image;
    if (image.channels != 1 && image.channels != 3)
      throw std::invalid_argument(std::string(kId) + ": images have " + std::to_string(image.channels) +
                                  " channels, VGG11 takes 1 (repeated to 3) or 3; convert the images "
                                  "to gray or RGB");
    if (image.height < 2 || image.width < 2)
      throw std::invalid_argument(std::string(kId) + ": images are " + std::to_string(image.height) + "x" +
                                  std::to_string(image.width) +
                                  ", VGG11's 2x2 max pooling needs at least 2x2; use larger images");
    if (options_.normalization() == Normalization::imagenet &&
        options_.pixel_range() != PixelRange::minus_one_to_one)
      throw std::invalid_argument("pixel_range=" + context.params.text("pixel_range") +
                                  " applies only with normalization=raw (ImageNet's mean/std "
                                  "already take [0,1] pixels); set normalization=raw as well");
    reset();
    // Restoring from a checkpoint overwrites every weight next (component.h).
    if (context.restoring) return;
    if (options_.weights().empty()) {
      piade::warn_once(std::string(kId) +
                       ": no pretrained weights, the VGG11 layers are random and fixed; the paper "
                       "used torchvision's ImageNet VGG11 (sec. 3.2): pass --set "
                       "loss.perceptual.weights=PATH (torchvision's vgg11-8a719046.pth as "
                       "downloaded, or a .safetensors of its state dict)");
    } else {
      std::map<std::string, torch::Tensor> tensors;
      try {
        tensors = piade::load_tensors(options_.weights());
      } catch (const std::exception& e) {
        throw std::runtime_error(std::string(kId) + ": " + e.what());
      }
      // Only features.0 and features.3 exist here; the rest of a vgg11 state
      // dict (later convs, classifier) is ignored.
      nn::Module vgg;
      vgg.register_module("features", features);
      piade::load_module_weights(vgg, tensors, std::string(kId) + ": weights '" + options_.weights() + "'");
    }
  }

  void reset() override {
    // torchvision vgg11().features[:4]: indices 0..3 give the names
    // features.0.weight and features.3.weight of its state dict.
    features = register_module(
        "features", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, 64, 3).padding(1)), nn::ReLU(),
                                   nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)),
                                   nn::Conv2d(nn::Conv2dOptions(64, 128, 3).padding(1))));
    {
      // Without weights: orthogonal init, zero biases (sec. 4.2), like the
      // rest of the model that is not pretrained.
      torch::NoGradGuard no_grad;
      for (const auto& module : features->modules(/*include_self=*/false)) {
        if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(module.get())) {
          nn::init::orthogonal_(conv->weight);
          nn::init::zeros_(conv->bias);
        }
      }
    }
    // Fixed: no optimizer step or gradient ever touches the VGG (sec. 3.2);
    // gradients still flow through it to the reconstruction.
    for (torch::Tensor& parameter : features->parameters()) parameter.set_requires_grad(false);
    mean_ = register_buffer("input_mean",
                            torch::tensor(at::ArrayRef<float>(kImageNetMean.data(), 3)).view({1, 3, 1, 1}));
    std_ = register_buffer("input_std",
                           torch::tensor(at::ArrayRef<float>(kImageNetStd.data(), 3)).view({1, 3, 1, 1}));
  }

  piade::LossTerm forward(const torch::Tensor& images, const torch::Tensor& reconstructions) override {
    TORCH_CHECK(images.sizes() == reconstructions.sizes(), kId, ": images ", images.sizes(),
                " and reconstructions ", reconstructions.sizes(), " differ in shape");
    TORCH_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), kId,
                ": expected images [N,1|3,H,W], got ", images.sizes());
    // features[:3] (conv, ReLU, 2x2 max pool) of one side, fused into one
    // pass on the CPU (conv_relu_pool.h) whatever the input mapping.
    auto pooled = [&](const torch::Tensor& side) {
      torch::Tensor x = side.size(1) == 1 ? side.expand({-1, 3, -1, -1}) : side;
      const auto& conv = features[0]->as<nn::Conv2d>();
      return piade::perceptual::conv_relu_pool(vgg_input(x), conv->weight, conv->bias);
    };
    // The images never need a gradient: computing their side apart, without
    // autograd, spares the backward pass half of the term.
    torch::Tensor target;
    {
      torch::AutoGradMode no_grad_unless_asked(images.requires_grad() && torch::GradMode::is_enabled());
      target = pooled(images);
    }
    // features.3 is linear, so F(X^) - F(X) = conv(P(X^) - P(X)) with its
    // bias cancelled: it runs once, on the difference, not on both sides.
    // (X^ first: the difference's backward is then a plain pass-through.)
    const torch::Tensor difference = F::conv2d(pooled(reconstructions) - target,
                                               features[3]->as<nn::Conv2d>()->weight,
                                               F::Conv2dFuncOptions().padding(1));  // [N,128,h,w]
    torch::Tensor per_image = difference.requires_grad() && torch::GradMode::is_enabled()
                                  ? MeanSquarePerImage::apply(difference)
                                  : MeanSquarePerImage::value(difference);
    // Training never uses the map (the loss SDK's contract): spare the pass.
    if (is_training()) return {per_image, torch::Tensor()};
    torch::Tensor map = F::interpolate(difference.square().mean(1, /*keepdim=*/true),
                                       F::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{images.size(2), images.size(3)})
                                           .mode(torch::kBilinear)
                                           .align_corners(false))
                            .squeeze(1);
    return {per_image, map};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, kId, options_);
  }

  nn::Sequential features{nullptr};

 private:
  /// What VGG is fed for images x in [-1,1] (3 channels).
  torch::Tensor vgg_input(const torch::Tensor& x) const {
    if (options_.normalization() == Normalization::imagenet) return ((x + 1) * 0.5 - mean_) / std_;
    return piade::in_pixel_range(x, options_.pixel_range());
  }

  Options options_;
  torch::Tensor mean_;
  torch::Tensor std_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<PerceptualLossImpl>(
        "perceptual", "MSE between VGG11 features[:4] of image and reconstruction (paper sec. 3.2)"),
};

}  // namespace

PIADE_PLUGIN("perceptual", "perceptual loss on fixed VGG11 features", kComponents)
