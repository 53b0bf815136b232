// backbone/resnet18, se_resnet18, resnet50 and se_resnet50, loaded through
// the host's registry and compared with torchvision's ResNet18
// (make_reference.py) and ResNet50 (make_reference50.py); backbone.stem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <iostream>

#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/backbone.h"
#include "piade/sdk/weights.h"
#include "tests/sdk/weights/reference_data.h"

#include "tests/support/builtin_plugins.h"
#include "tests/support/scratch_dir.h"

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

// ---- backbone.stem

TEST(SmallStem, ThirtyTwoAndTwentyEightPixelsGiveAFourByFourMap) {
  // 3x3 stride-1 conv1 and no max-pool: only layer2..4 halve the size,
  // 32 -> 16 -> 8 -> 4 and 28 -> 14 -> 7 -> 4.
  for (const char* name : {"resnet18", "se_resnet18"}) {
    for (int64_t size : {32, 28}) {
      SCOPED_TRACE(std::string(name) + " " + std::to_string(size));
      auto bb = make(name, {{"stem", "small"}}, {1, size, size});
      bb->eval();
      torch::NoGradGuard no_grad;
      EXPECT_EQ(bb->output_shape({1, size, size}), (piade::FeatureShape{512, 4, 4}));
      EXPECT_EQ(bb->forward(torch::zeros({2, 1, size, size})).sizes(), torch::IntArrayRef({2, 512, 4, 4}));
    }
  }
  // The imagenet stem leaves 1x1 at the same sizes.
  EXPECT_EQ(make("resnet18", {}, {1, 32, 32})->output_shape({1, 32, 32}), (piade::FeatureShape{512, 1, 1}));
}

TEST(SmallStem, OutputShapeMatchesForwardForOtherSizes) {
  auto bb = make("resnet18", {{"stem", "small"}}, {3, 32, 32});
  bb->eval();
  torch::NoGradGuard no_grad;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{8, 8}, {17, 31}, {64, 64}, {33, 97}}) {
    piade::FeatureShape shape = bb->output_shape({3, h, w});
    EXPECT_EQ(bb->forward(torch::zeros({1, 3, h, w})).sizes(),
              torch::IntArrayRef({1, shape.channels, shape.height, shape.width}))
        << h << "x" << w;
  }
  EXPECT_EQ(bb->output_shape({3, 64, 64}), (piade::FeatureShape{512, 8, 8}));
}

TEST(SmallStem, ConvOneIsThreeByThreeAndThereIsNoMaxPool) {
  auto small = make("resnet18", {{"stem", "small"}});
  auto imagenet = make("resnet18", {{"stem", "imagenet"}});
  EXPECT_EQ(small->named_parameters()["conv1.weight"].sizes(), torch::IntArrayRef({64, 3, 3, 3}));
  EXPECT_EQ(imagenet->named_parameters()["conv1.weight"].sizes(), torch::IntArrayRef({64, 3, 7, 7}));
  EXPECT_EQ(small->named_children().contains("maxpool"), false);
  EXPECT_EQ(imagenet->named_children().contains("maxpool"), true);
  // Every other tensor keeps torchvision's name and shape.
  EXPECT_EQ(small->named_parameters().size(), imagenet->named_parameters().size());
}

TEST(SmallStem, ImageNetWeightsLoadAllButConvOneWithAWarning) {
  const std::string file = weights("resnet18_ordered.pth");
  testing::internal::CaptureStderr();
  auto bb = make("se_resnet18", {{"stem", "small"}, {"weights", file}});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, AllOf(HasSubstr("backbone/se_resnet18: backbone.stem=small has a 3x3 conv1, 'conv1.weight' in "
                                   "weights '" + file + "' is 7x7"),
                         HasSubstr("conv1 keeps its orthogonal init, every other tensor is loaded")));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;  // one line
  auto tensors = piade::load_tensors(file);
  auto params = bb->named_parameters();
  auto buffers = bb->named_buffers();
  EXPECT_TRUE(torch::equal(params["bn1.weight"], tensors.at("bn1.weight")));
  EXPECT_TRUE(torch::equal(params["layer4.1.conv2.weight"], tensors.at("layer4.1.conv2.weight")));
  EXPECT_TRUE(torch::equal(buffers["layer2.0.downsample.1.running_var"], tensors.at("layer2.0.downsample.1.running_var")));
  // conv1 [64,27] has orthonormal columns (64 > 27): its init, not a crop
  // of the file's.
  torch::Tensor w = params["conv1.weight"].reshape({64, -1});
  EXPECT_TRUE(torch::allclose(w.t().matmul(w), torch::eye(27), 1e-4, 1e-4));
}

TEST(SmallStem, ASmallStemStateDictLoadsWhole) {
  auto tensors = piade::load_tensors(weights());
  tensors["conv1.weight"] = torch::randn({64, 3, 3, 3});
  auto dir = piade::test::scratch_dir("resnet-small-stem");
  piade::test::write_safetensors(dir / "small.safetensors", tensors);
  auto bb = make("resnet18", {{"stem", "small"}, {"weights", (dir / "small.safetensors").string()}});
  EXPECT_TRUE(torch::equal(bb->named_parameters()["conv1.weight"], tensors.at("conv1.weight")));
  // ... and a conv1 of another shape is an error that names it.
  tensors["conv1.weight"] = torch::randn({64, 1, 3, 3});
  piade::test::write_safetensors(dir / "gray.safetensors", tensors);
  EXPECT_THAT(create_error("resnet18", {{"stem", "small"}, {"weights", (dir / "gray.safetensors").string()}}),
              HasSubstr("'conv1.weight' has shape [64,1,3,3] in the file, the model needs [64,3,3,3]"));
}

TEST(SmallStem, AnUnknownStemIsRefusedWithTheChoices) {
  EXPECT_THAT(create_error("resnet18", {{"stem", "cifar"}}), AllOf(HasSubstr("cifar"), HasSubstr("small")));
}

// ---- resnet50, se_resnet50 (make_reference50.py: torchvision's ResNet50)

fs::path reference50() { return piade::test::reference_dir("tests/plugins/backbone/resnet/make_reference50.py"); }

const std::map<std::string, torch::Tensor>& reference50_tensors() {
  static const auto tensors = piade::load_tensors((reference50() / "reference.safetensors").string());
  return tensors;
}
const torch::Tensor& ref50(const std::string& name) { return reference50_tensors().at(name); }

// torchvision's file format: torch.save(model.state_dict()), as
// resnet50-0676ba61.pth is.
std::string weights50() { return (reference50() / "resnet50.pth").string(); }

TEST(ResNet50, MatchesTorchvisionInEvalMode) {
  auto bb = make("resnet50", {{"weights", weights50()}});
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref50("x_rgb")), ref50("eval_rgb"), "resnet50 eval rgb 64x64");
}

TEST(ResNet50, MatchesTorchvisionInTrainMode) {
  auto bb = make("resnet50", {{"weights", weights50()}});
  bb->train();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref50("x_rgb")), ref50("train_rgb"), "resnet50 train rgb 64x64");
}

TEST(ResNet50, ParameterNamesAreTorchvisionsAndTheOutputHas2048Channels) {
  auto bb = make("resnet50", {{"weights", weights50()}});
  auto tensors = piade::load_tensors(weights50());
  std::size_t matched = 0;
  for (const auto& item : bb->named_parameters()) matched += tensors.count(item.key());
  for (const auto& item : bb->named_buffers()) matched += tensors.count(item.key());
  EXPECT_EQ(matched, tensors.size() - 2);  // torchvision's state dict less fc.weight and fc.bias
  EXPECT_EQ(bb->named_parameters().size(), 159u);
  EXPECT_EQ(bb->named_buffers()["layer3.5.bn3.num_batches_tracked"].item<int64_t>(), 7);
  EXPECT_EQ(bb->output_shape({3, 120, 120}), (piade::FeatureShape{2048, 4, 4}));
  EXPECT_EQ(bb->output_shape({3, 224, 224}), (piade::FeatureShape{2048, 7, 7}));
}

TEST(ResNet50, SmallStemGivesFourByFourAt32Pixels) {
  auto bb = make("resnet50", {{"stem", "small"}}, {3, 32, 32});
  bb->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(bb->output_shape({3, 32, 32}), (piade::FeatureShape{2048, 4, 4}));
  EXPECT_EQ(bb->forward(torch::zeros({1, 3, 32, 32})).sizes(), torch::IntArrayRef({1, 2048, 4, 4}));
}

TEST(ResNet50, ResNet18WeightsAreRefusedNamingATensor) {
  EXPECT_THAT(create_error("resnet50", {{"weights", weights()}}),
              AllOf(HasSubstr("backbone/resnet50: weights '" + weights() + "'"), HasSubstr("layer1.0.conv3.weight")));
}

TEST(SeResNet50, MatchesTheAuthorsSeResNet50WithTheSameWeights) {
  // The authors' SE-ResNet50 (capsmod.py): torchvision's resnet50 with an
  // SE block of reduction 16 after the stem and after each stage.
  auto bb = make("se_resnet50", {{"weights", weights50()}, {"reduction", "16"}});
  auto se = piade::load_tensors((reference50() / "se50.safetensors").string());
  piade::load_module_weights(*bb, [&] {
    auto all = piade::load_tensors(weights50());
    all.insert(se.begin(), se.end());
    for (const auto& item : bb->named_buffers())
      if (item.key().rfind("input_", 0) == 0) all[item.key()] = item.value();
    return all;
  }(), "test");
  bb->eval();
  torch::NoGradGuard no_grad;
  expect_close(bb->forward(ref50("x_rgb")), ref50("se_eval_rgb"), "se_resnet50 eval rgb 64x64");
}

TEST(SeResNet50, HasTheSeTensorsAndLoadsTorchvisionsForTheRest) {
  auto se = make("se_resnet50", {{"weights", weights50()}, {"reduction", "16"}});
  auto plain = make("resnet50", {{"weights", weights50()}});
  auto se_params = se->named_parameters();
  auto plain_params = plain->named_parameters();
  ASSERT_EQ(se_params.size(), plain_params.size() + 10);  // fc1, fc2 of se0..se4
  for (const auto& item : plain_params)
    EXPECT_TRUE(torch::equal(item.value(), se_params[item.key()])) << item.key();
  const std::array<int64_t, 5> widths = {64, 256, 512, 1024, 2048};
  for (int i = 0; i < 5; ++i) {
    const std::string name = "se" + std::to_string(i);
    EXPECT_EQ(se_params[name + ".fc1.weight"].sizes(), torch::IntArrayRef({widths[i] / 16, widths[i]}));
    EXPECT_EQ(se_params[name + ".fc2.weight"].sizes(), torch::IntArrayRef({widths[i], widths[i] / 16}));
  }
}

TEST(SeResNet50, ReductionSetsTheExcitationShapes) {
  auto r4 = make("se_resnet50", {});  // paper eq. 2's default
  auto r16 = make("se_resnet50", {{"reduction", "16"}});
  const std::array<int64_t, 5> widths = {64, 256, 512, 1024, 2048};
  for (int i = 0; i < 5; ++i) {
    const std::string se = "se" + std::to_string(i) + ".fc1.weight";
    EXPECT_EQ(r4->named_parameters()[se].sizes(), torch::IntArrayRef({widths[i] / 4, widths[i]}));
    EXPECT_EQ(r16->named_parameters()[se].sizes(), torch::IntArrayRef({widths[i] / 16, widths[i]}));
  }
}

// The 2048-channel map through the whole pipeline (pyramid's 1x1 convs, the
// decoder's skip of the backbone's features) with the `piade` executable:
// train and eval on two 32x32 RGB images, with the authors' reduction and
// the small stem (a 2048x4x4 map).
TEST(SeResNet50, TrainsAndEvaluatesEndToEndThroughTheCli) {
  const piade::test::ScratchDir scratch;
  const fs::path data = scratch / "data";
  for (const char* dir : {"train/good", "test/good", "test/bad"}) fs::create_directories(data / dir);
  for (int i = 0; i < 2; ++i) {
    cv::Mat image(32, 32, CV_8UC3);
    for (int r = 0; r < 32; ++r)
      for (int c = 0; c < 32; ++c) image.at<cv::Vec3b>(r, c) = cv::Vec3b(uint8_t(8 * r), uint8_t(8 * c + 40 * i), 90);
    cv::imwrite((data / "train/good" / ("n" + std::to_string(i) + ".png")).string(), image);
  }
  cv::imwrite((data / "test/good/g.png").string(), cv::Mat(32, 32, CV_8UC3, cv::Scalar(90, 60, 30)));
  cv::imwrite((data / "test/bad/b.png").string(), cv::Mat(32, 32, CV_8UC3, cv::Scalar(255, 255, 255)));
  const std::string run = (scratch / "run").string();
  const piade::test::CommandResult train = piade::test::run_piade_command(
      {"train", "--dataset", "folder", "--data-root", data.string(), "--image-size", "32", "--channels", "3",
       "--backbone", "se_resnet50", "--set", "backbone.stem=small", "--set", "backbone.reduction=16", "--loss",
       "mse", "--batch-size", "2", "--epochs", "1", "--val-fraction", "0", "--threads", "1", "--progress=false",
       "--out", run});
  ASSERT_EQ(train.status, 0) << train.output;
  // The pyramid's 8x8 level exceeds the 4x4 map: said once.
  EXPECT_THAT(train.output, HasSubstr("level 8 of levels=8,4,2,1 is larger than the 4x4 feature map"));
  const std::string config = piade::read_checkpoint_meta(fs::path(run) / "checkpoint.pt").at("config").dump();
  EXPECT_THAT(config, AllOf(HasSubstr("se_resnet50"), HasSubstr("small"))) << config;
  const piade::test::CommandResult eval = piade::test::run_piade_command(
      {"eval", "--checkpoint", run, "--pictures", "0", "--threads", "1", "--out", (scratch / "eval").string()});
  ASSERT_EQ(eval.status, 0) << eval.output;
  const auto metrics = nlohmann::json::parse(piade::test::read_text(scratch / "eval" / "metrics.json"));
  EXPECT_EQ(metrics.at("n_normal"), 1) << metrics;
  EXPECT_EQ(metrics.at("n_anomalous"), 1) << metrics;
}

}  // namespace
