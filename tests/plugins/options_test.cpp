// Every built-in component's parameters come from its Options struct
// (plugins/<kind>/<name>/<name>.h): the schema the host reads from the
// loaded .so is the table derived from those Options, its defaults parse
// back to a default-constructed Options field by field, and pretty_print()
// has the one format of options.h, listing only options that differ.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/plugin.h"
#include "plugins/backbone/resnet/resnet.h"
#include "plugins/decoder/transposed/transposed.h"
#include "plugins/loss/mse/mse.h"
#include "plugins/loss/perceptual/perceptual.h"
#include "plugins/loss/ssim/ssim.h"
#include "plugins/pooling/pyramid/pyramid.h"
#include "plugins/routing/dynamic/dynamic.h"

#include "tests/support/builtin_plugins.h"

namespace piade {
namespace {

const ComponentInfo& info(Kind kind, const std::string& name) { return test::builtin_plugins().get(kind, name); }

/// The schema the host read from the plugin equals the table derived from
/// Options (for a loss, followed by the `weight` the host adds), and its
/// defaults parse back to Options().
template <class Options>
void expect_schema_from(Kind kind, const std::string& name, const std::string& version) {
  SCOPED_TRACE(name);
  const ComponentInfo& component = info(kind, name);
  EXPECT_EQ(component.plugin->version, version);
  const auto& specs = param_table<Options>().specs();
  std::vector<ParamInfo> expected;
  for (const PiadeParamSpec& spec : specs) expected.push_back(read_param_spec(spec));
  const std::size_t host_added = kind == Kind::loss ? 1 : 0;
  ASSERT_EQ(component.params.size(), expected.size() + host_added);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const ParamInfo& got = component.params[i];
    EXPECT_EQ(got.name, expected[i].name);
    EXPECT_EQ(got.type, expected[i].type) << got.name;
    EXPECT_EQ(got.doc, expected[i].doc) << got.name;
    EXPECT_EQ(got.default_value, expected[i].default_value) << got.name;
    EXPECT_EQ(got.min, expected[i].min) << got.name;
    EXPECT_EQ(got.max, expected[i].max) << got.name;
    EXPECT_EQ(got.choices, expected[i].choices) << got.name;
  }
  if (host_added) {
    EXPECT_EQ(component.params.back().name, "weight");
  }

  // The defaults as the host resolves them, read into Options: equal to a
  // default-constructed Options, field by field.
  const ParamSet defaults = resolve_params(component.id(), component.params, {});
  const Options parsed = parse<Options>(defaults);
  EXPECT_EQ(differing_options(parsed, Options()), std::vector<std::string>{});
}

TEST(PluginOptionsTest, SchemasAreDerivedFromTheOptionsAndTheirDefaultsParseBack) {
  expect_schema_from<resnet::ResNetOptions>(Kind::backbone, "resnet18", "1.1.0");
  expect_schema_from<resnet::SeResNetOptions>(Kind::backbone, "se_resnet18", "1.1.0");
  expect_schema_from<resnet::ResNetOptions>(Kind::backbone, "resnet50", "1.1.0");
  expect_schema_from<resnet::SeResNetOptions>(Kind::backbone, "se_resnet50", "1.1.0");
  expect_schema_from<pyramid::PyramidOptions>(Kind::pooling, "pyramid", "1.0.0");
  expect_schema_from<dynamic::DynamicRoutingOptions>(Kind::routing, "dynamic", "1.1.0");
  expect_schema_from<transposed::TransposedDecoderOptions>(Kind::decoder, "transposed", "1.0.0");
  expect_schema_from<mse::MseLossOptions>(Kind::loss, "mse", "1.1.0");
  expect_schema_from<ssim::SsimLossOptions>(Kind::loss, "ssim", "1.1.0");
  expect_schema_from<perceptual::PerceptualLossOptions>(Kind::loss, "perceptual", "1.1.0");
}

// The schemas users see, unchanged by the move to Options: names, defaults
// as text, and ranges.
TEST(PluginOptionsTest, DefaultTextsAreTheOnesUsersKnow) {
  auto defaults = [](Kind kind, const std::string& name) {
    std::string out;
    for (const ParamInfo& p : info(kind, name).params) out += p.name + "=" + p.default_value.value_or("?") + " ";
    return out;
  };
  EXPECT_EQ(defaults(Kind::backbone, "resnet18"), "weights= normalize=true stem=imagenet ");
  EXPECT_EQ(defaults(Kind::backbone, "se_resnet18"), "weights= normalize=true stem=imagenet reduction=4 ");
  EXPECT_EQ(defaults(Kind::pooling, "pyramid"), "levels=8,4,2,1 channels=64 capsule_dim=8 ");
  EXPECT_EQ(defaults(Kind::routing, "dynamic"), "vectors=2 out_dim=64 iterations=3 a=1 train_vector=first stop_gradient=false ");
  EXPECT_EQ(defaults(Kind::decoder, "transposed"), "hidden=128,512 upsample_channels=512 channels=16,32,32 ");
  EXPECT_EQ(defaults(Kind::loss, "mse"), "pixel_range=[-1,1] weight=1 ");
  EXPECT_EQ(defaults(Kind::loss, "ssim"), "window=11 sigma=1.5 pixel_range=[0,1] weight=1 ");
  EXPECT_EQ(defaults(Kind::loss, "perceptual"), "weights= normalization=imagenet pixel_range=[-1,1] weight=1 ");
}

std::string printed(const torch::nn::Module& module) {
  std::ostringstream out;
  module.pretty_print(out);
  return out.str();
}

template <class Part>
std::string print_built(const std::string& name, const std::map<std::string, std::string>& params,
                        ComponentContext context) {
  return printed(*test::build_component<Part>(name, params, context));
}

ComponentContext shapes() {
  ComponentContext context;
  context.image = {3, 32, 32};
  context.features = FeatureShape{512, 1, 1};
  context.capsules = CapsuleShape{32, 8};
  context.vectors = VectorShape{2, 16};
  context.restoring = true;  // no pretrained weights to look for
  return context;
}

TEST(PluginOptionsTest, PrettyPrintShowsOnlyNonDefaultOptionsInOneFormat) {
  const ComponentContext c = shapes();
  EXPECT_EQ(print_built<Backbone>("resnet18", {}, c), "backbone/resnet18()");
  EXPECT_EQ(print_built<Backbone>("resnet18", {{"normalize", "false"}}, c),
            "backbone/resnet18(normalize=false)");
  EXPECT_EQ(print_built<Backbone>("se_resnet18", {}, c), "backbone/se_resnet18()");
  EXPECT_EQ(print_built<Backbone>("se_resnet18", {{"reduction", "8"}, {"normalize", "true"}}, c),
            "backbone/se_resnet18(reduction=8)");
  EXPECT_EQ(print_built<Backbone>("resnet50", {{"stem", "small"}}, c), "backbone/resnet50(stem=small)");
  EXPECT_EQ(print_built<Pooling>("pyramid", {}, c), "pooling/pyramid()");
  EXPECT_EQ(print_built<Pooling>("pyramid", {{"levels", "4,2"}, {"capsule_dim", "4"}}, c),
            "pooling/pyramid(levels=4,2, capsule_dim=4)");
  EXPECT_EQ(print_built<Routing>("dynamic", {}, c), "routing/dynamic()");
  EXPECT_EQ(print_built<Routing>("dynamic", {{"a", "0.5"}, {"iterations", "2"}}, c),
            "routing/dynamic(iterations=2, a=0.5)");
  EXPECT_EQ(print_built<Routing>("dynamic", {{"stop_gradient", "true"}, {"train_vector", "longest"}}, c),
            "routing/dynamic(train_vector=longest, stop_gradient=true)");
  EXPECT_EQ(print_built<Decoder>("transposed", {}, c), "decoder/transposed()");
  EXPECT_EQ(print_built<Decoder>("transposed", {{"hidden", "64"}}, c), "decoder/transposed(hidden=64)");
  EXPECT_EQ(print_built<Loss>("mse", {}, c), "loss/mse()");
  EXPECT_EQ(print_built<Loss>("mse", {{"weight", "2"}}, c), "loss/mse()");  // the host's, not an option
  EXPECT_EQ(print_built<Loss>("ssim", {}, c), "loss/ssim()");
  EXPECT_EQ(print_built<Loss>("ssim", {{"window", "7"}, {"sigma", "1.5"}}, c), "loss/ssim(window=7)");
  EXPECT_EQ(print_built<Loss>("perceptual", {}, c), "loss/perceptual()");
  EXPECT_EQ(print_built<Loss>("perceptual", {{"weights", "/no/such/vgg.pt"}}, c),
            "loss/perceptual(weights='/no/such/vgg.pt')");
  EXPECT_EQ(print_built<Loss>("perceptual", {{"normalization", "raw"}, {"pixel_range", "[0,1]"}}, c),
            "loss/perceptual(normalization=raw, pixel_range=[0,1])");
  EXPECT_EQ(print_built<Loss>("ssim", {{"pixel_range", "[-1,1]"}}, c), "loss/ssim(pixel_range=[-1,1])");
}

}  // namespace
}  // namespace piade
