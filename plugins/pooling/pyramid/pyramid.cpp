// pooling/pyramid: the pyramidal pooling layer of PIADE (paper sec. 3.1,
// "Pyramidal Pooling Layer", fig. 3). The backbone's features are pooled at
// several magnifications so that a feature well visible at one scale is not
// lost at another; each level is squeezed to a few channels and all levels
// together are cut into the primary capsules that dynamic routing reads.
#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "piade/sdk/batch_norm.h"
#include "piade/sdk/log.h"
#include "piade/sdk/plugin.h"

#include "pyramid.h"

namespace {

using piade::pyramid::PyramidOptions;

class PyramidImpl : public torch::nn::Cloneable<PyramidImpl>, public piade::Pooling {
 public:
  using Options = PyramidOptions;

  explicit PyramidImpl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)) {
    if (!context.features)
      throw std::invalid_argument(
          "no feature shape in the build context; build the backbone first");
    in_channels_ = context.features->channels;
    if (options_.levels().empty())
      throw std::invalid_argument("'levels' is empty; give at least one size, "
                                  "e.g. levels=8,4,2,1");
    const int64_t total = values_per_image();
    if (total % options_.capsule_dim() != 0)
      throw std::invalid_argument(
          "the pooled values per image (channels " +
          std::to_string(options_.channels()) + " x sum of level areas of levels=" +
          piade::to_text(options_.levels()) + " = " + std::to_string(total) +
          ") are not divisible by capsule_dim=" + std::to_string(options_.capsule_dim()) +
          "; choose a capsule_dim that divides " + std::to_string(total));
    // A restored model warned when it was trained.
    if (!context.restoring) warn_about_copied_levels(*context.features, context.image);
    reset();
  }

  void reset() override {
    convs_.clear();
    norms_.clear();
    for (size_t i = 0; i < options_.levels().size(); ++i) {
      // 1x1 convolution (no bias: the batch norm after it subtracts any
      // constant) reducing the channels, then batch norm (sec. 3.1).
      auto conv = torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in_channels_, options_.channels(), 1).bias(false));
      // Orthogonal initialization for everything but the backbone (sec. 4.2).
      torch::nn::init::orthogonal_(conv->weight);
      convs_.push_back(register_module("conv" + std::to_string(i), conv));
      norms_.push_back(register_module("norm" + std::to_string(i),
                                       piade::sdk::BatchNorm2d(options_.channels())));
    }
  }

  torch::Tensor forward(const torch::Tensor& features) override {
    TORCH_CHECK(features.dim() == 4 && features.size(1) == in_channels_,
                "pooling/pyramid: expected features [N,", in_channels_, ",h,w], got ",
                features.sizes());
    std::vector<torch::Tensor> flat;
    flat.reserve(convs_.size());
    for (size_t i = 0; i < convs_.size(); ++i) {
      const int64_t side = options_.levels()[i];
      torch::Tensor level = torch::adaptive_avg_pool2d(features, {side, side});
      flat.push_back(norms_[i]->forward(convs_[i]->forward(level)).flatten(1));
    }
    // Flatten, concatenate and reshape into capsule_dim-vectors (sec. 3.1).
    return torch::cat(flat, 1).view({features.size(0), -1, options_.capsule_dim()});
  }

  piade::CapsuleShape output_shape(const piade::FeatureShape& input) const override {
    TORCH_CHECK(input.channels == in_channels_, "pooling/pyramid: built for ", in_channels_,
                "-channel features, asked about ", input.channels,
                " channels; rebuild it with the backbone's feature shape");
    // Adaptive pooling fixes each level's size, whatever the input's h x w.
    return {values_per_image() / options_.capsule_dim(), options_.capsule_dim()};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, "pooling/pyramid", options_);
  }

 private:
  /// A level with more cells on a side than the map has (s > h or s > w)
  /// holds no value the map lacks: adaptive pooling repeats the map's cells
  /// (or averages two neighbours) to fill it, so its capsules are copies.
  /// This is what happens at 28-32 px with an imagenet-stem ResNet (a 1x1
  /// map: levels 8, 4 and 2 all repeat one vector).
  void warn_about_copied_levels(const piade::FeatureShape& map, const piade::ImageShape& image) const {
    std::vector<int64_t> larger;
    for (int64_t side : options_.levels())
      if (side > map.height || side > map.width) larger.push_back(side);
    if (larger.empty()) return;
    const std::string map_size = std::to_string(map.height) + "x" + std::to_string(map.width);
    const std::string at_most = "levels of at most " + std::to_string(std::min(map.height, map.width));
    // A map 1/16 of the image or smaller comes from a /32 backbone (a ResNet's
    // imagenet stem); the small stem (/8) is then the first fix.
    const bool strided = image.height >= 16 * map.height && image.width >= 16 * map.width;
    piade::warn_once("pooling/pyramid: level" + std::string(larger.size() > 1 ? "s " : " ") +
                     piade::to_text(larger) + " of levels=" + piade::to_text(options_.levels()) +
                     (larger.size() > 1 ? " are" : " is") + " larger than the " + map_size +
                     " feature map the backbone gives for " + std::to_string(image.height) + "x" +
                     std::to_string(image.width) + " images, so " + (larger.size() > 1 ? "their" : "its") +
                     " capsules are copies of the map's values; " +
                     (strided ? "use --set backbone.stem=small (a ResNet then gives 4x4 at 28-32 px), larger "
                                "images, or " + at_most
                              : "use larger images or " + at_most));
  }

  int64_t values_per_image() const {
    int64_t area = 0;
    for (int64_t side : options_.levels()) area += side * side;
    return options_.channels() * area;
  }

  PyramidOptions options_;
  int64_t in_channels_ = 0;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<piade::sdk::BatchNorm2d> norms_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<PyramidImpl>(
        "pyramid", "multi-scale adaptive pooling cut into primary capsules (paper sec. 3.1)"),
};

}  // namespace

PIADE_PLUGIN("pyramid", "pyramidal pooling into primary capsules", kComponents)
