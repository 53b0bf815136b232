// Test fixture: the smallest backbone, pooling, routing and decoder that
// satisfy the interfaces, all named "stub". `piade config` resolves a whole
// pipeline, and the install test must not depend on which real backbones
// and decoders happen to be built; it only needs every kind to exist.
#include <torch/torch.h>

#include "piade/sdk/plugin.h"

namespace {

/// Features = the image itself: [N,C,H,W] -> [N,C,H,W].
class StubBackboneImpl : public torch::nn::Cloneable<StubBackboneImpl>, public piade::Backbone {
 public:
  explicit StubBackboneImpl(const piade::ComponentContext& /*context*/) { reset(); }
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& images) override { return images; }
  piade::FeatureShape output_shape(const piade::ImageShape& input) const override {
    return {input.channels, input.height, input.width};
  }
};

/// One capsule per feature position: [N,K,h,w] -> [N,h*w,K].
class StubPoolingImpl : public torch::nn::Cloneable<StubPoolingImpl>, public piade::Pooling {
 public:
  explicit StubPoolingImpl(const piade::ComponentContext& /*context*/) { reset(); }
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& features) override {
    return features.flatten(2).transpose(1, 2);
  }
  piade::CapsuleShape output_shape(const piade::FeatureShape& input) const override {
    return {input.height * input.width, input.channels};
  }
};

/// One vector, the mean capsule: [N,count,dim] -> [N,1,dim].
class StubRoutingImpl : public torch::nn::Cloneable<StubRoutingImpl>, public piade::Routing {
 public:
  explicit StubRoutingImpl(const piade::ComponentContext& /*context*/) { reset(); }
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& capsules) override {
    return capsules.mean(/*dim=*/1, /*keepdim=*/true);
  }
  piade::VectorShape output_shape(const piade::CapsuleShape& input) const override {
    return {1, input.dim};
  }
};

/// A blank image of the configured shape.
class StubDecoderImpl : public torch::nn::Cloneable<StubDecoderImpl>, public piade::Decoder {
 public:
  explicit StubDecoderImpl(const piade::ComponentContext& context) : image_(context.image) { reset(); }
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& vector, const torch::Tensor& /*features*/) override {
    return torch::zeros({vector.size(0), image_.channels, image_.height, image_.width},
                        vector.options());
  }

 private:
  piade::ImageShape image_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<StubBackboneImpl>("stub", "test fixture: the image as features"),
    piade::component<StubPoolingImpl>("stub", "test fixture: one capsule per position"),
    piade::component<StubRoutingImpl>("stub", "test fixture: the mean capsule"),
    piade::component<StubDecoderImpl>("stub", "test fixture: a blank image"),
};

}  // namespace

PIADE_PLUGIN("stub_parts", "0.0.0", "install test fixture: one trivial part of each model kind",
             kComponents)
