// The round trip of a third-party plugin author, end to end: install the
// built piade to a temporary prefix, build examples/third_party_plugin out
// of tree against that prefix alone (find_package(PiadeSDK)), and run the
// INSTALLED host with the result. Also checks that the SDK package refuses
// a LibTorch other than the one piade was built with, and builds and runs
// examples/detector (the embedding API) against the install the same way.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "piade/core/plugin_registry.h"
#include "piade/sdk/loss.h"
#include "tests/support/process.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int status = -1;  ///< exit code; 128 + signal when killed, -1 when it could not start
  std::string out;  ///< stdout
  std::string err;  ///< stderr
  std::string command;
  std::string describe() const {
    return "command: " + command + "\nexit status: " + std::to_string(status) +
           "\nstdout:\n" + out + "\nstderr:\n" + err;
  }
};

std::string quote(const std::string& text) { return piade::test::shell_quote(text); }
std::string quote(const fs::path& path) { return quote(path.string()); }
std::string quote(const char* text) { return quote(std::string(text)); }


// Runs of whitespace as one space: CMake wraps long messages at spaces.
std::string flatten(const std::string& text) {
  std::string flat;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space) flat += c;
    else if (!flat.empty() && flat.back() != ' ') flat += ' ';
  }
  return flat;
}

void write_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// The work directory of this run; see InstallTest::SetUpTestSuite.
fs::path g_work;

// Runs a shell command with a clean plugin and library environment, so that
// nothing from the build tree (or the caller's shell) leaks into the
// installed host: only what the command line says is found.
Result run(const std::string& command, const std::string& environment = "") {
  Result result;
  result.command = "env -u PIADE_PLUGIN_PATH -u LD_LIBRARY_PATH " + environment + " " + command;
  const piade::test::RunResult run = piade::test::run_command_apart(result.command);
  result.status = run.exit_code;
  result.out = run.out;
  result.err = run.err;
  return result;
}

class InstallTest : public ::testing::Test {
 protected:
  static inline fs::path prefix_;         // the install prefix
  static inline fs::path example_build_;  // examples/third_party_plugin, built out of tree
  static inline std::string setup_error_;

  // Installs once and builds the example once for all cases (about a
  // minute: the example compiles the torch headers without a precompiled
  // header, as a third party would).
  static void SetUpTestSuite() {
    std::string dir_template = (fs::temp_directory_path() / "piade-install-test-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
      setup_error_ = "cannot create a temporary directory";
      return;
    }
    g_work = fs::canonical(dir_template);
    prefix_ = g_work / "prefix";
    example_build_ = g_work / "example-build";

    Result install = run(std::string(PIADE_TEST_CMAKE) + " --install " + quote(PIADE_TEST_BINARY_DIR) +
                         " --prefix " + quote(prefix_));
    if (install.status != 0) {
      setup_error_ = "installing piade failed\n" + install.describe();
      return;
    }
    // Only the install prefix is given: the package itself must find
    // LibTorch and everything else it needs.
    Result configure = run(std::string(PIADE_TEST_CMAKE) + " -S " +
                           quote(fs::path(PIADE_TEST_SOURCE_DIR) / "examples" / "third_party_plugin") +
                           " -B " + quote(example_build_) + " -G Ninja -DCMAKE_BUILD_TYPE=Release" +
                           " -DCMAKE_MAKE_PROGRAM=" + quote(PIADE_TEST_MAKE_PROGRAM) +
                           " -DCMAKE_CXX_COMPILER=" + quote(PIADE_TEST_CXX_COMPILER) +
                           " -DCMAKE_EXPORT_COMPILE_COMMANDS=ON" +
                           " -DCMAKE_PREFIX_PATH=" + quote(prefix_));
    if (configure.status != 0) {
      setup_error_ = "configuring the example against the installed SDK failed\n" + configure.describe();
      return;
    }
    Result build = run(std::string(PIADE_TEST_CMAKE) + " --build " + quote(example_build_));
    if (build.status != 0) {
      setup_error_ = "building the example against the installed SDK failed\n" + build.describe();
      return;
    }
  }

  static void TearDownTestSuite() {
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    std::error_code ec;
    if (suite != nullptr && suite->Passed() && setup_error_.empty())
      fs::remove_all(g_work, ec);
    else if (!g_work.empty())
      std::fprintf(stderr, "install test: kept %s for inspection\n", g_work.c_str());
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static std::string piade() { return quote(prefix_ / "bin" / "piade"); }
  static fs::path installed_plugin_dir() { return prefix_ / "lib" / "piade" / "plugins"; }
};

TEST_F(InstallTest, InstallsTheSdkPackage) {
  for (const char* file : {"bin/piade", "include/piade/sdk/plugin.h", "include/piade/sdk/plugin_abi.h",
                           "include/piade/sdk/version.h", "lib/cmake/PiadeSDK/PiadeSDKConfig.cmake",
                           "lib/cmake/PiadeSDK/PiadeSDKConfigVersion.cmake",
                           "lib/cmake/PiadeSDK/PiadeSDKTargets.cmake",
                           "lib/cmake/PiadeSDK/PiadePlugin.cmake", "lib/piade/plugins/loss_mse.so"})
    EXPECT_TRUE(fs::exists(prefix_ / file)) << "missing from the install: " << file;
  // The generated header carries the version of the tree that was built.
  EXPECT_NE(piade::test::read_text(prefix_ / "include/piade/sdk/version.h").find("#define PIADE_SDK_VERSION \""),
            std::string::npos);
}

// The file `ldd` resolves NEEDED library `name` to in BINARY, or "".
std::string resolved_library(const std::string& ldd_output, const std::string& name) {
  std::istringstream lines(ldd_output);
  for (std::string line; std::getline(lines, line);) {
    const auto arrow = line.find(" => ");
    if (line.find(name) == std::string::npos || arrow == std::string::npos) continue;
    const auto start = arrow + 4;
    return line.substr(start, line.find(" (", start) - start);
  }
  return "";
}

TEST_F(InstallTest, InstalledBinariesFindTheInstalledSdkLibrary) {
  // The install RPATH, not the build tree, must resolve libpiade_sdk: for
  // the host ($ORIGIN/../lib) and for a built-in plugin ($ORIGIN/../..).
  for (const fs::path& binary : {prefix_ / "bin" / "piade", installed_plugin_dir() / "loss_mse.so"}) {
    Result ldd = run("ldd " + quote(binary));
    ASSERT_EQ(ldd.status, 0) << ldd.describe();
    const std::string sdk = resolved_library(ldd.out, "libpiade_sdk.so");
    ASSERT_FALSE(sdk.empty()) << ldd.describe();
    ASSERT_NE(sdk, "not found") << ldd.describe();
    EXPECT_EQ(fs::canonical(sdk).parent_path(), prefix_ / "lib") << ldd.describe();
    EXPECT_EQ(ldd.out.find("not found"), std::string::npos) << ldd.describe();
  }
}

TEST_F(InstallTest, ExampleIsBuiltFromTheInstalledPackageOnly) {
  ASSERT_TRUE(fs::exists(example_build_ / "loss_gradient.so"));
  const std::string commands = piade::test::read_text(example_build_ / "compile_commands.json");
  ASSERT_NE(commands.find("gradient_loss.cpp"), std::string::npos) << commands;
  EXPECT_NE(commands.find((prefix_ / "include").string()), std::string::npos) << commands;
  // Nothing of the piade tree except the example's own source.
  EXPECT_EQ(commands.find(std::string(PIADE_TEST_SOURCE_DIR) + "/sdk"), std::string::npos) << commands;
  EXPECT_EQ(commands.find(std::string(PIADE_TEST_SOURCE_DIR) + "/host"), std::string::npos) << commands;
  EXPECT_EQ(commands.find(PIADE_TEST_BINARY_DIR), std::string::npos) << commands;
}

TEST_F(InstallTest, InstalledHostListsTheExampleAndTheBuiltInPlugins) {
  Result list = run(piade() + " plugins --json --plugin-dir " + quote(example_build_));
  ASSERT_EQ(list.status, 0) << list.describe();
  const nlohmann::json json = nlohmann::json::parse(list.out);
  EXPECT_TRUE(json.at("broken").empty()) << list.describe();
  bool gradient = false, mse = false;
  for (const auto& plugin : json.at("plugins")) {
    if (plugin.at("kind") == "loss" && plugin.at("name") == "gradient") {
      gradient = true;
      EXPECT_EQ(plugin.at("file"), (example_build_ / "loss_gradient.so").string());
      EXPECT_EQ(plugin.at("version"), "1.0.0");
    }
    if (plugin.at("kind") == "loss" && plugin.at("name") == "mse") {
      mse = true;
      EXPECT_EQ(plugin.at("file"), (installed_plugin_dir() / "loss_mse.so").string());
    }
  }
  EXPECT_TRUE(gradient) << "loss/gradient not listed\n" << list.describe();
  EXPECT_TRUE(mse) << "built-in loss/mse not listed\n" << list.describe();

  // The table users read names both, with their files.
  Result table = run(piade() + " plugins --plugin-dir " + quote(example_build_));
  ASSERT_EQ(table.status, 0) << table.describe();
  EXPECT_NE(table.out.find((example_build_ / "loss_gradient.so").string()), std::string::npos)
      << table.describe();
  EXPECT_NE(table.out.find((installed_plugin_dir() / "loss_mse.so").string()), std::string::npos)
      << table.describe();
}

TEST_F(InstallTest, PluginsInfoShowsTheExampleParameters) {
  Result info = run(piade() + " plugins info gradient --plugin-dir " + quote(example_build_));
  ASSERT_EQ(info.status, 0) << info.describe();
  EXPECT_NE(info.out.find("loss/gradient"), std::string::npos) << info.describe();
  EXPECT_NE(info.out.find("--set loss.gradient.NAME=VALUE"), std::string::npos) << info.describe();
  EXPECT_NE(info.out.find("one of l1|l2"), std::string::npos) << info.describe();

  Result json_info = run(piade() + " plugins info loss/gradient --json --plugin-dir " +
                         quote(example_build_));
  ASSERT_EQ(json_info.status, 0) << json_info.describe();
  const nlohmann::json json = nlohmann::json::parse(json_info.out);
  std::map<std::string, nlohmann::json> params;
  for (const auto& p : json.at("params")) params[p.at("name").get<std::string>()] = p;
  ASSERT_EQ(params.count("order"), 1u) << json_info.describe();
  EXPECT_EQ(params["order"].at("type"), "choice");
  EXPECT_EQ(params["order"].at("default"), "l1");
  EXPECT_EQ(params["order"].at("choices"), nlohmann::json({"l1", "l2"}));
  ASSERT_EQ(params.count("step"), 1u) << json_info.describe();
  EXPECT_EQ(params["step"].at("type"), "int");
  EXPECT_EQ(params["step"].at("min"), 1.0);
  EXPECT_EQ(params["step"].at("max"), 64.0);
  // The host adds `weight` to every loss term.
  EXPECT_EQ(params.count("weight"), 1u) << json_info.describe();
}

// The example is a real loss term: loaded into this process (as the host
// would) and run on a hand-computed case. Error e = image - reconstruction is
// -2 at pixel (1,1) of a 4x4 image and 0 elsewhere, so the forward
// differences are dx(1,0) = -2, dx(1,1) = 2, dy(0,1) = -2, dy(1,1) = 2.
class ExampleLoss {
 public:
  explicit ExampleLoss(const fs::path& file) { registry_.load(file); }

  std::shared_ptr<piade::Loss> build(const std::map<std::string, std::string>& params,
                                     piade::ImageShape image = {1, 4, 4}) const {
    const piade::ComponentInfo& component = registry_.get(piade::Kind::loss, "gradient");
    piade::ComponentContext context;
    context.params = piade::resolve_params(component.id(), component.params, params);
    context.image = image;
    return registry_.create_as<piade::Loss>(component, context);
  }
  std::string rejected() const {
    std::string reasons;
    for (const auto& r : registry_.rejected()) reasons += r.reason + "\n";
    return reasons;
  }

 private:
  piade::PluginRegistry registry_;
};

torch::Tensor spot_reconstruction() {
  torch::Tensor reconstruction = torch::zeros({1, 1, 4, 4});
  reconstruction[0][0][1][1] = 2.0;
  return reconstruction;
}

TEST_F(InstallTest, ExampleComputesGradientDifferences) {
  ExampleLoss plugin(example_build_ / "loss_gradient.so");
  ASSERT_TRUE(plugin.rejected().empty()) << plugin.rejected();
  const torch::Tensor images = torch::zeros({1, 1, 4, 4});

  // l1: |dx| + |dy| per pixel; (1,0) = 2, (0,1) = 2, (1,1) = 2 + 2.
  piade::LossTerm l1 = plugin.build({})->forward(images, spot_reconstruction());
  ASSERT_EQ(l1.map.sizes().vec(), std::vector<int64_t>({1, 4, 4}));
  ASSERT_EQ(l1.per_image.sizes().vec(), std::vector<int64_t>({1}));
  torch::Tensor expected = torch::zeros({1, 4, 4});
  expected[0][1][0] = 2.0;
  expected[0][0][1] = 2.0;
  expected[0][1][1] = 4.0;
  EXPECT_TRUE(torch::allclose(l1.map, expected)) << l1.map;
  EXPECT_NEAR(l1.per_image.item<double>(), 8.0 / 16, 1e-6);

  // l2 squares each difference: (1,0) = 4, (0,1) = 4, (1,1) = 4 + 4.
  piade::LossTerm l2 = plugin.build({{"order", "l2"}})->forward(images, spot_reconstruction());
  EXPECT_TRUE(torch::allclose(l2.map, expected * 2)) << l2.map;
  EXPECT_NEAR(l2.per_image.item<double>(), 16.0 / 16, 1e-6);

  // step 2 differences skip a pixel: only dx(1,1) = e(1,3) - e(1,1) = 2 and
  // dy(1,1) = e(3,1) - e(1,1) = 2 remain.
  piade::LossTerm step2 = plugin.build({{"step", "2"}})->forward(images, spot_reconstruction());
  EXPECT_NEAR(step2.map[0][1][1].item<double>(), 4.0, 1e-6) << step2.map;
  EXPECT_NEAR(step2.per_image.item<double>(), 4.0 / 16, 1e-6);

  // Unlike MSE, a uniform brightness offset has no gradient, so no cost.
  piade::LossTerm offset = plugin.build({})->forward(images, images + 0.5);
  EXPECT_NEAR(offset.per_image.item<double>(), 0.0, 1e-7);
}

TEST_F(InstallTest, ExampleRefusesAStepAsLargeAsTheImage) {
  ExampleLoss plugin(example_build_ / "loss_gradient.so");
  try {
    plugin.build({{"step", "4"}}, piade::ImageShape{3, 4, 8});
    FAIL() << "a step of 4 on a 4x8 image was accepted";
  } catch (const piade::Error& e) {
    EXPECT_NE(std::string(e.what()).find("failed to build: loss/gradient: step 4 is not smaller "
                                         "than the image side 4; give a smaller loss.gradient.step"),
              std::string::npos)
        << e.what();
  }
}

// `piade config` resolves a whole pipeline; the stub parts (a test fixture
// plugin, given through PIADE_PLUGIN_PATH) stand in for the model.
std::string config_command(const std::string& piade, const fs::path& example_build) {
  return piade + " config --json --plugin-dir " + quote(example_build) +
         " --backbone stub --pooling stub --routing stub --decoder stub --loss mse,gradient";
}
const std::string kStubPath = std::string("PIADE_PLUGIN_PATH=") + quote(PIADE_TEST_STUB_PLUGIN_DIR);

TEST_F(InstallTest, ConfigResolvesTheExampleParameters) {
  Result config = run(config_command(piade(), example_build_) +
                          " --set loss.gradient.order=l2 --set loss.gradient.step=3",
                      kStubPath);
  ASSERT_EQ(config.status, 0) << config.describe();
  const nlohmann::json json = nlohmann::json::parse(config.out).at("components");
  ASSERT_EQ(json.at("loss").size(), 2u) << config.describe();
  EXPECT_EQ(json.at("loss")[0].at("name"), "mse");
  const nlohmann::json& gradient = json.at("loss")[1];
  EXPECT_EQ(gradient.at("name"), "gradient");
  EXPECT_EQ(gradient.at("params").at("order"), "l2");
  EXPECT_EQ(gradient.at("params").at("step"), "3");
  EXPECT_EQ(gradient.at("params").at("weight"), "1");

  // Without --set, the defaults the plugin declared.
  Result defaults = run(config_command(piade(), example_build_), kStubPath);
  ASSERT_EQ(defaults.status, 0) << defaults.describe();
  const nlohmann::json resolved = nlohmann::json::parse(defaults.out).at("components");
  EXPECT_EQ(resolved.at("loss")[1].at("params").at("order"), "l1");
  EXPECT_EQ(resolved.at("loss")[1].at("params").at("step"), "1");
}

TEST_F(InstallTest, ConfigRejectsValuesOutsideTheExampleSchema) {
  Result choice = run(config_command(piade(), example_build_) + " --set loss.gradient.order=l3", kStubPath);
  EXPECT_NE(choice.status, 0) << choice.describe();
  EXPECT_NE(choice.err.find("loss/gradient: parameter 'order' must be one of l1, l2; got 'l3'"),
            std::string::npos)
      << choice.describe();

  Result range = run(config_command(piade(), example_build_) + " --set loss.gradient.step=0", kStubPath);
  EXPECT_NE(range.status, 0) << range.describe();
  EXPECT_NE(range.err.find("parameter 'step': 0 is out of range"), std::string::npos) << range.describe();
}

// A directory that find_package(Torch) accepts as LibTorch VERSION with the
// given C++ flags; it defines no targets, since PiadeSDK must refuse it
// before anything would use them.
fs::path fake_torch(const std::string& name, const std::string& version, const std::string& cxx_flags) {
  const fs::path dir = g_work / name;
  write_file(dir / "TorchConfigVersion.cmake",
             "set(PACKAGE_VERSION \"" + version + "\")\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n");
  write_file(dir / "TorchConfig.cmake",
             "set(TORCH_FOUND TRUE)\nset(TORCH_LIBRARIES torch)\nset(TORCH_CXX_FLAGS \"" + cxx_flags +
                 "\")\n");
  return dir;
}

Result configure_example_with_torch(const fs::path& prefix, const fs::path& torch_dir,
                                    const std::string& build_name) {
  return run(std::string(PIADE_TEST_CMAKE) + " -S " +
             quote(fs::path(PIADE_TEST_SOURCE_DIR) / "examples" / "third_party_plugin") + " -B " +
             quote(g_work / build_name) + " -G Ninja -DCMAKE_MAKE_PROGRAM=" +
             quote(PIADE_TEST_MAKE_PROGRAM) + " -DCMAKE_PREFIX_PATH=" + quote(prefix) +
             " -DTorch_DIR=" + quote(torch_dir));
}

// The embedding API's round trip: examples/detector built out of tree
// against the install alone (find_package(PiadeSDK COMPONENTS detector)),
// run on a model the installed piade trains, giving the installed `piade
// score`'s score. The program lives outside the prefix, so the Detector
// finds the built-in plugins next to its library, not next to the program.
TEST_F(InstallTest, DetectorExampleBuildsAgainstTheInstallAndScoresAsPiadeScore) {
  for (const char* file : {"include/piade/detector.h", "lib/libpiade_detector.so",
                           "lib/cmake/PiadeSDK/PiadeDetectorTargets.cmake"})
    EXPECT_TRUE(fs::exists(prefix_ / file)) << "missing from the install: " << file;
  Result ldd = run("ldd " + quote(prefix_ / "lib" / "libpiade_detector.so"));
  ASSERT_EQ(ldd.status, 0) << ldd.describe();
  const std::string sdk = resolved_library(ldd.out, "libpiade_sdk.so");
  ASSERT_FALSE(sdk.empty()) << ldd.describe();
  EXPECT_EQ(fs::canonical(sdk).parent_path(), prefix_ / "lib") << ldd.describe();
  EXPECT_EQ(ldd.out.find("not found"), std::string::npos) << ldd.describe();

  const fs::path build = g_work / "detector-build";
  Result configure = run(std::string(PIADE_TEST_CMAKE) + " -S " +
                         quote(fs::path(PIADE_TEST_SOURCE_DIR) / "examples" / "detector") + " -B " + quote(build) +
                         " -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_MAKE_PROGRAM=" +
                         quote(PIADE_TEST_MAKE_PROGRAM) + " -DCMAKE_CXX_COMPILER=" +
                         quote(PIADE_TEST_CXX_COMPILER) + " -DCMAKE_EXPORT_COMPILE_COMMANDS=ON" +
                         " -DCMAKE_PREFIX_PATH=" + quote(prefix_));
  ASSERT_EQ(configure.status, 0) << configure.describe();
  Result compile = run(std::string(PIADE_TEST_CMAKE) + " --build " + quote(build));
  ASSERT_EQ(compile.status, 0) << compile.describe();
  const std::string commands = piade::test::read_text(build / "compile_commands.json");
  ASSERT_NE(commands.find("main.cpp"), std::string::npos) << commands;
  EXPECT_NE(commands.find((prefix_ / "include").string()), std::string::npos) << commands;
  EXPECT_EQ(commands.find(std::string(PIADE_TEST_SOURCE_DIR) + "/host"), std::string::npos) << commands;
  EXPECT_EQ(commands.find(PIADE_TEST_BINARY_DIR), std::string::npos) << commands;

  // A tiny model from the installed piade, and one Fashion-MNIST-like picture.
  const fs::path model = g_work / "detector-run";
  Result train = run(piade() + " train --dataset fmnist --max-train 32 --batch-size 16 --epochs 1"
                               " --backbone resnet18 --loss mse --threads 2 --progress=false --out " +
                     quote(model));
  ASSERT_EQ(train.status, 0) << train.describe();
  const fs::path picture = g_work / "part.png";
  {
    cv::Mat image(28, 28, CV_8U, cv::Scalar(0));
    cv::circle(image, cv::Point(14, 14), 9, cv::Scalar(200), -1);
    ASSERT_TRUE(cv::imwrite(picture.string(), image));
  }
  const fs::path overlays = g_work / "overlays";
  Result detect = run(quote(build / "piade_detect") + " " + quote(model) + " " + quote(picture) + " --out " +
                      quote(overlays));
  ASSERT_EQ(detect.status, 0) << detect.describe();
  std::istringstream lines(detect.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(header, "path,score,threshold,anomalous,overlay") << detect.describe();
  ASSERT_EQ(row.rfind(picture.string() + ",", 0), 0u) << detect.describe();
  const double detected = std::stod(row.substr(picture.string().size() + 1));
  const cv::Mat overlay = cv::imread((overlays / "part_overlay.png").string());
  ASSERT_FALSE(overlay.empty()) << detect.describe();
  EXPECT_EQ(overlay.size(), cv::Size(28, 28));

  Result score = run(piade() + " score --checkpoint " + quote(model) + " " + quote(picture));
  ASSERT_EQ(score.status, 0) << score.describe();
  const std::string scored_row = score.out.substr(score.out.find('\n') + 1);
  const double scored = std::stod(scored_row.substr(picture.string().size() + 1));
  EXPECT_NEAR(detected, scored, 1e-6 * std::abs(scored)) << detect.describe() << score.describe();

  // A missing checkpoint is one line from the library, through the example.
  Result missing = run(quote(build / "piade_detect") + " " + quote(g_work / "nothing") + " " + quote(picture));
  EXPECT_EQ(missing.status, 1) << missing.describe();
  EXPECT_NE(missing.err.find("piade_detect: piade::Detector: checkpoint '" + (g_work / "nothing").string() +
                             "' does not exist"),
            std::string::npos)
      << missing.describe();
}

TEST_F(InstallTest, SdkPackageRefusesAnotherLibTorchVersion) {
  const fs::path torch = fake_torch("torch-9.9.0", "9.9.0", PIADE_TEST_TORCH_CXX_FLAGS);
  Result configure = configure_example_with_torch(prefix_, torch, "mismatch-version-build");
  EXPECT_NE(configure.status, 0) << configure.describe();
  const std::string message = flatten(configure.err);
  EXPECT_NE(message.find("PiadeSDK was built with LibTorch " PIADE_TEST_TORCH_VERSION
                         " but this project found LibTorch 9.9.0 (" + torch.string() +
                         "); set Torch_DIR to the LibTorch piade was built with"),
            std::string::npos)
      << configure.describe();
}

TEST_F(InstallTest, SdkPackageRefusesAnotherCxxAbi) {
  // Same version, the other _GLIBCXX_USE_CXX11_ABI: std::string and friends
  // would differ across the plugin boundary.
  const std::string flags = PIADE_TEST_TORCH_CXX_FLAGS;
  const std::string other = flags.find("_GLIBCXX_USE_CXX11_ABI=1") != std::string::npos
                                ? "-D_GLIBCXX_USE_CXX11_ABI=0"
                                : "-D_GLIBCXX_USE_CXX11_ABI=1";
  const fs::path torch = fake_torch("torch-other-abi", PIADE_TEST_TORCH_VERSION, other);
  Result configure = configure_example_with_torch(prefix_, torch, "mismatch-abi-build");
  EXPECT_NE(configure.status, 0) << configure.describe();
  const std::string message = flatten(configure.err);
  EXPECT_NE(message.find("PiadeSDK was built with the C++ ABI flags '" + flatten(flags) +
                         "' but this LibTorch uses '" + other + "'"),
            std::string::npos)
      << configure.describe();
}

}  // namespace
