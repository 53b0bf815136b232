// backbone/resnet18 and backbone/se_resnet18: the feature extractor at the
// start of PIADE (paper sec. 3.1, Fig. 1). A torchvision-compatible ResNet18
// (He et al., arXiv 1512.03385) without its classifier: the output is the
// layer4 feature map. se_resnet18 adds a squeeze-and-excitation block (Hu et
// al., arXiv 1709.01507; paper eq. 1-2, Fig. 2) after the stem and after each
// of the four stages, as the paper's SE-ResNet18 does.
//
// Parameter names are exactly torchvision's (conv1, bn1, layer1.0.conv1, ...,
// layer2.0.downsample.0, ...) so that its ImageNet weights load as they are;
// the SE blocks are se0..se4, names torchvision never uses.
#include <algorithm>
#include <array>
#include <string>

#include <torch/torch.h>

#include "piade/sdk/batch_norm.h"
#include "piade/sdk/log.h"
#include "piade/sdk/plugin.h"
#include "piade/sdk/weights.h"

#include "resnet.h"

namespace {

namespace nn = torch::nn;

// ImageNet statistics of torchvision's pretrained models: their weights
// expect RGB in [0,1] normalised with these (torchvision ResNet18_Weights).
constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

// The children whose names and shapes are torchvision's resnet18; the only
// ones pretrained weights are loaded into.
constexpr std::array<const char*, 6> kTorchvisionChildren = {"conv1",  "bn1",    "layer1",
                                                             "layer2", "layer3", "layer4"};

/// Paper sec. 4.2: "the model weights are initiated with orthogonal
/// initialization except the ResNet block, which was pre-trained on
/// imageNet". Without weights (or for the SE blocks, which ImageNet files
/// lack) the layers keep this: orthogonal conv/linear weights, zero biases,
/// batch norm weight 1 and bias 0.
void init_orthogonal(nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (const auto& module : root.modules(/*include_self=*/false)) {
    if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(module.get())) {
      nn::init::orthogonal_(conv->weight);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* linear = dynamic_cast<nn::LinearImpl*>(module.get())) {
      nn::init::orthogonal_(linear->weight);
      if (linear->bias.defined()) nn::init::zeros_(linear->bias);
    } else if (auto* norm = dynamic_cast<nn::BatchNorm2dImpl*>(module.get())) {
      // torch's class: piade::sdk::BatchNorm2d (every norm here) derives from it.
      nn::init::ones_(norm->weight);
      nn::init::zeros_(norm->bias);
    }
  }
}

/// torchvision's BasicBlock: two 3x3 convs with batch norm and a shortcut,
/// which is a strided 1x1 conv + batch norm ("downsample") when the shape
/// changes.
class BasicBlockImpl : public nn::Cloneable<BasicBlockImpl> {
 public:
  BasicBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride)
      : in_channels_(in_channels), out_channels_(out_channels), stride_(stride) {
    reset();
  }

  void reset() override {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_channels_, out_channels_, 3)
                                                    .stride(stride_).padding(1).bias(false)));
    bn1 = register_module("bn1", piade::sdk::BatchNorm2d(out_channels_));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out_channels_, out_channels_, 3)
                                                    .stride(1).padding(1).bias(false)));
    bn2 = register_module("bn2", piade::sdk::BatchNorm2d(out_channels_));
    if (stride_ != 1 || in_channels_ != out_channels_) {
      downsample = register_module(
          "downsample",
          nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_channels_, out_channels_, 1).stride(stride_).bias(false)),
                         piade::sdk::BatchNorm2d(out_channels_)));
    } else {
      downsample = nullptr;
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor shortcut = downsample ? downsample->forward(x) : x;
    torch::Tensor y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + shortcut);
  }

  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  piade::sdk::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential downsample{nullptr};

 private:
  int64_t in_channels_;
  int64_t out_channels_;
  int64_t stride_;
};
TORCH_MODULE(BasicBlock);

/// Squeeze-and-excitation (paper eq. 1-2): z = spatial mean of U (eq. 1),
/// s = sigmoid(W2 relu(W1 z)) with W1 (C/r x C) and W2 (C x C/r) (eq. 2),
/// output U * s per channel. The equation has no biases, so neither do the
/// two linear maps. The paper fixes r = 4.
class SqueezeExcitationImpl : public nn::Cloneable<SqueezeExcitationImpl> {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t reduction)
      : channels_(channels), reduction_(reduction) {
    reset();
  }

  void reset() override {
    const int64_t hidden = std::max<int64_t>(1, channels_ / reduction_);
    fc1 = register_module("fc1", nn::Linear(nn::LinearOptions(channels_, hidden).bias(false)));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(hidden, channels_).bias(false)));
  }

  torch::Tensor forward(const torch::Tensor& u) {
    torch::Tensor z = u.mean({2, 3});                                 // eq. 1, [N,C]
    torch::Tensor s = torch::sigmoid(fc2(torch::relu(fc1(z))));       // eq. 2, [N,C]
    return u * s.unsqueeze(-1).unsqueeze(-1);
  }

  nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  int64_t channels_;
  int64_t reduction_;
};
TORCH_MODULE(SqueezeExcitation);

/// One output size of a conv or pooling layer (floor mode, as torch's).
int64_t downsampled(int64_t size, int64_t kernel, int64_t stride, int64_t padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}

/// ResNet18 (kSqueezeExcitation false) or SE-ResNet18 (true). One template,
/// two components: Cloneable needs the most derived type.
template <bool kSqueezeExcitation>
class ResNet18Impl : public nn::Cloneable<ResNet18Impl<kSqueezeExcitation>>, public piade::Backbone {
 public:
  static constexpr const char* kId = kSqueezeExcitation ? "backbone/se_resnet18" : "backbone/resnet18";

  using Options = std::conditional_t<kSqueezeExcitation, piade::resnet::SeResNet18Options,
                                     piade::resnet::ResNet18Options>;

  explicit ResNet18Impl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)) {
    const int64_t channels = context.image.channels;
    if (channels != 1 && channels != 3)
      throw std::invalid_argument(std::string(kId) + ": images have " + std::to_string(channels) +
                                  " channels, it takes 1 (repeated to 3) or 3; convert the images to "
                                  "gray or RGB");
    reset();
    // Restoring from a checkpoint overwrites every weight next (component.h).
    if (context.restoring) return;
    if (options_.weights().empty()) {
      piade::warn_once(std::string(kId) +
                       ": no pretrained weights, the layers start from orthogonal init; the paper "
                       "used torchvision's ImageNet ResNet18 (sec. 3.1, 4.2): pass --set "
                       "backbone.weights=PATH (torchvision's resnet18-f37072fd.pth as downloaded, "
                       "or a .safetensors of its state dict)");
    } else {
      load_weights();
    }
  }

  void reset() override {
    conv1 = this->register_module(
        "conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = this->register_module("bn1", piade::sdk::BatchNorm2d(64));
    maxpool = this->register_module(
        "maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    layer1 = this->register_module("layer1", make_stage(64, 64, 1));
    layer2 = this->register_module("layer2", make_stage(64, 128, 2));
    layer3 = this->register_module("layer3", make_stage(128, 256, 2));
    layer4 = this->register_module("layer4", make_stage(256, 512, 2));
    if constexpr (kSqueezeExcitation) {
      // "Each convolutional block is followed by a Squeeze-and-Excitation
      // block" (sec. 3.1): the stem and the four stages.
      const std::array<int64_t, 5> widths = {64, 64, 128, 256, 512};
      for (std::size_t i = 0; i < widths.size(); ++i)
        se[i] = this->register_module("se" + std::to_string(i),
                                      SqueezeExcitation(widths[i], options_.reduction()));
    }
    mean_ = this->register_buffer("input_mean", torch::tensor(at::ArrayRef<float>(kImageNetMean.data(), 3)).view({1, 3, 1, 1}));
    std_ = this->register_buffer("input_std", torch::tensor(at::ArrayRef<float>(kImageNetStd.data(), 3)).view({1, 3, 1, 1}));
    init_orthogonal(*this);
  }

  torch::Tensor forward(const torch::Tensor& images) override {
    TORCH_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), kId,
                ": expected images [N,1|3,H,W], got ", images.sizes());
    torch::Tensor x = images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images;
    // [-1,1] -> [0,1] -> ImageNet statistics, what the pretrained weights expect.
    if (options_.normalize()) x = ((x + 1) * 0.5 - mean_) / std_;
    x = maxpool(torch::relu(bn1(conv1(x))));
    x = excite(0, x);
    x = excite(1, layer1->forward(x));
    x = excite(2, layer2->forward(x));
    x = excite(3, layer3->forward(x));
    return excite(4, layer4->forward(x));
  }

  piade::FeatureShape output_shape(const piade::ImageShape& input) const override {
    // conv1 k7 s2 p3, maxpool k3 s2 p1, then a k3 s2 p1 conv opening each of
    // layer2..4 (the 1x1 shortcut gives the same size).
    auto reduce = [](int64_t size) {
      size = downsampled(size, 7, 2, 3);
      size = downsampled(size, 3, 2, 1);
      for (int stage = 0; stage < 3; ++stage) size = downsampled(size, 3, 2, 1);
      return size;
    };
    return {512, reduce(input.height), reduce(input.width)};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, kId, options_);
  }

  nn::Conv2d conv1{nullptr};
  piade::sdk::BatchNorm2d bn1{nullptr};
  nn::MaxPool2d maxpool{nullptr};
  nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  std::array<SqueezeExcitation, 5> se = {nullptr, nullptr, nullptr, nullptr, nullptr};

 private:
  static nn::Sequential make_stage(int64_t in_channels, int64_t out_channels, int64_t stride) {
    return nn::Sequential(BasicBlock(in_channels, out_channels, stride),
                          BasicBlock(out_channels, out_channels, 1));
  }

  torch::Tensor excite(std::size_t index, const torch::Tensor& x) {
    if constexpr (kSqueezeExcitation) return se[index]->forward(x);
    return x;
  }

  /// Loads torchvision's names only; the SE blocks keep their init, as
  /// ImageNet files have no SE weights. Extra tensors (fc.*) are ignored.
  void load_weights() {
    std::map<std::string, torch::Tensor> tensors;
    try {
      tensors = piade::load_tensors(options_.weights());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(kId) + ": " + e.what());
    }
    nn::Module torchvision_part;  // shares the tensors of the children it holds
    auto children = this->named_children();
    for (const char* name : kTorchvisionChildren) torchvision_part.register_module(name, children[name]);
    piade::load_module_weights(torchvision_part, tensors, std::string(kId) + ": weights '" + options_.weights() + "'");
  }

  Options options_;
  torch::Tensor mean_;
  torch::Tensor std_;
};

using ResNet18 = ResNet18Impl<false>;
using SeResNet18 = ResNet18Impl<true>;

const PiadeComponentSpec kComponents[] = {
    piade::component<ResNet18>("resnet18", "torchvision ResNet18 up to layer4 (512 channels, /32)"),
    piade::component<SeResNet18>("se_resnet18",
                                 "ResNet18 with a squeeze-and-excitation block after the stem and "
                                 "each stage (paper sec. 3.1, eq. 1-2)"),
};

}  // namespace

PIADE_PLUGIN("resnet", "ResNet18 and SE-ResNet18 backbones (torchvision-compatible)", kComponents)
