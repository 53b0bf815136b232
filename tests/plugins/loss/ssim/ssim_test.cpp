// loss/ssim, loaded through the host's registry as the pipeline does, and
// checked against the authors' pytorch_ssim formula (a direct 2-D gaussian
// convolution), once in Python and once written out here.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.h"
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
  return piade::test::build_component<piade::Loss>("ssim", params, ctx);
}

/// Two images in [-1,1] that are alike but not equal, like a reconstruction.
std::pair<torch::Tensor, torch::Tensor> pair(int64_t n, int64_t c, int64_t h, int64_t w) {
  torch::Tensor x = torch::rand({n, c, h, w}) * 2 - 1;
  torch::Tensor y = (x + 0.3 * torch::randn({n, c, h, w})).clamp(-1, 1);
  return {x, y};
}

/// pytorch_ssim's _ssim(size_average=False), written out: the 2-D window
/// is the outer product of the 1-D gaussian, one conv2d per statistic.
/// With `as_fed`, the images stay in [-1,1] and the constants are Wang et
/// al.'s (K L)^2 for data range L = 2 (pixel_range=[-1,1]).
std::pair<torch::Tensor, torch::Tensor> reference(const torch::Tensor& a, const torch::Tensor& b,
                                                  int64_t window = 11, double sigma = 1.5,
                                                  bool as_fed = false) {
  torch::Tensor img1 = (as_fed ? a : (a + 1) / 2).to(torch::kDouble);
  torch::Tensor img2 = (as_fed ? b : (b + 1) / 2).to(torch::kDouble);
  std::vector<double> gauss;
  for (int64_t x = 0; x < window; ++x)
    gauss.push_back(std::exp(-std::pow(x - window / 2, 2) / (2 * sigma * sigma)));
  torch::Tensor g = torch::tensor(gauss, torch::kDouble);
  g = g / g.sum();
  const int64_t channel = a.size(1);
  torch::Tensor win = g.unsqueeze(1).mm(g.unsqueeze(0)).expand({channel, 1, window, window});
  auto conv = [&](const torch::Tensor& t) {
    return torch::conv2d(t, win, {}, 1, window / 2, 1, channel);
  };
  torch::Tensor mu1 = conv(img1), mu2 = conv(img2);
  torch::Tensor sigma1_sq = conv(img1 * img1) - mu1.pow(2);
  torch::Tensor sigma2_sq = conv(img2 * img2) - mu2.pow(2);
  torch::Tensor sigma12 = conv(img1 * img2) - mu1 * mu2;
  const double L = as_fed ? 2 : 1;
  const double C1 = (0.01 * L) * (0.01 * L), C2 = (0.03 * L) * (0.03 * L);
  torch::Tensor map = ((2 * mu1 * mu2 + C1) * (2 * sigma12 + C2)) /
                      ((mu1.pow(2) + mu2.pow(2) + C1) * (sigma1_sq + sigma2_sq + C2));
  return {(1 - map.mean({1, 2, 3})).to(torch::kFloat), (1 - map.mean(1)).to(torch::kFloat)};
}

void write_floats(const std::filesystem::path& file, const torch::Tensor& t) {
  torch::Tensor c = t.contiguous().to(torch::kFloat);
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()),
            static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

torch::Tensor read_floats(const std::filesystem::path& file, std::vector<int64_t> shape) {
  torch::Tensor t = torch::empty(shape, torch::kFloat);
  std::ifstream in(file, std::ios::binary);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()),
          static_cast<std::streamsize>(t.numel() * sizeof(float)));
  EXPECT_TRUE(in.good()) << "short read of " << file;
  return t;
}

// The authors' pytorch_ssim (github.com/Po-Hsun-Su/pytorch-ssim), verbatim
// in what it computes, plus file input/output.
constexpr const char* kPytorchSsim = R"PY(
import struct, sys
from math import exp
import torch
import torch.nn.functional as F

def gaussian(window_size, sigma):
    gauss = torch.Tensor([exp(-(x - window_size//2)**2/float(2*sigma**2)) for x in range(window_size)])
    return gauss/gauss.sum()

def create_window(window_size, channel):
    _1D_window = gaussian(window_size, 1.5).unsqueeze(1)
    _2D_window = _1D_window.mm(_1D_window.t()).float().unsqueeze(0).unsqueeze(0)
    return _2D_window.expand(channel, 1, window_size, window_size).contiguous()

def _ssim(img1, img2, window, window_size, channel):
    mu1 = F.conv2d(img1, window, padding = window_size//2, groups = channel)
    mu2 = F.conv2d(img2, window, padding = window_size//2, groups = channel)
    mu1_sq = mu1.pow(2)
    mu2_sq = mu2.pow(2)
    mu1_mu2 = mu1*mu2
    sigma1_sq = F.conv2d(img1*img1, window, padding = window_size//2, groups = channel) - mu1_sq
    sigma2_sq = F.conv2d(img2*img2, window, padding = window_size//2, groups = channel) - mu2_sq
    sigma12 = F.conv2d(img1*img2, window, padding = window_size//2, groups = channel) - mu1_mu2
    C1 = 0.01**2
    C2 = 0.03**2
    return ((2*mu1_mu2 + C1)*(2*sigma12 + C2))/((mu1_sq + mu2_sq + C1)*(sigma1_sq + sigma2_sq + C2))

folder, n, c, h, w = sys.argv[1], *map(int, sys.argv[2:6])
count = n*c*h*w
x = torch.from_file(folder + "/x.bin", size=count, dtype=torch.float32).view(n, c, h, w)
y = torch.from_file(folder + "/y.bin", size=count, dtype=torch.float32).view(n, c, h, w)
ssim_map = _ssim((x + 1) / 2, (y + 1) / 2, create_window(11, c), 11, c)
per_image = 1 - ssim_map.mean(1).mean(1).mean(1)
pixel_map = 1 - ssim_map.mean(1)
for name, t in (("per_image.bin", per_image), ("map.bin", pixel_map)):
    values = t.flatten().tolist()
    with open(folder + "/" + name, "wb") as f:
        f.write(struct.pack("%df" % len(values), *values))
)PY";

TEST(SsimLoss, IdenticalImagesGiveZero) {
  torch::manual_seed(9);
  auto loss = make({3, 32, 32});
  torch::Tensor x = torch::rand({2, 3, 32, 32}) * 2 - 1;
  piade::LossTerm term = loss->forward(x, x);
  EXPECT_EQ(term.per_image.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(term.map.sizes(), (std::vector<int64_t>{2, 32, 32}));
  EXPECT_LT(term.per_image.abs().max().item<double>(), 1e-5);
  EXPECT_LT(term.map.abs().max().item<double>(), 1e-5);
}

TEST(SsimLoss, MatchesTheAuthorsPytorchSsimInPython) {
  torch::manual_seed(10);
  const std::filesystem::path folder =
      std::filesystem::path(PIADE_TEST_BINARY_DIR) / "tests" / "loss_ssim_reference";
  std::filesystem::create_directories(folder);
  for (auto [c, size] : {std::pair<int64_t, int64_t>{3, 120}, {1, 28}}) {
    auto [x, y] = pair(2, c, size, size);
    write_floats(folder / "x.bin", x);
    write_floats(folder / "y.bin", y);
    {
      std::ofstream script(folder / "pytorch_ssim.py");
      script << kPytorchSsim;
    }
    const piade::test::CommandResult reference = piade::test::run_reference_python(
        folder / "pytorch_ssim.py", {folder.string(), "2", std::to_string(c), std::to_string(size), std::to_string(size)});
    ASSERT_EQ(reference.status, 0) << reference.output;
    piade::LossTerm term = make({c, size, size})->forward(x, y);
    torch::Tensor per_image = read_floats(folder / "per_image.bin", {2});
    torch::Tensor map = read_floats(folder / "map.bin", {2, size, size});
    EXPECT_GT(per_image.min().item<double>(), 0.05);  // the images do differ
    EXPECT_TRUE(torch::allclose(term.per_image, per_image, 0, 1e-5))
        << term.per_image << per_image;
    EXPECT_LT((term.map - map).abs().max().item<double>(), 1e-5);
  }
}

TEST(SsimLoss, MatchesADirectTwoDimensionalWindow) {
  torch::manual_seed(11);
  for (auto [window, sigma] : {std::pair<int64_t, double>{11, 1.5}, {7, 2.5}, {1, 1.0}}) {
    auto [x, y] = pair(3, 3, 40, 24);
    piade::LossTerm term = make({3, 40, 24}, {{"window", std::to_string(window)},
                                              {"sigma", std::to_string(sigma)}})
                               ->forward(x, y);
    auto [per_image, map] = reference(x, y, window, sigma);
    EXPECT_LT((term.per_image - per_image).abs().max().item<double>(), 1e-5) << window;
    EXPECT_LT((term.map - map).abs().max().item<double>(), 1e-5) << window;
  }
}

TEST(SsimLoss, WindowAndSigmaChangeTheLoss) {
  torch::manual_seed(12);
  auto [x, y] = pair(2, 3, 32, 32);
  torch::Tensor base = make({3, 32, 32})->forward(x, y).per_image;
  torch::Tensor window = make({3, 32, 32}, {{"window", "5"}})->forward(x, y).per_image;
  torch::Tensor sigma = make({3, 32, 32}, {{"sigma", "3"}})->forward(x, y).per_image;
  EXPECT_GT((window - base).abs().max().item<double>(), 1e-3);
  EXPECT_GT((sigma - base).abs().max().item<double>(), 1e-3);
}

TEST(SsimLoss, WorseReconstructionScoresHigher) {
  torch::manual_seed(13);
  torch::Tensor x = torch::rand({1, 1, 64, 64}) * 2 - 1;
  torch::Tensor noise = torch::randn_like(x);
  auto loss = make({1, 64, 64});
  const double slight = loss->forward(x, (x + 0.05 * noise).clamp(-1, 1)).per_image.item<double>();
  const double strong = loss->forward(x, (x + 0.5 * noise).clamp(-1, 1)).per_image.item<double>();
  EXPECT_GT(slight, 0);
  EXPECT_GT(strong, slight);
  EXPECT_LT(strong, 2);
}

TEST(SsimLoss, GradientReachesTheReconstruction) {
  torch::manual_seed(14);
  auto loss = make({3, 28, 28});
  EXPECT_TRUE(loss->parameters().empty());  // nothing to train
  auto [x, y] = pair(2, 3, 28, 28);
  y.requires_grad_(true);
  loss->forward(x, y).per_image.sum().backward();
  ASSERT_TRUE(y.grad().defined());
  EXPECT_TRUE(y.grad().isfinite().all().item<bool>());
  EXPECT_GT(y.grad().abs().sum().item<double>(), 0);
}

// The default, [0,1], is what the term always computed and what the authors'
// pytorch_ssim computes on their ToTensor() images (checked against it in
// Python above); [-1,1] computes on the images as fed with the constants of
// data range 2. The luminance term is not shift invariant, so they differ.
TEST(SsimLoss, PixelRangeChoosesTheImagesAndTheConstants) {
  torch::manual_seed(15);
  auto [x, y] = pair(3, 3, 30, 22);
  const piade::ComponentInfo& info = piade::test::builtin_plugins().get(piade::Kind::loss, "ssim");
  ASSERT_EQ(info.params[2].name, "pixel_range");
  EXPECT_EQ(info.params[2].default_value, "[0,1]");
  const torch::Tensor by_default = make({3, 30, 22})->forward(x, y).per_image;
  const piade::LossTerm unit = make({3, 30, 22}, {{"pixel_range", "[0,1]"}})->forward(x, y);
  const piade::LossTerm as_fed = make({3, 30, 22}, {{"pixel_range", "[-1,1]"}})->forward(x, y);
  EXPECT_TRUE(torch::equal(unit.per_image, by_default));
  auto [unit_image, unit_map] = reference(x, y);
  EXPECT_LT((unit.per_image - unit_image).abs().max().item<double>(), 1e-5);
  auto [fed_image, fed_map] = reference(x, y, 11, 1.5, /*as_fed=*/true);
  EXPECT_LT((as_fed.per_image - fed_image).abs().max().item<double>(), 1e-5);
  EXPECT_LT((as_fed.map - fed_map).abs().max().item<double>(), 1e-5);
  EXPECT_GT((as_fed.per_image - unit.per_image).abs().min().item<double>(), 1e-4);
  try {
    make({3, 32, 32}, {{"pixel_range", "[0,2]"}});
    FAIL() << "pixel_range=[0,2] was accepted";
  } catch (const piade::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("pixel_range"), std::string::npos) << what;
    EXPECT_NE(what.find("[0,2]"), std::string::npos) << what;
  }
}

TEST(SsimLoss, BadParametersFailWithTheReason) {
  try {
    make({3, 32, 32}, {{"window", "4"}});
    FAIL() << "window=4 was accepted";
  } catch (const piade::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("failed to build"), std::string::npos) << what;
    EXPECT_NE(what.find("window=4"), std::string::npos) << what;
  }
  try {
    make({3, 32, 32}, {{"sigma", "0"}});
    FAIL() << "sigma=0 was accepted";
  } catch (const piade::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sigma=0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make({3, 32, 32})->forward(torch::zeros({1, 3, 32, 32}), torch::zeros({1, 3, 32, 16})),
               c10::Error);
}

}  // namespace
