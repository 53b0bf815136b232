// loss/perceptual, loaded through the host's registry and compared with
// torchvision's VGG11 features[:4] (make_reference.py).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <map>

#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/loss.h"
#include "piade/sdk/weights.h"
#include "tests/sdk/weights/reference_data.h"

#include "tests/support/builtin_plugins.h"

namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr double kTolerance = 1e-4;


fs::path reference() { return piade::test::reference_dir("tests/plugins/loss/perceptual/make_reference.py"); }

const torch::Tensor& ref(const std::string& name) {
  static const auto tensors = piade::load_tensors((reference() / "reference.safetensors").string());
  return tensors.at(name);
}

std::string weights(const std::string& file = "vgg11.safetensors") { return (reference() / file).string(); }

std::shared_ptr<piade::Loss> make(const std::map<std::string, std::string>& values,
                                  piade::ImageShape image = {3, 32, 32}) {
  piade::ComponentContext ctx;
  ctx.image = image;
  auto loss = piade::test::build_component<piade::Loss>("perceptual", values, ctx);
  loss->eval();  // the host's mode for scores with maps; training mode leaves the map out
  return loss;
}

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double diff = piade::test::max_abs_diff(actual, expected);
  const double scale = expected.abs().max().item<double>();
  std::cout << "[ max abs diff ] " << what << ": " << diff << " (max |reference| " << scale << ")\n";
  EXPECT_LE(diff, kTolerance * std::max(1.0, scale)) << what;
}

TEST(PerceptualLoss, MatchesTorchvisionVgg11) {
  auto loss = make({{"weights", weights()}});
  torch::NoGradGuard no_grad;
  piade::LossTerm term = loss->forward(ref("x_rgb"), ref("y_rgb"));
  expect_close(term.per_image, ref("per_image_rgb"), "perceptual per_image rgb 32x32");
  expect_close(term.map, ref("map_rgb"), "perceptual map rgb 32x32");
}

TEST(PerceptualLoss, RepeatsGrayImagesAndUpsamplesTheMapToOddSizes) {
  auto loss = make({{"weights", weights()}}, {1, 27, 40});
  torch::NoGradGuard no_grad;
  piade::LossTerm term = loss->forward(ref("x_gray"), ref("y_gray"));
  EXPECT_EQ(term.map.sizes(), torch::IntArrayRef({3, 27, 40}));
  expect_close(term.per_image, ref("per_image_gray"), "perceptual per_image gray 27x40");
  expect_close(term.map, ref("map_gray"), "perceptual map gray 27x40");
}

TEST(PerceptualLoss, PlainDictPthGivesTheSameLoss) {
  auto a = make({{"weights", weights()}});
  auto b = make({{"weights", weights("vgg11_dict.pth")}});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(a->forward(ref("x_rgb"), ref("y_rgb")).per_image,
                           b->forward(ref("x_rgb"), ref("y_rgb")).per_image));
}

TEST(PerceptualLoss, TorchvisionOrderedDictPthGivesTheSameLoss) {
  // torch.save(model.state_dict()), as torchvision's vgg11-8a719046.pth is.
  auto a = make({{"weights", weights()}});
  auto b = make({{"weights", weights("vgg11_ordered.pth")}});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(a->forward(ref("x_rgb"), ref("y_rgb")).per_image,
                           b->forward(ref("x_rgb"), ref("y_rgb")).per_image));
}

TEST(PerceptualLoss, WeightsChangeTheLoss) {
  auto loaded = make({{"weights", weights()}});
  auto random = make({});
  torch::NoGradGuard no_grad;
  torch::Tensor a = loaded->forward(ref("x_rgb"), ref("y_rgb")).per_image;
  torch::Tensor b = random->forward(ref("x_rgb"), ref("y_rgb")).per_image;
  EXPECT_GT(piade::test::max_abs_diff(a, b), 1e-3 * a.abs().max().item<double>());
}

TEST(PerceptualLoss, MissingLayerInTheFileIsNamed) {
  auto tensors = piade::load_tensors(weights());
  tensors.erase("features.3.weight");
  auto dir = piade::test::scratch_dir("perceptual-bad-weights");
  piade::test::write_safetensors(dir / "partial.safetensors", tensors);
  try {
    make({{"weights", (dir / "partial.safetensors").string()}});
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("loss/perceptual: weights '" + (dir / "partial.safetensors").string() +
                                    "': missing 'features.3.weight'"));
  }
}

TEST(PerceptualLoss, ZeroForIdenticalImagesPositiveOtherwise) {
  auto loss = make({});
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::rand({2, 3, 32, 32}) * 2 - 1;
  piade::LossTerm same = loss->forward(x, x.clone());
  EXPECT_EQ(same.per_image.sizes(), torch::IntArrayRef({2}));
  EXPECT_EQ(same.map.sizes(), torch::IntArrayRef({2, 32, 32}));
  EXPECT_EQ(same.per_image.abs().max().item<float>(), 0.f);
  EXPECT_EQ(same.map.abs().max().item<float>(), 0.f);
  torch::Tensor y = x.clone();
  y[1] = y[1] * 0.5;  // only the second image differs
  piade::LossTerm differ = loss->forward(x, y);
  EXPECT_EQ(differ.per_image[0].item<float>(), 0.f);
  EXPECT_GT(differ.per_image[1].item<float>(), 0.f);
  EXPECT_GE(differ.map.min().item<float>(), 0.f);
}

TEST(PerceptualLoss, VggIsFrozenButGradientsReachTheReconstruction) {
  auto loss = make({{"weights", weights()}});
  for (const auto& p : loss->parameters()) EXPECT_FALSE(p.requires_grad());
  torch::Tensor x = ref("x_rgb");
  torch::Tensor y = ref("y_rgb").clone().requires_grad_(true);
  loss->forward(x, y).per_image.sum().backward();
  ASSERT_TRUE(y.grad().defined());
  EXPECT_GT(y.grad().abs().sum().item<double>(), 0);
  for (const auto& p : loss->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(PerceptualLoss, TrainAndEvalAgree) {
  auto loss = make({{"weights", weights()}});
  torch::NoGradGuard no_grad;
  loss->train();
  torch::Tensor a = loss->forward(ref("x_rgb"), ref("y_rgb")).per_image;
  loss->eval();
  piade::LossTerm b = loss->forward(ref("x_rgb"), ref("y_rgb"));
  EXPECT_TRUE(torch::equal(a, b.per_image));
  EXPECT_TRUE(b.map.defined());
}

TEST(PerceptualLoss, TrainingLeavesOutTheMapAndItsGradientIsTwiceTheScaledDifference) {
  auto loss = make({{"weights", weights()}});
  loss->train();
  torch::Tensor y = ref("y_rgb").clone().requires_grad_(true);
  piade::LossTerm term = loss->forward(ref("x_rgb"), y);
  EXPECT_FALSE(term.map.defined());
  // The same gradient as ATen's mean of squares over the same features.
  torch::Tensor grad = torch::autograd::grad({term.per_image.sum()}, {y})[0];
  const auto& features = loss->named_modules()["features"]->as<torch::nn::Sequential>();
  auto side = [&](const torch::Tensor& images) {
    const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
    const torch::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
    return features->forward(((images + 1) * 0.5 - mean) / std);
  };
  torch::Tensor y_ref = ref("y_rgb").clone().requires_grad_(true);
  const torch::Tensor expected_loss = (side(y_ref) - side(ref("x_rgb"))).square().mean({1, 2, 3});
  const torch::Tensor expected = torch::autograd::grad({expected_loss.sum()}, {y_ref})[0];
  EXPECT_LT((grad - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>());
  EXPECT_LT((term.per_image - expected_loss).abs().max().item<double>(), 1e-4 * expected_loss.max().item<double>());
}

// Every (normalization, pixel_range) the plugin accepts, through the fused
// conv_relu_pool kernel (forward and backward) in training and eval mode,
// against plain ATen on the VGG's own layers fed what the setting says:
// imagenet ((x+1)/2 - mean) / std, raw [0,1] (x+1)/2 (the authors'
// vgg_percep_loss.py), raw [-1,1] x.
TEST(PerceptualLoss, EveryInputMappingMatchesPlainAten) {
  const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  struct Setting {
    std::map<std::string, std::string> params;
    std::function<torch::Tensor(const torch::Tensor&)> input;
  };
  const std::vector<Setting> settings = {
      {{}, [&](const torch::Tensor& x) { return ((x + 1) * 0.5 - mean) / std; }},
      {{{"normalization", "raw"}, {"pixel_range", "[0,1]"}}, [](const torch::Tensor& x) { return (x + 1) * 0.5; }},
      {{{"normalization", "raw"}}, [](const torch::Tensor& x) { return x; }},
  };
  std::vector<double> values;
  for (const Setting& setting : settings) {
    std::map<std::string, std::string> params = setting.params;
    params["weights"] = weights();
    auto loss = make(params);
    const auto& features = loss->named_modules()["features"]->as<torch::nn::Sequential>();
    auto side = [&](const torch::Tensor& images) { return features->forward(setting.input(images)); };
    for (bool training : {true, false}) {
      training ? loss->train() : loss->eval();
      torch::Tensor y = ref("y_rgb").clone().requires_grad_(true);
      const piade::LossTerm term = loss->forward(ref("x_rgb"), y);
      const torch::Tensor grad = torch::autograd::grad({term.per_image.sum()}, {y})[0];
      torch::Tensor y_ref = ref("y_rgb").clone().requires_grad_(true);
      const torch::Tensor expected_loss = (side(y_ref) - side(ref("x_rgb"))).square().mean({1, 2, 3});
      const torch::Tensor expected = torch::autograd::grad({expected_loss.sum()}, {y_ref})[0];
      const std::string what = ::testing::PrintToString(setting.params) + (training ? " train" : " eval");
      EXPECT_LT((term.per_image - expected_loss).abs().max().item<double>(),
                1e-4 * expected_loss.max().item<double>())
          << what;
      EXPECT_LT((grad - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>()) << what;
      if (!training) values.push_back(term.per_image.sum().item<double>());
    }
  }
  // The three settings are three different terms.
  EXPECT_GT(std::abs(values[0] - values[1]), 1e-3 * values[0]);
  EXPECT_GT(std::abs(values[1] - values[2]), 1e-3 * values[1]);
}

// ImageNet standardisation is an affine map of the [0,1] pixels, so raw
// [0,1] input through a first convolution with weight w/std and bias
// b - sum(w mean/std) is the imagenet term, to rounding, away from the
// border: there the convolutions' zero padding is 0 in one space and -mean/std
// in the other. The map 6 pixels in from the edge of 32x32 images reads only
// features whose windows stay inside the image.
TEST(PerceptualLoss, ImagenetIsRawThroughTheAffineMapFoldedIntoTheFirstConvolution) {
  auto imagenet = make({{"weights", weights()}});
  auto raw = make({{"weights", weights()}, {"normalization", "raw"}, {"pixel_range", "[0,1]"}});
  const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  torch::NoGradGuard no_grad;
  const torch::Tensor x = ref("x_rgb"), y = ref("y_rgb");
  const double unfolded = raw->forward(x, y).per_image.sum().item<double>();
  auto parameters = raw->named_parameters();
  torch::Tensor weight = parameters["features.0.weight"], bias = parameters["features.0.bias"];
  const torch::Tensor folded_weight = weight / std;  // [64,3,3,3] / [1,3,1,1]
  bias.sub_((weight * (mean / std)).sum({1, 2, 3}));
  weight.copy_(folded_weight);
  const piade::LossTerm a = imagenet->forward(x, y), b = raw->forward(x, y);
  ASSERT_EQ(a.map.sizes(), torch::IntArrayRef({x.size(0), 32, 32}));
  const torch::Tensor inner_a = a.map.slice(1, 6, 26).slice(2, 6, 26), inner_b = b.map.slice(1, 6, 26).slice(2, 6, 26);
  EXPECT_LT((inner_a - inner_b).abs().max().item<double>(), 1e-4 * inner_a.max().item<double>());
  // At the border they differ: the padding is not folded.
  EXPECT_GT((a.map - b.map).abs().max().item<double>(), 1e-2 * a.map.max().item<double>());
  // Unfolded, raw [0,1] is a much smaller term: ImageNet's std (~0.226)
  // scales the first layer's input by ~4.4, its square by ~19 (24 here).
  const double ratio = a.per_image.sum().item<double>() / unfolded;
  std::cout << "[ imagenet / raw [0,1] ] " << ratio << "\n";
  EXPECT_GT(ratio, 2.0);
}

TEST(PerceptualLoss, PixelRangeNeedsRawNormalization) {
  try {
    make({{"pixel_range", "[0,1]"}});
    ADD_FAILURE() << "pixel_range=[0,1] with imagenet normalization was accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("pixel_range=[0,1] applies only with normalization=raw"));
    EXPECT_THAT(std::string(e.what()), ::testing::Not(HasSubstr("\n")));
  }
  try {
    make({{"normalization", "none"}});
    ADD_FAILURE() << "normalization=none was accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("normalization"));
    EXPECT_THAT(e.what(), HasSubstr("imagenet, raw"));
  }
}

TEST(PerceptualLoss, RejectsShapesItCannotUse) {
  EXPECT_THROW(make({}, {4, 32, 32}), std::exception);
  EXPECT_THROW(make({}, {3, 1, 32}), std::exception);
  auto loss = make({});
  EXPECT_THROW(loss->forward(torch::zeros({1, 3, 8, 8}), torch::zeros({1, 3, 8, 9})), std::exception);
}

TEST(PerceptualLoss, WarnsOnceWithoutWeights) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        testing::internal::CaptureStderr();
        make({});
        make({});
        std::string err = testing::internal::GetCapturedStderr();
        int count = 0;
        for (std::size_t at = err.find("no pretrained weights"); at != std::string::npos;
             at = err.find("no pretrained weights", at + 1))
          ++count;
        bool advice = err.find("ImageNet VGG11") != std::string::npos &&
                      err.find("--set loss.perceptual.weights=PATH") != std::string::npos;
        std::exit(advice ? count : 100);
      },
      ::testing::ExitedWithCode(1), "");
}

}  // namespace
