// backbone/resnet18, resnet50, se_resnet18 and se_resnet50: the feature
// extractor at the start of PIADE (paper sec. 3.1, Fig. 1). A
// torchvision-compatible ResNet18 or ResNet50 (He et al., arXiv 1512.03385)
// without its classifier: the output is the layer4 feature map. The se_
// variants add a squeeze-and-excitation block (Hu et al., arXiv 1709.01507;
// paper eq. 1-2, Fig. 2) after the stem and after each of the four stages, as
// the paper's SE-ResNet18 (sec. 3.1) and the authors' SE-ResNet50 (capsmod.py
// of github.com/pankajmishra000/PIADE: se1..se5 around torchvision's stages)
// do.
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

// The children whose names and shapes are torchvision's resnet18/50; the
// only ones pretrained weights are loaded into.
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

/// torchvision's Bottleneck (ResNet V1.5: the stride sits on the 3x3 conv,
/// as in torchvision's resnet50): 1x1 conv to `planes`, 3x3 conv, 1x1 conv to
/// 4 x `planes`, each with batch norm, and a shortcut as BasicBlock's.
class BottleneckImpl : public nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t in_channels, int64_t planes, int64_t stride)
      : in_channels_(in_channels), planes_(planes), stride_(stride) {
    reset();
  }

  void reset() override {
    const int64_t out_channels = planes_ * kExpansion;
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_channels_, planes_, 1).bias(false)));
    bn1 = register_module("bn1", piade::sdk::BatchNorm2d(planes_));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(planes_, planes_, 3)
                                                    .stride(stride_).padding(1).bias(false)));
    bn2 = register_module("bn2", piade::sdk::BatchNorm2d(planes_));
    conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(planes_, out_channels, 1).bias(false)));
    bn3 = register_module("bn3", piade::sdk::BatchNorm2d(out_channels));
    if (stride_ != 1 || in_channels_ != out_channels) {
      downsample = register_module(
          "downsample",
          nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_channels_, out_channels, 1).stride(stride_).bias(false)),
                         piade::sdk::BatchNorm2d(out_channels)));
    } else {
      downsample = nullptr;
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor shortcut = downsample ? downsample->forward(x) : x;
    torch::Tensor y = torch::relu(bn1(conv1(x)));
    y = torch::relu(bn2(conv2(y)));
    y = bn3(conv3(y));
    return torch::relu(y + shortcut);
  }

  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  piade::sdk::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  nn::Sequential downsample{nullptr};

 private:
  int64_t in_channels_;
  int64_t planes_;
  int64_t stride_;
};
TORCH_MODULE(Bottleneck);

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

/// What differs between depths: torchvision's block, blocks per stage and
/// the files users have (named in the no-weights warning).
template <int kDepth>
struct Depth;

template <>
struct Depth<18> {
  using Block = BasicBlock;
  static constexpr std::array<int64_t, 4> kBlocks = {2, 2, 2, 2};
  static constexpr int64_t kExpansion = 1;
  static constexpr const char* kIds[2] = {"backbone/resnet18", "backbone/se_resnet18"};
  static constexpr const char* kPretrained =
      "the paper used torchvision's ImageNet ResNet18 (sec. 3.1, 4.2): pass --set backbone.weights=PATH "
      "(torchvision's resnet18-f37072fd.pth as downloaded, or a .safetensors of its state dict)";
};

template <>
struct Depth<50> {
  using Block = Bottleneck;
  static constexpr std::array<int64_t, 4> kBlocks = {3, 4, 6, 3};
  static constexpr int64_t kExpansion = BottleneckImpl::kExpansion;
  static constexpr const char* kIds[2] = {"backbone/resnet50", "backbone/se_resnet50"};
  static constexpr const char* kPretrained =
      "the authors' code used torchvision's ImageNet ResNet50 (capsmod.py, pretrained=True): pass --set "
      "backbone.weights=PATH (torchvision's resnet50-0676ba61.pth as downloaded, or a .safetensors of its "
      "state dict)";
};

/// ResNet18/50 (kSqueezeExcitation false) or SE-ResNet18/50 (true). One
/// template, four components: Cloneable needs the most derived type.
template <int kDepth, bool kSqueezeExcitation>
class ResNetImpl : public nn::Cloneable<ResNetImpl<kDepth, kSqueezeExcitation>>, public piade::Backbone {
 public:
  using Arch = Depth<kDepth>;
  static constexpr const char* kId = Arch::kIds[kSqueezeExcitation ? 1 : 0];
  static constexpr int64_t kOutChannels = 512 * Arch::kExpansion;

  using Options = std::conditional_t<kSqueezeExcitation, piade::resnet::SeResNetOptions,
                                     piade::resnet::ResNetOptions>;

  explicit ResNetImpl(const piade::ComponentContext& context)
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
      piade::warn_once(std::string(kId) + ": no pretrained weights, the layers start from orthogonal init; " +
                       Arch::kPretrained);
    } else {
      load_weights();
    }
  }

  void reset() override {
    conv1 = this->register_module(
        "conv1", small_stem() ? nn::Conv2d(nn::Conv2dOptions(3, 64, 3).stride(1).padding(1).bias(false))
                              : nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = this->register_module("bn1", piade::sdk::BatchNorm2d(64));
    if (!small_stem())
      maxpool = this->register_module(
          "maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    const int64_t e = Arch::kExpansion;
    layer1 = this->register_module("layer1", make_stage(64, 64, Arch::kBlocks[0], 1));
    layer2 = this->register_module("layer2", make_stage(64 * e, 128, Arch::kBlocks[1], 2));
    layer3 = this->register_module("layer3", make_stage(128 * e, 256, Arch::kBlocks[2], 2));
    layer4 = this->register_module("layer4", make_stage(256 * e, 512, Arch::kBlocks[3], 2));
    if constexpr (kSqueezeExcitation) {
      // "Each convolutional block is followed by a Squeeze-and-Excitation
      // block" (sec. 3.1): the stem and the four stages, as the authors'
      // se1..se5 (capsmod.py) sit around torchvision's stages.
      const std::array<int64_t, 5> widths = {64, 64 * e, 128 * e, 256 * e, 512 * e};
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
    x = torch::relu(bn1(conv1(x)));
    if (maxpool) x = maxpool(x);
    x = excite(0, x);
    x = excite(1, layer1->forward(x));
    x = excite(2, layer2->forward(x));
    x = excite(3, layer3->forward(x));
    return excite(4, layer4->forward(x));
  }

  piade::FeatureShape output_shape(const piade::ImageShape& input) const override {
    // imagenet stem: conv1 k7 s2 p3, maxpool k3 s2 p1; small stem: conv1 k3
    // s1 p1 (same size). Then a k3 s2 p1 conv opening each of layer2..4 (the
    // 1x1 shortcut gives the same size).
    const bool small = small_stem();
    auto reduce = [small](int64_t size) {
      if (!small) {
        size = downsampled(size, 7, 2, 3);
        size = downsampled(size, 3, 2, 1);
      }
      for (int stage = 0; stage < 3; ++stage) size = downsampled(size, 3, 2, 1);
      return size;
    };
    return {kOutChannels, reduce(input.height), reduce(input.width)};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, kId, options_);
  }

  nn::Conv2d conv1{nullptr};
  piade::sdk::BatchNorm2d bn1{nullptr};
  nn::MaxPool2d maxpool{nullptr};  // null with the small stem
  nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  std::array<SqueezeExcitation, 5> se = {nullptr, nullptr, nullptr, nullptr, nullptr};

 private:
  using Block = typename Arch::Block;

  bool small_stem() const { return options_.stem() == piade::resnet::Stem::small; }

  /// torchvision's _make_layer: the first block changes width and stride,
  /// the others keep them.
  static nn::Sequential make_stage(int64_t in_channels, int64_t planes, int64_t blocks, int64_t stride) {
    nn::Sequential stage;
    stage->push_back(Block(in_channels, planes, stride));
    for (int64_t i = 1; i < blocks; ++i) stage->push_back(Block(planes * Arch::kExpansion, planes, 1));
    return stage;
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
    // The small stem's 3x3 conv1 cannot take an ImageNet file's 7x7 one. A
    // user who asks for both wants the pretrained stages on small images (the
    // usual transfer to CIFAR), so conv1 keeps its init and says so; a 3x3
    // conv1 in the file (a small-stem state dict) loads as any tensor.
    bool skip_conv1 = false;
    if (small_stem()) {
      auto found = tensors.find("conv1.weight");
      if (found != tensors.end() && found->second.dim() == 4 && found->second.size(2) != 3) {
        skip_conv1 = true;
        piade::warn_once(std::string(kId) + ": backbone.stem=small has a 3x3 conv1, 'conv1.weight' in weights '" +
                         options_.weights() + "' is " + std::to_string(found->second.size(2)) + "x" +
                         std::to_string(found->second.size(3)) +
                         " (the imagenet stem's): conv1 keeps its orthogonal init, every other tensor is "
                         "loaded; use backbone.stem=imagenet to load all of them");
      }
    }
    nn::Module torchvision_part;  // shares the tensors of the children it holds
    auto children = this->named_children();
    for (const char* name : kTorchvisionChildren)
      if (!(skip_conv1 && std::string(name) == "conv1")) torchvision_part.register_module(name, children[name]);
    piade::load_module_weights(torchvision_part, tensors, std::string(kId) + ": weights '" + options_.weights() + "'");
  }

  Options options_;
  torch::Tensor mean_;
  torch::Tensor std_;
};

using ResNet18 = ResNetImpl<18, false>;
using SeResNet18 = ResNetImpl<18, true>;
using ResNet50 = ResNetImpl<50, false>;
using SeResNet50 = ResNetImpl<50, true>;

const PiadeComponentSpec kComponents[] = {
    piade::component<ResNet18>("resnet18", "torchvision ResNet18 up to layer4 (512 channels, /32)"),
    piade::component<SeResNet18>("se_resnet18",
                                 "ResNet18 with a squeeze-and-excitation block after the stem and "
                                 "each stage (paper sec. 3.1, eq. 1-2)"),
    piade::component<ResNet50>("resnet50", "torchvision ResNet50 up to layer4 (2048 channels, /32)"),
    piade::component<SeResNet50>("se_resnet50",
                                 "ResNet50 with a squeeze-and-excitation block after the stem and "
                                 "each stage (the authors' code, capsmod.py)"),
};

}  // namespace

PIADE_PLUGIN("resnet", "ResNet18/50 and SE-ResNet18/50 backbones (torchvision-compatible)", kComponents)
