// backbone/resnet18 and backbone/se_resnet18, loaded through the host's
// registry and compared with torchvision's ResNet18 (make_reference.py).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <iostream>

#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/backbone.h"
#include "piade/sdk/weights.h"
#include "tests/sdk/weights/reference_data.h"

#include "tests/support/builtin_plugins.h"

namespace {
namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Float32 through 20 layers; torchvision and LibTorch run the same kernels
// but may sum in another order.
constexpr double kTolerance = 1e-4;


fs::path reference() { return piade::test::reference_dir("tests/plugins/backbone/resnet/make_reference.py"); }

const std::map<std::string, torch::Tensor>& reference_tensors() {
  static const auto tensors = piade::load_tensors((reference() / "reference.safetensors").string());
  return tensors;
}
const torch::Tensor& ref(const std::string& name) { return reference_tensors().at(name); }

std::shared_ptr<piade::Backbone> make(const std::string& name, const std::map<std::string, std::string>& values,
                                      piade::ImageShape image = {3, 64, 64}) {
  piade::ComponentContext ctx;
  ctx.image = image;
  return piade::test::build_component<piade::Backbone>(name, values, ctx);
}

std::string weights(const std::string& file = "resnet18.safetensors") { return (reference() / file).string(); }

std::string create_error(const std::string& name, const std::map<std::string, std::string>& values) {
  try {
    make(name, values);
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double diff = piade::test::max_abs_diff(actual, expected);
  const double scale = expected.abs().max().item<double>();
  std::cout << "[ max abs diff ] " << what << ": " << diff << " (max |reference| " << scale << ")\n";
  EXPECT_LE(diff, kTolerance * std::max(1.0, scale)) << what;
}

TEST(ResNet18, MatchesTorchvisionInEvalMode) {
  auto bb = make("resnet18", {{"weights", weights()}});
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref("x_rgb")), ref("eval_rgb"), "resnet18 eval rgb 64x64");
}

TEST(ResNet18, MatchesTorchvisionInTrainMode) {
  auto bb = make("resnet18", {{"weights", weights()}});
  bb->train();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref("x_rgb")), ref("train_rgb"), "resnet18 train rgb 64x64");
}

TEST(ResNet18, RepeatsGrayImagesToThreeChannels) {
  auto bb = make("resnet18", {{"weights", weights()}}, {1, 40, 52});
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref("x_gray")), ref("eval_gray"), "resnet18 eval gray 40x52");
}

TEST(ResNet18, NormalizeFalsePassesImagesAsTheyAre) {
  auto plain = make("resnet18", {{"weights", weights()}, {"normalize", "false"}});
  auto normalized = make("resnet18", {{"weights", weights()}});
  plain->eval();
  normalized->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor out = plain->forward(ref("x_rgb"));
  expect_close(out, ref("eval_rgb_unnormalized"), "resnet18 eval normalize=false");
  EXPECT_GT(piade::test::max_abs_diff(out, normalized->forward(ref("x_rgb"))), 1e-2);
}

TEST(ResNet18, PlainDictPthLoadsTheSameWeights) {
  auto bb = make("resnet18", {{"weights", weights("resnet18_dict.pth")}});
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref("x_rgb")), ref("eval_rgb"), "resnet18 eval rgb from .pth");
  auto params = bb->named_buffers();
  EXPECT_EQ(params["layer3.1.bn2.num_batches_tracked"].item<int64_t>(), 11);
}

TEST(ResNet18, TorchvisionOrderedDictPthLoadsTheSameWeights) {
  // torch.save(model.state_dict()), as torchvision's resnet18-f37072fd.pth is.
  auto bb = make("resnet18", {{"weights", weights("resnet18_ordered.pth")}});
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref("x_rgb")), ref("eval_rgb"), "resnet18 eval rgb from torchvision's .pth");
  EXPECT_EQ(bb->named_buffers()["layer3.1.bn2.num_batches_tracked"].item<int64_t>(), 11);
}

TEST(ResNet18, WeightsChangeTheOutput) {
  auto random = make("resnet18", {});
  auto loaded = make("resnet18", {{"weights", weights()}});
  random->eval();
  loaded->eval();
  torch::NoGradGuard no_grad;
  EXPECT_GT(piade::test::max_abs_diff(random->forward(ref("x_rgb")), loaded->forward(ref("x_rgb"))), 1e-2);
}

TEST(ResNet18, MissingOrMisshapenWeightsAreNamed) {
  auto tensors = piade::load_tensors(weights());
  auto dir = piade::test::scratch_dir("resnet-bad-weights");
  auto missing = tensors;
  missing.erase("layer1.0.conv1.weight");
  piade::test::write_safetensors(dir / "missing.safetensors", missing);
  EXPECT_THAT(create_error("resnet18", {{"weights", (dir / "missing.safetensors").string()}}),
              HasSubstr("backbone/resnet18: weights '" + (dir / "missing.safetensors").string() +
                        "': missing 'layer1.0.conv1.weight'"));
  auto gray = tensors;
  gray["conv1.weight"] = gray["conv1.weight"].sum(1, /*keepdim=*/true);
  piade::test::write_safetensors(dir / "gray.safetensors", gray);
  EXPECT_THAT(create_error("resnet18", {{"weights", (dir / "gray.safetensors").string()}}),
              HasSubstr("'conv1.weight' has shape [64,1,7,7] in the file, the model needs [64,3,7,7]"));
  piade::test::write_bytes(dir / "short.safetensors", "abc");
  EXPECT_THAT(create_error("se_resnet18", {{"weights", (dir / "short.safetensors").string()}}),
              HasSubstr("backbone/se_resnet18: weights '" + (dir / "short.safetensors").string() +
                        "': truncated safetensors file: 3 bytes"));
}

TEST(ResNet18, ParameterNamesAreTorchvisions) {
  auto bb = make("resnet18", {});
  auto tensors = piade::load_tensors(weights());
  std::size_t matched = 0;
  for (const auto& item : bb->named_parameters()) matched += tensors.count(item.key());
  for (const auto& item : bb->named_buffers()) matched += tensors.count(item.key());
  // torchvision's state dict less fc.weight and fc.bias.
  EXPECT_EQ(matched, tensors.size() - 2);
  EXPECT_EQ(bb->named_parameters().size(), 60u);
}

TEST(ResNet18, OutputShapeIsExactForEverySize) {
  const std::map<int64_t, int64_t> known = {{28, 1}, {64, 2}, {120, 4}, {224, 7}};
  for (int64_t channels : {1, 3}) {
    auto bb = make("resnet18", {}, {channels, 32, 32});
    bb->eval();
    torch::NoGradGuard no_grad;
    for (int64_t size : {28, 32, 64, 120, 128, 224}) {
      SCOPED_TRACE("size " + std::to_string(size) + ", channels " + std::to_string(channels));
      piade::FeatureShape shape = bb->output_shape({channels, size, size});
      torch::Tensor out = bb->forward(torch::zeros({1, channels, size, size}));
      EXPECT_EQ(out.sizes(), torch::IntArrayRef({1, shape.channels, shape.height, shape.width}));
      if (known.count(size)) {
        EXPECT_EQ(shape, (piade::FeatureShape{512, known.at(size), known.at(size)}));
      }
    }
    piade::FeatureShape odd = bb->output_shape({channels, 33, 97});
    EXPECT_EQ(bb->forward(torch::zeros({1, channels, 33, 97})).sizes(),
              torch::IntArrayRef({1, 512, odd.height, odd.width}));
  }
}

TEST(ResNet18, RejectsOtherChannelCounts) {
  const piade::ComponentInfo& c = piade::test::builtin_plugins().get(piade::Kind::backbone, "resnet18");
  piade::ComponentContext ctx;
  ctx.params = piade::resolve_params(c.id(), c.params, {});
  ctx.image = {4, 64, 64};
  EXPECT_THROW(
      {
        try {
          piade::test::builtin_plugins().create_as<piade::Backbone>(c, ctx);
        } catch (const std::exception& e) {
          EXPECT_THAT(e.what(), HasSubstr("images have 4 channels, it takes 1 (repeated to 3) or 3"));
          throw;
        }
      },
      std::exception);
}

TEST(ResNet18, WarnsOnceWithoutWeights) {
  // A fresh process (warn_once remembers what it said): the child's exit
  // code is the number of warnings seen.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        testing::internal::CaptureStderr();
        make("resnet18", {});
        make("resnet18", {});
        make("resnet18", {{"weights", weights()}});
        std::string err = testing::internal::GetCapturedStderr();
        int count = 0;
        for (std::size_t at = err.find("no pretrained weights"); at != std::string::npos;
             at = err.find("no pretrained weights", at + 1))
          ++count;
        bool advice = err.find("ImageNet ResNet18") != std::string::npos &&
                      err.find("--set backbone.weights=PATH") != std::string::npos;
        std::exit(advice ? count : 100);
      },
      ::testing::ExitedWithCode(1), "");
}

// ---- se_resnet18

TEST(SeResNet18, MatchesAPythonSeResNetWithTheSameWeights) {
  auto bb = make("se_resnet18", {{"weights", weights()}});
  auto se = piade::load_tensors((reference() / "se.safetensors").string());
  // SE weights are not in ImageNet files: set them here as the test's own.
  piade::load_module_weights(*bb, [&] {
    auto all = piade::load_tensors(weights());
    all.insert(se.begin(), se.end());
    for (const auto& item : bb->named_buffers())
      if (item.key().rfind("input_", 0) == 0) all[item.key()] = item.value();
    return all;
  }(), "test");
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref("x_rgb")), ref("se_eval_rgb"), "se_resnet18 eval rgb 64x64");
}

TEST(SeResNet18, ImageNetWeightsLoadAndSeBlocksKeepOrthogonalInit) {
  auto bb = make("se_resnet18", {{"weights", weights()}});
  auto tensors = piade::load_tensors(weights());
  auto params = bb->named_parameters();
  EXPECT_TRUE(torch::equal(params["layer2.0.downsample.0.weight"], tensors.at("layer2.0.downsample.0.weight")));
  EXPECT_TRUE(torch::equal(params["conv1.weight"], tensors.at("conv1.weight")));
  for (int i = 0; i < 5; ++i) {
    // fc1 is C/4 x C with orthonormal rows: W W^T = I.
    torch::Tensor w = params["se" + std::to_string(i) + ".fc1.weight"];
    EXPECT_TRUE(torch::allclose(w.matmul(w.t()), torch::eye(w.size(0)), 1e-4, 1e-4)) << i;
  }
}

TEST(SeResNet18, ReductionSetsTheExcitationShapes) {
  auto r4 = make("se_resnet18", {});
  auto r8 = make("se_resnet18", {{"reduction", "8"}});
  const std::array<int64_t, 5> widths = {64, 64, 128, 256, 512};
  for (int i = 0; i < 5; ++i) {
    const std::string se = "se" + std::to_string(i);
    EXPECT_EQ(r4->named_parameters()[se + ".fc1.weight"].sizes(), torch::IntArrayRef({widths[i] / 4, widths[i]}));
    EXPECT_EQ(r4->named_parameters()[se + ".fc2.weight"].sizes(), torch::IntArrayRef({widths[i], widths[i] / 4}));
    EXPECT_EQ(r8->named_parameters()[se + ".fc1.weight"].sizes(), torch::IntArrayRef({widths[i] / 8, widths[i]}));
  }
  EXPECT_EQ(r4->named_parameters().size(), 70u);  // resnet18's 60 + 2 per SE block
  // ... and the output changes with it, for the same torchvision weights.
  auto a = make("se_resnet18", {{"weights", weights()}});
  auto b = make("se_resnet18", {{"weights", weights()}, {"reduction", "16"}});
  a->eval();
  b->eval();
  torch::NoGradGuard no_grad;
  EXPECT_GT(piade::test::max_abs_diff(a->forward(ref("x_rgb")), b->forward(ref("x_rgb"))), 1e-3);
}

TEST(SeResNet18, SeBlocksChangeTheOutput) {
  auto plain = make("resnet18", {{"weights", weights()}});
  auto se = make("se_resnet18", {{"weights", weights()}});
  plain->eval();
  se->eval();
  torch::NoGradGuard no_grad;
  EXPECT_GT(piade::test::max_abs_diff(plain->forward(ref("x_rgb")), se->forward(ref("x_rgb"))), 1e-2);
}

TEST(SeResNet18, GradientsReachEveryParameter) {
  auto bb = make("se_resnet18", {{"weights", weights()}}, {1, 64, 64});
  bb->train();
  torch::Tensor images = torch::rand({2, 1, 64, 64}) * 2 - 1;
  bb->forward(images).square().mean().backward();
  for (const auto& item : bb->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0) << item.key();
  }
}

TEST(SeResNet18, OutputShapeMatchesForward) {
  auto bb = make("se_resnet18", {}, {3, 120, 120});
  bb->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(bb->output_shape({3, 120, 120}), (piade::FeatureShape{512, 4, 4}));
  EXPECT_EQ(bb->forward(torch::zeros({1, 3, 120, 120})).sizes(), torch::IntArrayRef({1, 512, 4, 4}));
}

TEST(SeResNet18, CloneKeepsWeightsAndStructure) {
  auto bb = make("se_resnet18", {{"weights", weights()}, {"reduction", "8"}});
  auto copy = bb->clone();
  auto a = bb->named_parameters();
  auto b = copy->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
}

}  // namespace
