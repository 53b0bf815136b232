// The plugins that docs/writing-plugins.md is made of (tests/docs compiles
// its snippets into PIADE_TEST_DOC_PLUGIN_DIR), loaded through the host's
// registry as `piade --plugin-dir` loads them, and held to what the page
// says about them: their parameters, the loss contract (per_image [N], map
// [N,H,W] whose spatial mean is per_image, maps in eval mode only),
// pretty_print, clone, and the constructor's refusal.
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/backbone.h"
#include "piade/sdk/loss.h"

namespace {

const piade::PluginRegistry& doc_plugins() {
  static const piade::PluginRegistry* registry = [] {
    auto* loaded = new piade::PluginRegistry();  // never unloaded, as in the host
    loaded->scan({PIADE_TEST_DOC_PLUGIN_DIR});
    return loaded;
  }();
  return *registry;
}

template <class Part>
std::shared_ptr<Part> build(const std::string& name, const std::map<std::string, std::string>& params,
                            piade::ImageShape image) {
  const piade::ComponentInfo& component = doc_plugins().get(Part::kind, name);
  piade::ComponentContext context;
  context.image = image;
  context.params = piade::resolve_params(component.id(), component.params, params);
  return doc_plugins().create_as<Part>(component, context);
}

std::string printed(const torch::nn::Module& module) {
  std::ostringstream out;
  module.pretty_print(out);
  return out.str();
}

std::vector<std::string> param_names(const piade::ComponentInfo& component) {
  std::vector<std::string> names;
  for (const piade::ParamInfo& p : component.params) names.push_back(p.name);
  return names;
}

// What section 1 of the page asks of every loss term.
void expect_loss_contract(piade::Loss& loss, const torch::Tensor& images,
                          const torch::Tensor& reconstructions) {
  const int64_t n = images.size(0);
  loss.eval();
  const piade::LossTerm term = loss.forward(images, reconstructions);
  ASSERT_EQ(term.per_image.sizes(), (std::vector<int64_t>{n}));
  ASSERT_TRUE(term.map.defined());
  ASSERT_EQ(term.map.sizes(), (std::vector<int64_t>{n, images.size(2), images.size(3)}));
  EXPECT_TRUE(torch::allclose(term.map.mean(/*dim=*/{1, 2}), term.per_image, 1e-5, 1e-7))
      << "map mean " << term.map.mean(/*dim=*/{1, 2}) << " per image " << term.per_image;
  EXPECT_TRUE((term.per_image > 0).all().item<bool>()) << "a worse reconstruction costs more";

  loss.train();
  const torch::Tensor y = reconstructions.clone().requires_grad_(true);
  const piade::LossTerm trained = loss.forward(images, y);
  ASSERT_EQ(trained.per_image.sizes(), (std::vector<int64_t>{n}));
  EXPECT_TRUE(torch::allclose(trained.per_image, term.per_image));
  trained.per_image.sum().backward();
  ASSERT_TRUE(y.grad().defined());
  EXPECT_TRUE(torch::isfinite(y.grad()).all().item<bool>());
  EXPECT_GT(y.grad().abs().sum().item<double>(), 0.0);
}

TEST(WritingPluginsDoc, EveryPluginOfThePageLoads) {
  for (const piade::RejectedPlugin& rejected : doc_plugins().rejected())
    ADD_FAILURE() << "rejected: " << rejected.reason;
  std::vector<std::string> loaded;
  for (const auto& plugin : doc_plugins().plugins())
    loaded.push_back(plugin->name + " " + plugin->version + " " + plugin->file.filename().string());
  EXPECT_EQ(loaded, (std::vector<std::string>{"gradient 1.0.0 loss_gradient.so",
                                              "sobel 1.0.0 loss_sobel.so"}));
}

TEST(WritingPluginsDoc, GradientLossHasTheParametersThePageShows) {
  const piade::ComponentInfo& gradient = doc_plugins().get(piade::Kind::loss, "gradient");
  EXPECT_EQ(gradient.doc, "difference of image gradients along x and y");
  EXPECT_EQ(gradient.plugin->description, "image-gradient difference loss term");
  // `weight` is the host's, added after the component's own.
  EXPECT_EQ(param_names(gradient), (std::vector<std::string>{"order", "step", "weight"}));
  EXPECT_EQ(gradient.params[0].choices, (std::vector<std::string>{"l1", "l2"}));
  EXPECT_EQ(gradient.params[0].default_value.value_or("?"), "l1");
  EXPECT_EQ(gradient.params[1].default_value.value_or("?"), "1");
  EXPECT_EQ(gradient.params[1].min.value_or(-1), 1);
  EXPECT_EQ(gradient.params[1].max.value_or(-1), 64);
}

TEST(WritingPluginsDoc, GradientLossKeepsTheLossContract) {
  torch::manual_seed(5);
  const torch::Tensor images = torch::rand({3, 3, 16, 12}) * 2 - 1;
  const torch::Tensor reconstructions = (images + 0.3 * torch::randn_like(images)).clamp(-1, 1);
  for (const auto& params : std::vector<std::map<std::string, std::string>>{
           {}, {{"order", "l2"}, {"step", "2"}}}) {
    SCOPED_TRACE(params.empty() ? "defaults" : "order=l2, step=2");
    auto loss = build<piade::Loss>("gradient", params, {3, 16, 12});
    expect_loss_contract(*loss, images, reconstructions);
  }
  // Identical images cost nothing.
  auto loss = build<piade::Loss>("gradient", {}, {3, 16, 12});
  EXPECT_EQ(loss->forward(images, images).per_image.abs().max().item<double>(), 0.0);
}

TEST(WritingPluginsDoc, GradientLossPrintsOnlyWhatDiffersAndClones) {
  auto defaults = build<piade::Loss>("gradient", {}, {1, 8, 8});
  EXPECT_EQ(printed(*defaults), "loss/gradient()");
  auto changed = build<piade::Loss>("gradient", {{"order", "l2"}, {"step", "2"}}, {1, 8, 8});
  EXPECT_EQ(printed(*changed), "loss/gradient(order=l2, step=2)");
  std::shared_ptr<torch::nn::Module> copy = changed->clone();
  EXPECT_EQ(printed(*copy), "loss/gradient(order=l2, step=2)");
  EXPECT_TRUE(std::dynamic_pointer_cast<piade::Loss>(copy));
}

TEST(WritingPluginsDoc, GradientLossRefusesAStepAsThePageSays) {
  try {
    build<piade::Loss>("gradient", {{"step", "8"}}, {1, 8, 10});
    FAIL() << "a step of the image's side was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("loss/gradient (" PIADE_TEST_DOC_PLUGIN_DIR
                                         "/loss_gradient.so): failed to build: loss/gradient: "
                                         "step 8 is not smaller than the image side 8; give a "
                                         "smaller loss.gradient.step"),
              std::string::npos)
        << e.what();
  }
}

TEST(WritingPluginsDoc, SobelPluginHoldsALossAndABackbone) {
  const piade::ComponentInfo& loss_info = doc_plugins().get(piade::Kind::loss, "sobel");
  const piade::ComponentInfo& backbone_info = doc_plugins().get(piade::Kind::backbone, "sobel");
  EXPECT_EQ(loss_info.plugin, backbone_info.plugin);
  EXPECT_EQ(param_names(loss_info), (std::vector<std::string>{"weight"}));
  EXPECT_TRUE(backbone_info.params.empty());

  torch::manual_seed(6);
  const torch::Tensor images = torch::rand({2, 3, 10, 14}) * 2 - 1;
  auto backbone = build<piade::Backbone>("sobel", {}, {3, 10, 14});
  const piade::FeatureShape shape = backbone->output_shape({3, 10, 14});
  EXPECT_EQ(backbone->forward(images).sizes(),
            (std::vector<int64_t>{2, shape.channels, shape.height, shape.width}));
  EXPECT_EQ(printed(*backbone), "backbone/sobel()");
  EXPECT_TRUE(backbone->parameters().empty());

  auto loss = build<piade::Loss>("sobel", {}, {3, 10, 14});
  EXPECT_EQ(printed(*loss), "loss/sobel()");
  expect_loss_contract(*loss, images, (images + 0.3 * torch::randn_like(images)).clamp(-1, 1));
}

}  // namespace
