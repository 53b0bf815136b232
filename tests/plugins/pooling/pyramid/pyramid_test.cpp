// pooling/pyramid, loaded through the host's registry as the pipeline does.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/backbone.h"
#include "piade/sdk/pooling.h"

#include "tests/support/builtin_plugins.h"

namespace {

std::shared_ptr<piade::Pooling> make(piade::FeatureShape features,
                                     const std::map<std::string, std::string>& params = {}) {
  piade::ComponentContext ctx;
  ctx.image = {3, 120, 120};
  ctx.features = features;
  return piade::test::build_component<piade::Pooling>("pyramid", params, ctx);
}

torch::Tensor param(const std::shared_ptr<piade::Pooling>& p, const std::string& name) {
  auto all = p->named_parameters();
  EXPECT_TRUE(all.contains(name)) << name;
  return all[name];
}

TEST(PyramidPooling, PaperShapeFor512x4x4) {
  auto pooling = make({512, 4, 4});
  const auto shape = pooling->output_shape({512, 4, 4});
  EXPECT_EQ(shape.count, 680);  // 64*(64+16+4+1)/8
  EXPECT_EQ(shape.dim, 8);
  EXPECT_EQ(pooling->forward(torch::randn({2, 512, 4, 4})).sizes(),
            (std::vector<int64_t>{2, 680, 8}));
}

TEST(PyramidPooling, OutputMatchesOutputShapeForEveryBackboneSize) {
  // ResNet18 feature maps for 28, 32, 64, 120, 128 and 224 pixel images,
  // and a narrower backbone.
  for (piade::FeatureShape f : {piade::FeatureShape{512, 1, 1}, piade::FeatureShape{512, 2, 2},
                                piade::FeatureShape{512, 4, 4}, piade::FeatureShape{512, 7, 7},
                                piade::FeatureShape{256, 3, 5}, piade::FeatureShape{64, 15, 15}}) {
    auto pooling = make(f);
    const auto shape = pooling->output_shape(f);
    torch::Tensor out = pooling->forward(torch::randn({3, f.channels, f.height, f.width}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, shape.count, shape.dim}))
        << f.channels << "x" << f.height << "x" << f.width;
    EXPECT_TRUE(out.isfinite().all().item<bool>());
  }
}

TEST(PyramidPooling, ValuesAreLevelsPooledConvolvedNormalizedFlattenedAndCut) {
  torch::manual_seed(1);
  auto pooling = make({6, 5, 5}, {{"levels", "2,1"}, {"channels", "3"}, {"capsule_dim", "5"}});
  pooling->eval();  // batch norm with its initial statistics: x / sqrt(1 + eps)
  torch::Tensor x = torch::randn({2, 6, 5, 5});
  torch::Tensor out = pooling->forward(x);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 5}));  // 3*(4+1)/5

  // Independent computation: average the 5x5 map over the adaptive bins
  // ([0,3) and [2,5) for 2 bins of 5) and over everything for level 1.
  const double bn = 1 / std::sqrt(1 + 1e-5);
  torch::Tensor w2 = param(pooling, "conv0.weight").view({3, 6});
  torch::Tensor w1 = param(pooling, "conv1.weight").view({3, 6});
  std::vector<torch::Tensor> flat;
  auto slice = [&](int64_t r, int64_t c) {
    using torch::indexing::Slice;
    return x.index({Slice(), Slice(), Slice(r * 2, r * 2 + 3), Slice(c * 2, c * 2 + 3)})
        .mean({2, 3});  // [N,6]
  };
  torch::Tensor level2 = torch::stack({torch::stack({slice(0, 0), slice(0, 1)}, 2),
                                       torch::stack({slice(1, 0), slice(1, 1)}, 2)},
                                      2);  // [N,6,2,2]
  torch::Tensor conv2 = torch::einsum("ok,nkrc->norc", {w2, level2}) * bn;
  torch::Tensor conv1 = torch::einsum("ok,nk->no", {w1, x.mean({2, 3})}) * bn;
  torch::Tensor expected = torch::cat({conv2.flatten(1), conv1.flatten(1)}, 1).view({2, 3, 5});
  EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5)) << out << expected;
}

TEST(PyramidPooling, InitIsOrthogonalWithDefaultBatchNorm) {
  auto pooling = make({128, 4, 4}, {{"channels", "16"}});
  torch::Tensor w = param(pooling, "conv0.weight").view({16, 128});  // rows orthonormal
  EXPECT_TRUE(torch::allclose(w.matmul(w.t()), torch::eye(16), 1e-4, 1e-4));
  EXPECT_TRUE(param(pooling, "norm0.weight").eq(1).all().item<bool>());
  EXPECT_TRUE(param(pooling, "norm0.bias").eq(0).all().item<bool>());
  EXPECT_FALSE(pooling->named_parameters().contains("conv0.bias"));
}

TEST(PyramidPooling, EveryParameterChangesTheOutput) {
  const piade::FeatureShape f{512, 4, 4};
  auto levels = make(f, {{"levels", "4,2"}});
  EXPECT_EQ(levels->output_shape(f).count, 64 * 20 / 8);
  EXPECT_EQ(levels->forward(torch::randn({2, 512, 4, 4})).size(1), 160);
  EXPECT_EQ(levels->named_parameters().size(), 2u * 3u);  // conv weight, bn weight+bias per level

  auto channels = make(f, {{"channels", "32"}});
  EXPECT_EQ(channels->output_shape(f).count, 32 * 85 / 8);
  EXPECT_EQ(channels->forward(torch::randn({2, 512, 4, 4})).size(1), 340);

  auto capsule_dim = make(f, {{"capsule_dim", "16"}});
  EXPECT_EQ(capsule_dim->output_shape(f).count, 340);
  EXPECT_EQ(capsule_dim->output_shape(f).dim, 16);
  EXPECT_EQ(capsule_dim->forward(torch::randn({2, 512, 4, 4})).sizes(),
            (std::vector<int64_t>{2, 340, 16}));
}

TEST(PyramidPooling, GradientsReachEveryParameter) {
  torch::manual_seed(2);
  auto pooling = make({32, 4, 4}, {{"channels", "8"}});
  pooling->train();
  torch::Tensor out = pooling->forward(torch::randn({4, 32, 4, 4}));
  (out * torch::randn_like(out)).sum().backward();
  for (const auto& p : pooling->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

TEST(PyramidPooling, BadParametersFailToBuildWithTheReason) {
  try {
    make({512, 4, 4}, {{"capsule_dim", "7"}});
    FAIL() << "capsule_dim=7 was accepted";
  } catch (const piade::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("failed to build"), std::string::npos) << what;
    EXPECT_NE(what.find("capsule_dim=7"), std::string::npos) << what;
    EXPECT_NE(what.find("5440"), std::string::npos) << what;
  }
  EXPECT_THROW(make({512, 4, 4}, {{"levels", "4,0"}}), piade::Error);  // out of range
  EXPECT_THROW(make({512, 4, 4}, {{"channels", "0"}}), piade::Error);
}

TEST(PyramidPooling, RejectsFeaturesOfAnotherShape) {
  auto pooling = make({512, 4, 4});
  EXPECT_THROW(pooling->forward(torch::randn({2, 256, 4, 4})), c10::Error);
  EXPECT_THROW(pooling->output_shape({256, 4, 4}), c10::Error);
}

TEST(PyramidPooling, CloneCopiesParameters) {
  auto pooling = make({16, 4, 4}, {{"channels", "8"}});
  auto copy = pooling->clone();
  auto a = pooling->named_parameters();
  auto b = copy->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
}

// The warning for levels larger than the map ("larger": more cells on a side
// than the map has, s > h or s > w), with the feature shape a ResNet18 gives
// for the image size and stem. It lists exactly the levels that exceed the
// map, and nothing when none does.
std::string copied_levels_warning(int64_t image_size, const std::string& stem, const std::string& levels = "8,4,2,1") {
  piade::ComponentContext ctx;
  ctx.image = {1, image_size, image_size};
  ctx.restoring = true;  // no weights to look for
  ctx.features = piade::test::build_component<piade::Backbone>("resnet18", {{"stem", stem}}, ctx)
                     ->output_shape(ctx.image);
  ctx.restoring = false;
  testing::internal::CaptureStderr();
  piade::test::build_component<piade::Pooling>("pyramid", {{"levels", levels}}, ctx);
  return testing::internal::GetCapturedStderr();
}

TEST(PyramidPooling, WarnsOnceNamingTheLevelsLargerThanTheFeatureMap) {
  // 28x28 with the imagenet stem: a 1x1 map, so 8, 4 and 2 repeat one vector.
  EXPECT_EQ(copied_levels_warning(28, "imagenet"),
            "piade: warning: pooling/pyramid: levels 8,4,2 of levels=8,4,2,1 are larger than the 1x1 feature "
            "map the backbone gives for 28x28 images, so their capsules are copies of the map's values; use "
            "--set backbone.stem=small (a ResNet then gives 4x4 at 28-32 px), larger images, or levels of at "
            "most 1\n");
  EXPECT_EQ(copied_levels_warning(28, "imagenet"), "");  // once
  // 32x32 with the small stem: a 4x4 map; only level 8 exceeds it, and the
  // small stem is no longer the advice.
  EXPECT_EQ(copied_levels_warning(32, "small"),
            "piade: warning: pooling/pyramid: level 8 of levels=8,4,2,1 is larger than the 4x4 feature map the "
            "backbone gives for 32x32 images, so its capsules are copies of the map's values; use larger images "
            "or levels of at most 4\n");
  EXPECT_EQ(copied_levels_warning(32, "small", "4,2,1"), "");
  EXPECT_EQ(copied_levels_warning(28, "small", "4,2,1"), "");
}

}  // namespace
