// loss/mse, loaded through the host's registry as the pipeline does, and
// checked against a hand computation and against torch's mse_loss.
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/loss.h"

#include "tests/support/builtin_plugins.h"

namespace {

std::shared_ptr<piade::Loss> make(piade::ImageShape image,
                                  const std::map<std::string, std::string>& params = {}) {
  piade::ComponentContext ctx;
  ctx.image = image;
  return piade::test::build_component<piade::Loss>("mse", params, ctx);
}

std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Two 1x2x1x2 images: differences (0.5, -1) in channel 0 and (0, 2) in
// channel 1. Per image: (0.25 + 1 + 0 + 4) / 4 = 1.3125. Per pixel, the
// mean over the two channels: (0.25 + 0) / 2 = 0.125 and (1 + 4) / 2 = 2.5.
TEST(MseLoss, MatchesAHandComputation) {
  const torch::Tensor images = torch::tensor({0.0f, 0.0f, 0.5f, -1.0f}).view({1, 2, 1, 2});
  const torch::Tensor reconstructions = torch::tensor({0.5f, -1.0f, 0.5f, 1.0f}).view({1, 2, 1, 2});
  auto loss = make({2, 1, 2});
  loss->eval();
  const piade::LossTerm term = loss->forward(images, reconstructions);
  ASSERT_EQ(term.per_image.sizes(), (std::vector<int64_t>{1}));
  EXPECT_NEAR(term.per_image.item<double>(), 1.3125, 1e-6);
  ASSERT_EQ(term.map.sizes(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_NEAR(term.map[0][0][0].item<double>(), 0.125, 1e-6);
  EXPECT_NEAR(term.map[0][0][1].item<double>(), 2.5, 1e-6);
}

TEST(MseLoss, MatchesTorchMseLossPerImageAndPerPixel) {
  torch::manual_seed(21);
  const torch::Tensor x = torch::rand({3, 3, 20, 12}) * 2 - 1;
  const torch::Tensor y = (x + 0.2 * torch::randn_like(x)).clamp(-1, 1);
  auto loss = make({3, 20, 12});
  loss->eval();
  const piade::LossTerm term = loss->forward(x, y);
  const torch::Tensor expected =
      torch::mse_loss(y, x, at::Reduction::None).mean(std::vector<int64_t>{1, 2, 3});
  EXPECT_TRUE(torch::allclose(term.per_image, expected, 1e-5, 1e-7)) << term.per_image << expected;
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_NEAR(term.per_image[i].item<double>(), torch::mse_loss(y[i], x[i]).item<double>(), 1e-6);
  EXPECT_TRUE(torch::allclose(term.map, torch::mse_loss(y, x, at::Reduction::None).mean(1), 1e-5, 1e-7));
  EXPECT_GT(term.per_image.min().item<double>(), 0.001);  // the images do differ
}

TEST(MseLoss, TrainingGivesTheSameValueWithoutAMap) {
  torch::manual_seed(22);
  const torch::Tensor x = torch::rand({2, 1, 8, 8}) * 2 - 1;
  const torch::Tensor y = torch::rand({2, 1, 8, 8}) * 2 - 1;
  auto loss = make({1, 8, 8});
  loss->train();
  const piade::LossTerm training = loss->forward(x, y);
  EXPECT_FALSE(training.map.defined());
  loss->eval();
  EXPECT_TRUE(torch::allclose(training.per_image, loss->forward(x, y).per_image));
}

TEST(MseLoss, IdenticalImagesGiveZeroAndGradientReachesTheReconstruction) {
  torch::manual_seed(23);
  const torch::Tensor x = torch::rand({2, 3, 6, 6}) * 2 - 1;
  auto loss = make({3, 6, 6});
  EXPECT_TRUE(loss->parameters().empty());  // nothing to train
  EXPECT_EQ(loss->forward(x, x.clone()).per_image.abs().max().item<double>(), 0.0);
  const torch::Tensor y = torch::zeros_like(x).requires_grad_(true);
  loss->forward(x, y).per_image.sum().backward();
  // d/dy of mean((y - x)^2) over 3*6*6 values is 2 (y - x) / 108.
  EXPECT_TRUE(torch::allclose(y.grad(), 2 * (y.detach() - x) / 108.0, 1e-5, 1e-7));
}

TEST(MseLoss, ShapeMismatchNamesTheComponent) {
  auto loss = make({1, 4, 4});
  const std::string message =
      error_of([&] { loss->forward(torch::zeros({1, 1, 4, 4}), torch::zeros({1, 1, 4, 5})); });
  EXPECT_NE(message.find("loss/mse: images [1, 1, 4, 4] and reconstructions [1, 1, 4, 5] differ in shape"),
            std::string::npos)
      << message;
}

TEST(MseLoss, HasThePixelRangeAndTheHostsWeightParameter) {
  const piade::ComponentInfo& info = piade::test::builtin_plugins().get(piade::Kind::loss, "mse");
  ASSERT_EQ(info.params.size(), 2u);
  EXPECT_EQ(info.params[0].name, "pixel_range");
  EXPECT_EQ(info.params[0].default_value, "[-1,1]");
  EXPECT_EQ(info.params[0].choices, (std::vector<std::string>{"[-1,1]", "[0,1]"}));
  EXPECT_EQ(info.params[1].name, "weight");
  EXPECT_EQ(info.params[1].default_value, "1");
  const std::string message = error_of([] { make({1, 4, 4}, {{"window", "3"}}); });
  EXPECT_NE(message.find("unknown parameter 'window'"), std::string::npos) << message;
}

// The authors' images are ToTensor() output in [0,1] (train.py): mapping
// both sides by (x+1)/2 halves every difference, so the term is exactly a
// quarter of the [-1,1] one, per image and per pixel, and so is its gradient.
TEST(MseLoss, ZeroToOneRangeIsExactlyAQuarter) {
  torch::manual_seed(24);
  const torch::Tensor x = torch::rand({3, 3, 10, 14}) * 2 - 1;
  const torch::Tensor y = (x + 0.3 * torch::randn_like(x)).clamp(-1, 1);
  auto as_fed = make({3, 10, 14});
  auto unit = make({3, 10, 14}, {{"pixel_range", "[0,1]"}});
  as_fed->eval();
  unit->eval();
  const piade::LossTerm a = as_fed->forward(x, y), b = unit->forward(x, y);
  EXPECT_TRUE(torch::equal(b.per_image, a.per_image / 4)) << b.per_image << a.per_image;
  EXPECT_TRUE(torch::equal(b.map, a.map / 4));
  // The same against torch's mse_loss on the mapped images, to rounding.
  const torch::Tensor expected =
      torch::mse_loss((y + 1) / 2, (x + 1) / 2, at::Reduction::None).mean(std::vector<int64_t>{1, 2, 3});
  EXPECT_TRUE(torch::allclose(b.per_image, expected, 1e-5, 1e-8));
  EXPECT_GT(a.per_image.min().item<double>(), 0.01);
  std::ostringstream printed;
  unit->pretty_print(printed);
  EXPECT_EQ(printed.str(), "loss/mse(pixel_range=[0,1])");
}

TEST(MseLoss, PixelRangeOutsideItsChoicesIsRefusedByName) {
  const std::string message = error_of([] { make({1, 4, 4}, {{"pixel_range", "[0,2]"}}); });
  EXPECT_NE(message.find("pixel_range"), std::string::npos) << message;
  EXPECT_NE(message.find("[0,2]"), std::string::npos) << message;
  EXPECT_NE(message.find("[-1,1], [0,1]"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace
