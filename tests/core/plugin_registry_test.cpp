// PluginRegistry against the fixture plugins (tests/core/fixtures): every
// defect a plugin file can have becomes exactly one line naming the file,
// what differs and how to fix it, and the host keeps running.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/error.h"
#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/plugin.h"
#include "piade/sdk/version.h"
#include "tests/support/fixture_plugins.h"

namespace piade {
namespace {

using test::fixture_dir;
using test::fixture_file;

const std::string kRebuild =
    std::string("rebuild it against piade SDK ") + PIADE_SDK_VERSION + " and LibTorch " + TORCH_VERSION;

// Scans one fixture case and returns its single rejection reason.
std::string rejection_of(const std::string& fixture) {
  PluginRegistry registry;
  registry.scan({fixture_dir(fixture)});
  EXPECT_TRUE(registry.plugins().empty()) << fixture << " was accepted";
  EXPECT_EQ(registry.rejected().size(), 1u) << fixture;
  if (registry.rejected().empty()) return "";
  const RejectedPlugin& rejected = registry.rejected().front();
  EXPECT_EQ(rejected.file, fixture_file(fixture));
  EXPECT_EQ(rejected.reason.find('\n'), std::string::npos) << "not one line: " << rejected.reason;
  return rejected.reason;
}

TEST(PluginRegistryTest, HostFingerprintIsThisBuild) {
  const BuildInfo host = host_build_info();
  EXPECT_EQ(host.sdk_version, PIADE_SDK_VERSION);
  EXPECT_EQ(host.torch_version, TORCH_VERSION);
  EXPECT_EQ(host.cxx11_abi, _GLIBCXX_USE_CXX11_ABI);
  EXPECT_EQ(host.with_cuda, PIADE_WITH_CUDA != 0);
}

TEST(PluginRegistryTest, RejectsOtherAbiMajor) {
  EXPECT_EQ(rejection_of("abi_major"),
            fixture_file("abi_major").string() +
                ": built for plugin ABI 2, this piade has ABI 1; " + kRebuild);
}

TEST(PluginRegistryTest, RejectsNewerApiMinor) {
  EXPECT_EQ(rejection_of("api_minor"),
            fmt::format("{}: built for plugin API 1.{}, this piade supports up to 1.{}; upgrade "
                        "piade or {}",
                        fixture_file("api_minor").string(), PIADE_PLUGIN_API_VERSION + 1,
                        PIADE_PLUGIN_API_VERSION, kRebuild));
}

TEST(PluginRegistryTest, RejectsTooSmallManifest) {
  EXPECT_EQ(rejection_of("small_manifest"),
            fixture_file("small_manifest").string() +
                ": manifest is 80 bytes, plugin ABI 1 needs at least 88; " + kRebuild);
}

// A manifest whose valid_size does not cover its versions: not "built for
// ABI 1, this piade has ABI 1".
TEST(PluginRegistryTest, RejectsAManifestTooShortToHoldItsVersions) {
  EXPECT_EQ(rejection_of("zero_manifest"),
            fixture_file("zero_manifest").string() +
                ": manifest is 0 bytes (valid_size), too short to hold its ABI and API versions (12 bytes); the "
                "plugin is damaged or its entry point is not PIADE_PLUGIN's; " + kRebuild);
}

TEST(PluginRegistryTest, RejectsOtherTorchVersion) {
  EXPECT_EQ(rejection_of("torch_version"),
            fixture_file("torch_version").string() +
                ": built with LibTorch 0.0.1, this piade has LibTorch " + TORCH_VERSION +
                "; rebuild it against this piade's LibTorch");
}

TEST(PluginRegistryTest, RejectsOtherCxx11Abi) {
  EXPECT_EQ(rejection_of("cxx11_abi"),
            fmt::format("{}: built with _GLIBCXX_USE_CXX11_ABI={}, this piade has "
                        "_GLIBCXX_USE_CXX11_ABI={}; rebuild it with the LibTorch piade uses",
                        fixture_file("cxx11_abi").string(), _GLIBCXX_USE_CXX11_ABI ? 0 : 1,
                        _GLIBCXX_USE_CXX11_ABI));
}

TEST(PluginRegistryTest, RejectsOtherCudaSetting) {
  const char* host = PIADE_WITH_CUDA ? "CUDA" : "CPU-only";
  const char* plugin = PIADE_WITH_CUDA ? "CPU-only" : "CUDA";
  EXPECT_EQ(rejection_of("cuda"),
            fmt::format("{}: built with a {} LibTorch, this piade has a {} one; rebuild it "
                        "against this piade's LibTorch",
                        fixture_file("cuda").string(), plugin, host));
}

TEST(PluginRegistryTest, FingerprintMismatchStillNamesItsComponents) {
  // So that `--loss torch_version` reports the mismatch, not "unknown loss".
  PluginRegistry registry;
  registry.scan({fixture_dir("torch_version")});
  ASSERT_EQ(registry.rejected().size(), 1u);
  const auto& declared = registry.rejected().front().components;
  ASSERT_EQ(declared.size(), 1u);
  EXPECT_EQ(declared[0].first, Kind::loss);
  EXPECT_EQ(declared[0].second, "torch_version");
  try {
    registry.get(Kind::loss, "torch_version");
    FAIL() << "get() accepted a rejected plugin";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "loss 'torch_version' is not available: " + registry.rejected().front().reason);
  }
}

TEST(PluginRegistryTest, RejectsEntryPointReturningNull) {
  EXPECT_EQ(rejection_of("null_entry"),
            fixture_file("null_entry").string() +
                ": entry point returned no manifest; the plugin failed to initialise");
}

TEST(PluginRegistryTest, RejectsUndefinedSymbolWithoutCrashing) {
  const std::string file = fixture_file("undefined_symbol").string();
  EXPECT_EQ(rejection_of("undefined_symbol"),
            "" + file + ": cannot be loaded (" + file +
                ": undefined symbol: piade_fixture_missing_function); " + kRebuild);
}

// A component no loaded plugin provides: after the did-you-mean, the error
// lists the libraries that were rejected and why, since one of them may be
// the one that provides it (a broken backbone_resnet.so provides se_resnet18).
TEST(PluginRegistryTest, UnknownComponentNamesTheRejectedLibrariesAndWhy) {
  PluginRegistry registry;
  registry.scan({fixture_dir("undefined_symbol"), fixture_dir("null_entry")});
  ASSERT_EQ(registry.rejected().size(), 2u);
  try {
    registry.get(Kind::backbone, "se_resnet18");
    FAIL() << "get() found a component no plugin provides";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.find("unknown backbone 'se_resnet18' (no backbone plugins were found); 2 plugin libraries "
                           "were rejected: "),
              0u)
        << message;
    const std::string hint = "; to add a plugin, pass --plugin-dir DIR or set PIADE_PLUGIN_PATH";
    EXPECT_EQ(message.substr(message.size() - std::min(message.size(), hint.size())), hint) << message;
    for (const RejectedPlugin& rejected : registry.rejected())
      EXPECT_NE(message.find(rejected.reason), std::string::npos) << message;
    EXPECT_NE(message.find("undefined symbol: piade_fixture_missing_function"), std::string::npos) << message;
  }
  // With nothing rejected the message stays as it was.
  PluginRegistry good;
  good.scan({fixture_dir("good")});
  try {
    good.get(Kind::backbone, "se_resnet18");
    FAIL() << "get() found a component no plugin provides";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("rejected"), std::string::npos) << e.what();
  }
}

TEST(PluginRegistryTest, RejectsManifestWithoutComponents) {
  EXPECT_EQ(rejection_of("no_components"),
            fixture_file("no_components").string() +
                ": invalid manifest: declares no components; fix the plugin's component table");
}

TEST(PluginRegistryTest, RejectsDefaultOutsideItsOwnRange) {
  EXPECT_EQ(rejection_of("bad_default"),
            fixture_file("bad_default").string() +
                ": invalid manifest: component 'bad_default': default value is invalid: "
                "parameter 'size': 0 is out of range [1, inf]; fix the plugin's component table");
}

TEST(PluginRegistryTest, RejectsChoiceWithoutChoices) {
  EXPECT_EQ(rejection_of("no_choices"),
            fixture_file("no_choices").string() +
                ": invalid manifest: component 'no_choices': parameter 'mode': a choice without "
                "choices; fix the plugin's component table");
}

TEST(PluginRegistryTest, RejectsDuplicateParameter) {
  EXPECT_EQ(rejection_of("duplicate_param"),
            fixture_file("duplicate_param").string() +
                ": invalid manifest: component 'duplicate_param' declares parameter 'size' "
                "twice; fix the plugin's component table");
}

TEST(PluginRegistryTest, SecondFileWithSameComponentIsRejectedNamingBoth) {
  PluginRegistry registry;
  registry.scan({fixture_dir("duplicate")});
  const fs::path first = fixture_dir("duplicate") / "a_first.so";
  const fs::path second = fixture_dir("duplicate") / "b_second.so";
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins().front()->file, first);
  ASSERT_EQ(registry.rejected().size(), 1u);
  EXPECT_EQ(registry.rejected().front().file, second);
  EXPECT_EQ(registry.rejected().front().reason,
            second.string() + ": duplicate loss 'duplicate', already provided by " +
                first.string() +
                " (which is kept, being earlier in the plugin path); remove one of the two");
  EXPECT_EQ(&registry.get(Kind::loss, "duplicate"), registry.find(Kind::loss, "duplicate"));
  EXPECT_EQ(registry.get(Kind::loss, "duplicate").plugin->file, first);
}

TEST(PluginRegistryTest, EarlierDirectoryWinsAndEachFileLoadsOnce) {
  PluginRegistry registry;
  registry.scan({fixture_dir("good"), fixture_dir("good")});
  registry.load(fixture_file("good"));
  EXPECT_EQ(registry.plugins().size(), 1u);
  EXPECT_TRUE(registry.rejected().empty());
}

class GoodPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.scan({fixture_dir("good")});
    ASSERT_EQ(registry_.plugins().size(), 1u);
    ASSERT_TRUE(registry_.rejected().empty()) << registry_.rejected().front().reason;
  }
  // The context for a component, its parameters resolved from `values`.
  ComponentContext context(const ComponentInfo& c, std::map<std::string, std::string> values = {}) {
    ComponentContext context;
    context.params = resolve_params(c.id(), c.params, values);
    context.image = {3, 16, 16};
    return context;
  }
  std::string file() const { return fixture_file("good").string(); }
  PluginRegistry registry_;
};

TEST_F(GoodPluginTest, ReadsTheManifest) {
  const PluginInfo& plugin = *registry_.plugins().front();
  EXPECT_EQ(plugin.name, "tiny");
  EXPECT_EQ(plugin.version, "1.2.3");
  EXPECT_EQ(plugin.description, "tiny components of every kind for the host tests");
  EXPECT_EQ(plugin.file, fixture_file("good"));
  EXPECT_EQ(plugin.api_version, static_cast<uint32_t>(PIADE_PLUGIN_API_VERSION));
  EXPECT_EQ(plugin.build.torch_version, TORCH_VERSION);
  EXPECT_EQ(plugin.components.size(), 11u);
  for (Kind kind : {Kind::backbone, Kind::pooling, Kind::routing, Kind::decoder, Kind::loss}) {
    const ComponentInfo* c = registry_.find(kind, "tiny");
    ASSERT_NE(c, nullptr) << kind_name(kind);
    EXPECT_EQ(c->plugin, &plugin);
    EXPECT_EQ(c->id(), std::string(kind_name(kind)) + "/tiny");
  }
  const ComponentInfo& routing = registry_.get(Kind::routing, "tiny");
  ASSERT_EQ(routing.params.size(), 2u);
  EXPECT_EQ(routing.params[0].name, "vectors");
  EXPECT_EQ(routing.params[0].type, PIADE_PARAM_INT);
  EXPECT_EQ(routing.params[0].default_value, "2");
  EXPECT_EQ(routing.params[0].min, 1.0);
  EXPECT_EQ(routing.params[0].max, 16.0);
  // The host gives every loss a weight parameter.
  const ComponentInfo& loss = registry_.get(Kind::loss, "tiny");
  ASSERT_EQ(loss.params.size(), 1u);
  EXPECT_EQ(loss.params[0].name, "weight");
  EXPECT_EQ(loss.params[0].default_value, "1");
  EXPECT_EQ(loss.params[0].min, 0.0);
  EXPECT_FALSE(loss.params[0].max);
}

TEST_F(GoodPluginTest, BuildsAWorkingPipelineOfEveryKind) {
  torch::NoGradGuard no_grad;
  ComponentContext ctx = context(registry_.get(Kind::backbone, "tiny"), {{"channels", "6"}});
  auto backbone = registry_.create_as<Backbone>(registry_.get(Kind::backbone, "tiny"), ctx);
  ctx.features = backbone->output_shape(ctx.image);
  EXPECT_EQ(*ctx.features, (FeatureShape{6, 8, 8}));

  ComponentContext pooling_ctx = context(registry_.get(Kind::pooling, "tiny"));
  pooling_ctx.features = ctx.features;
  auto pooling = registry_.create_as<Pooling>(registry_.get(Kind::pooling, "tiny"), pooling_ctx);
  const CapsuleShape capsules = pooling->output_shape(*ctx.features);
  EXPECT_EQ(capsules, (CapsuleShape{64, 6}));

  ComponentContext routing_ctx = context(registry_.get(Kind::routing, "tiny"), {{"vectors", "3"}});
  routing_ctx.features = ctx.features;
  routing_ctx.capsules = capsules;
  auto routing = registry_.create_as<Routing>(registry_.get(Kind::routing, "tiny"), routing_ctx);
  const VectorShape vectors = routing->output_shape(capsules);
  EXPECT_EQ(vectors, (VectorShape{3, 6}));

  ComponentContext decoder_ctx = context(registry_.get(Kind::decoder, "tiny"));
  decoder_ctx.features = ctx.features;
  decoder_ctx.capsules = capsules;
  decoder_ctx.vectors = vectors;
  auto decoder = registry_.create_as<Decoder>(registry_.get(Kind::decoder, "tiny"), decoder_ctx);
  auto loss = registry_.create_as<Loss>(registry_.get(Kind::loss, "tiny"),
                                        context(registry_.get(Kind::loss, "tiny")));

  torch::manual_seed(0);
  const torch::Tensor images = torch::rand({2, 3, 16, 16}) * 2 - 1;
  const torch::Tensor features = backbone->forward(images);
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 6, 8, 8}));
  const torch::Tensor caps = pooling->forward(features);
  EXPECT_EQ(caps.sizes(), (std::vector<int64_t>{2, 64, 6}));
  const torch::Tensor routed = routing->forward(caps);
  EXPECT_EQ(routed.sizes(), (std::vector<int64_t>{2, 3, 6}));
  const VectorSelection chosen = routing->select(routed);
  const torch::Tensor reconstruction = decoder->forward(chosen.vectors, features);
  EXPECT_EQ(reconstruction.sizes(), images.sizes());
  EXPECT_LE(reconstruction.abs().max().item<float>(), 1.0f);  // tanh
  const LossTerm term = loss->forward(images, reconstruction);
  EXPECT_EQ(term.per_image.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE(torch::allclose(term.per_image, (images - reconstruction).abs().mean({1, 2, 3})));
  EXPECT_EQ(loss->forward(images, images).per_image.abs().sum().item<float>(), 0.0f);
}

TEST_F(GoodPluginTest, CreateAsChecksTheKind) {
  const ComponentInfo& backbone = registry_.get(Kind::backbone, "tiny");
  try {
    registry_.create_as<Pooling>(backbone, context(backbone));
    FAIL() << "create_as built a backbone as a pooling";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "backbone/tiny: is a backbone, not a pooling");
  }
}

TEST_F(GoodPluginTest, ComponentOfTheWrongInterfaceIsAnError) {
  const ComponentInfo& wrong = registry_.get(Kind::backbone, "wrong_interface");
  try {
    registry_.create_as<Backbone>(wrong, context(wrong));
    FAIL() << "create_as accepted a loss as a backbone";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "backbone/wrong_interface (" + file() +
                  "): the factory returned an object that does not implement "
                  "piade::Backbone; derive the component from that interface");
  }
}

TEST_F(GoodPluginTest, FactoryThatThrowsBecomesAnError) {
  const ComponentInfo& throws = registry_.get(Kind::backbone, "throws");
  try {
    registry_.create(throws, context(throws));
    FAIL() << "create() returned although the factory threw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "backbone/throws (" + file() +
                  "): failed to build: backbone/throws: refusing to build, as this test expects");
  }
}

TEST_F(GoodPluginTest, FactoryReturningNullWithoutErrorIsAnError) {
  const ComponentInfo& null_factory = registry_.get(Kind::decoder, "null_factory");
  try {
    registry_.create(null_factory, context(null_factory));
    FAIL() << "create() returned a null module";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "decoder/null_factory (" + file() +
                  "): the factory returned no object and no error; fix the plugin");
  }
  const ComponentInfo& empty = registry_.get(Kind::pooling, "empty_module");
  try {
    registry_.create(empty, context(empty));
    FAIL() << "create() returned an empty module";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "pooling/empty_module (" + file() +
                                         "): the factory returned an empty module; fix the plugin");
  }
}

// A TORCH_CHECK failing in a component's reset() (called by its
// constructor) reaches the user as one line naming the component, without
// the C++ backtrace c10::Error::what() carries.
TEST_F(GoodPluginTest, TorchCheckInAFactoryIsOneLineWithoutBacktrace) {
  const ComponentInfo& torch_check = registry_.get(Kind::backbone, "torch_check");
  try {
    registry_.create(torch_check, context(torch_check));
    FAIL() << "create() returned although reset() failed a TORCH_CHECK";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "backbone/torch_check (" + file() +
                                         "): failed to build: backbone/torch_check: channels must be even, got 3");
  }
}

// What a plugin built with an older SDK hands over: c10::Error::what(),
// backtrace included. The host keeps the message only.
TEST(OneLineTest, DropsLibTorchBacktraceAndJoinsLines) {
  try {
    TORCH_CHECK(false, "channels must be even, got ", 3);
    FAIL();
  } catch (const c10::Error& e) {
    ASSERT_NE(std::string(e.what()).find("Exception raised from"), std::string::npos) << e.what();
    EXPECT_EQ(one_line(e.what()), "channels must be even, got 3");
    EXPECT_EQ(one_line_message(e), "channels must be even, got 3");
  }
  EXPECT_EQ(one_line("first\n  second\n"), "first; second");
  EXPECT_EQ(one_line_message(std::runtime_error("plain")), "plain");
}

TEST_F(GoodPluginTest, UnknownComponentGetsASuggestion) {
  try {
    registry_.get(Kind::routing, "tiyn");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown routing 'tiyn', did you mean 'tiny'?");
  }
  try {
    registry_.get(Kind::routing, "dynamic_routing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown routing 'dynamic_routing' (available: tiny); to add a plugin, pass --plugin-dir DIR "
                 "or set PIADE_PLUGIN_PATH");
  }
  PluginRegistry empty;
  try {
    empty.get(Kind::decoder, "tiny");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown decoder 'tiny' (no decoder plugins were found); to add a plugin, pass --plugin-dir "
                 "DIR or set PIADE_PLUGIN_PATH");
  }
  // An embedding host names its own way of adding a directory.
  empty.set_plugin_dir_hint("add its directory to DetectorOptions::plugin_dirs");
  try {
    empty.get(Kind::decoder, "tiny");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown decoder 'tiny' (no decoder plugins were found); to add a plugin, add its directory to "
                 "DetectorOptions::plugin_dirs");
  }
}

TEST(PluginRegistryTest, RejectedExceptSeparatesNeededFromOthers) {
  PluginRegistry registry;
  registry.scan({fixture_dir("good"), fixture_dir("torch_version"), fixture_dir("cuda")});
  ASSERT_EQ(registry.rejected().size(), 2u);
  auto others = registry.rejected_except({{Kind::loss, "torch_version"}, {Kind::backbone, "tiny"}});
  ASSERT_EQ(others.size(), 1u);
  EXPECT_EQ(others[0]->file, fixture_file("cuda"));
  EXPECT_EQ(registry.rejected_except({{Kind::backbone, "cuda"}}).size(), 2u);
}

}  // namespace
}  // namespace piade
