// decoder/transposed, loaded through the host's registry as the pipeline does.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/decoder.h"

#include "tests/support/builtin_plugins.h"

namespace {
// One intra-op thread: the large orthogonal initializations (a QR of
// 25088 x 512 for 7x7 features) slow down many times over when several test
// programs share a few cores and each starts a thread per core.
const bool kSingleThreaded = [] {
  torch::set_num_threads(1);
  return true;
}();


std::shared_ptr<piade::Decoder> make(piade::ImageShape image, piade::FeatureShape features,
                                     const std::map<std::string, std::string>& params = {},
                                     int64_t vector_dim = 64) {
  piade::ComponentContext ctx;
  ctx.image = image;
  ctx.features = features;
  ctx.capsules = piade::CapsuleShape{680, 8};
  ctx.vectors = piade::VectorShape{2, vector_dim};
  return piade::test::build_component<piade::Decoder>("transposed", params, ctx);
}

/// in, out, kernel h, kernel w, stride h, stride w, padding h, padding w
using Layer = std::vector<int64_t>;

std::vector<Layer> conv_layers(const std::shared_ptr<piade::Decoder>& decoder) {
  std::vector<Layer> layers;
  for (const auto& module : decoder->modules(/*include_self=*/false)) {
    auto conv = std::dynamic_pointer_cast<torch::nn::ConvTranspose2dImpl>(module);
    if (!conv) continue;
    const auto& o = conv->options;
    layers.push_back({o.in_channels(), o.out_channels(), (*o.kernel_size())[0],
                      (*o.kernel_size())[1], (*o.stride())[0], (*o.stride())[1],
                      c10::get<torch::ExpandingArray<2>>(o.padding())->at(0),
                      c10::get<torch::ExpandingArray<2>>(o.padding())->at(1)});
  }
  return layers;
}

torch::Tensor decode(const std::shared_ptr<piade::Decoder>& decoder, piade::FeatureShape f,
                     int64_t n = 2, int64_t vector_dim = 64) {
  return decoder->forward(torch::randn({n, vector_dim}),
                          torch::randn({n, f.channels, f.height, f.width}));
}

struct Case {
  piade::ImageShape image;
  piade::FeatureShape features;
};

TEST(TransposedDecoder, ReconstructsEverySupportedImageShape) {
  // ResNet18 feature widths for 28, 32, 64, 120, 128, 224 pixel images.
  const std::vector<Case> cases = {
      {{1, 28, 28}, {512, 1, 1}},   {{3, 32, 32}, {512, 1, 1}},   {{3, 64, 64}, {512, 2, 2}},
      {{3, 120, 120}, {512, 4, 4}}, {{1, 120, 120}, {512, 4, 4}}, {{1, 128, 128}, {512, 4, 4}},
      {{3, 128, 128}, {512, 4, 4}}, {{3, 224, 224}, {512, 7, 7}}, {{1, 224, 224}, {512, 7, 7}},
      // beyond the list: the smallest size, an odd size, sizes stride 2
      // alone does not reach with small kernels, and a non-square image
      {{3, 16, 16}, {512, 1, 1}},   {{3, 121, 121}, {512, 4, 4}}, {{1, 48, 48}, {512, 2, 2}},
      {{1, 20, 20}, {512, 1, 1}},   {{3, 64, 32}, {512, 2, 1}},   {{3, 100, 100}, {256, 4, 4}}};
  for (const Case& c : cases) {
    auto decoder = make(c.image, c.features);
    decoder->eval();
    torch::Tensor out = decode(decoder, c.features);
    EXPECT_EQ(out.sizes(),
              (std::vector<int64_t>{2, c.image.channels, c.image.height, c.image.width}))
        << c.image.channels << "x" << c.image.height << "x" << c.image.width;
    EXPECT_LE(out.abs().max().item<double>(), 1.0);
  }
}

TEST(TransposedDecoder, PaperStackFor120) {
  // n = (512 + 512) * 4 * 4 / 64 = 256;  8 -> 15 -> 29 -> 60 -> 120
  auto decoder = make({3, 120, 120}, {512, 4, 4});
  const std::vector<Layer> expected = {{256, 16, 3, 3, 2, 2, 1, 1},
                                       {16, 32, 3, 3, 2, 2, 1, 1},
                                       {32, 32, 4, 4, 2, 2, 0, 0},
                                       {32, 3, 4, 4, 2, 2, 1, 1}};
  EXPECT_EQ(conv_layers(decoder), expected);
}

TEST(TransposedDecoder, StacksForOtherSizes) {
  // 28: 8 -> 14 (k2 p1) -> 28, after two size-keeping layers for channels=16,32,32
  EXPECT_EQ(conv_layers(make({1, 28, 28}, {512, 1, 1})),
            (std::vector<Layer>{{16, 16, 3, 3, 1, 1, 1, 1},
                                {16, 32, 3, 3, 1, 1, 1, 1},
                                {32, 32, 2, 2, 2, 2, 1, 1},
                                {32, 1, 4, 4, 2, 2, 1, 1}}));
  // 224: 8 -> 15 -> 29 -> 57 -> 112 -> 224, the last width repeated
  EXPECT_EQ(conv_layers(make({3, 224, 224}, {512, 7, 7})),
            (std::vector<Layer>{{784, 16, 3, 3, 2, 2, 1, 1},
                                {16, 32, 3, 3, 2, 2, 1, 1},
                                {32, 32, 3, 3, 2, 2, 1, 1},
                                {32, 32, 2, 2, 2, 2, 1, 1},
                                {32, 3, 4, 4, 2, 2, 1, 1}}));
}

TEST(TransposedDecoder, InitIsOrthogonalWithZeroBiases) {
  auto decoder = make({3, 32, 32}, {512, 1, 1});
  auto params = decoder->named_parameters();
  torch::Tensor w = params["upsample.0.weight"];  // [128,64]: orthonormal columns
  EXPECT_TRUE(torch::allclose(w.t().matmul(w), torch::eye(64), 1e-4, 1e-4));
  for (const auto& p : params) {
    const std::string& name = p.key();
    if (name.size() > 5 && name.substr(name.size() - 5) == ".bias" &&
        !(name.rfind("upsample.1", 0) == 0 || name.rfind("upsample.4", 0) == 0)) {
      EXPECT_TRUE(p.value().eq(0).all().item<bool>()) << name;
    }
  }
  EXPECT_FALSE(params.contains("upsample.0.bias"));  // cancelled by the batch norm after it
}

TEST(TransposedDecoder, HiddenSizesShapeTheUpsamplingMlp) {
  const piade::FeatureShape f{512, 2, 2};
  auto params = make({3, 64, 64}, f, {{"hidden", "32,16"}})->named_parameters();
  EXPECT_EQ(params["upsample.0.weight"].sizes(), (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(params["upsample.3.weight"].sizes(), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(params["upsample.6.weight"].sizes(), (std::vector<int64_t>{512 * 4, 16}));
  auto one = make({3, 64, 64}, f, {{"hidden", "256"}});
  EXPECT_EQ(one->named_parameters()["upsample.3.weight"].sizes(),
            (std::vector<int64_t>{512 * 4, 256}));
  EXPECT_EQ(decode(one, f).sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
}

TEST(TransposedDecoder, ChannelsSetTheConvolutionWidthsAndDepth) {
  const piade::FeatureShape f{512, 4, 4};
  auto deeper = make({3, 120, 120}, f, {{"channels", "8,8,8,8"}});
  EXPECT_EQ(conv_layers(deeper), (std::vector<Layer>{{256, 8, 3, 3, 1, 1, 1, 1},
                                                     {8, 8, 3, 3, 2, 2, 1, 1},
                                                     {8, 8, 3, 3, 2, 2, 1, 1},
                                                     {8, 8, 4, 4, 2, 2, 0, 0},
                                                     {8, 3, 4, 4, 2, 2, 1, 1}}));
  EXPECT_EQ(decode(deeper, f).sizes(), (std::vector<int64_t>{2, 3, 120, 120}));
  auto narrow = make({3, 120, 120}, f, {{"channels", "4"}});
  EXPECT_EQ(conv_layers(narrow), (std::vector<Layer>{{256, 4, 3, 3, 2, 2, 1, 1},
                                                     {4, 4, 3, 3, 2, 2, 1, 1},
                                                     {4, 4, 4, 4, 2, 2, 0, 0},
                                                     {4, 3, 4, 4, 2, 2, 1, 1}}));
  EXPECT_EQ(decode(narrow, f).sizes(), (std::vector<int64_t>{2, 3, 120, 120}));
}

TEST(TransposedDecoder, UpsampleChannelsSetTheSeedChannels) {
  const piade::FeatureShape f{512, 1, 1};
  auto decoder = make({3, 32, 32}, f, {{"upsample_channels", "448"}});
  EXPECT_EQ(decoder->named_parameters()["upsample.6.weight"].size(0), 448);
  EXPECT_EQ(conv_layers(decoder).front()[0], (448 + 512) / 64);
  EXPECT_EQ(decode(decoder, f).sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
}

TEST(TransposedDecoder, UsesTheVectorAndTheFeatures) {
  torch::manual_seed(7);
  const piade::FeatureShape f{64, 2, 2};  // (512 + 64) * 4 / 64 = 36
  auto decoder = make({1, 32, 32}, f, {}, 16);
  decoder->eval();
  torch::Tensor v = torch::randn({2, 16}), x = torch::randn({2, 64, 2, 2});
  torch::Tensor out = decoder->forward(v, x);
  EXPECT_GT((decoder->forward(v + 1, x) - out).abs().max().item<double>(), 1e-4);
  EXPECT_GT((decoder->forward(v, x + 1) - out).abs().max().item<double>(), 1e-4);
}

TEST(TransposedDecoder, GradientsReachEveryParameter) {
  torch::manual_seed(8);
  const piade::FeatureShape f{64, 2, 2};
  auto decoder = make({3, 32, 32}, f, {}, 16);
  decoder->train();
  torch::Tensor out = decode(decoder, f, 4, 16);
  (out * torch::randn_like(out)).sum().backward();
  for (const auto& p : decoder->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

TEST(TransposedDecoder, BadShapesFailToBuildWithTheReason) {
  auto expect_failure = [](piade::ImageShape image, piade::FeatureShape f,
                           const std::map<std::string, std::string>& params,
                           const std::string& mention) {
    try {
      make(image, f, params);
      FAIL() << "built with " << mention;
    } catch (const piade::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("failed to build"), std::string::npos) << what;
      EXPECT_NE(what.find(mention), std::string::npos) << what;
    }
  };
  expect_failure({3, 32, 32}, {512, 1, 1}, {{"upsample_channels", "500"}}, "upsample_channels 500");
  expect_failure({3, 12, 12}, {512, 1, 1}, {}, "image height 12 is too small");
  EXPECT_THROW(make({3, 32, 32}, {512, 1, 1}, {{"channels", "16,0"}}), piade::Error);
}

}  // namespace
