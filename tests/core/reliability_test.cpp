// Reliability of piade_core against hostile or failing surroundings (issue
// 16; docs/reliability.md): a full disk while a checkpoint is written, JSON
// nested deep enough to overflow the stack, tensor records shorter than their
// tensors, weights that are not finite, and scores that are not numbers. Each is an error naming the file (or image),
// never a crash, a leftover temporary file or a verdict.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/core/file_io.h"
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"
#include "piade/core/plugin_registry.h"
#include "piade/core/scoring.h"
#include "piade/sdk/weights.h"

#include "tests/support/builtin_plugins.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

namespace fs = std::filesystem;

void ignore_warning(const std::string&) {}

// The paper's pipeline with the MSE term, untrained, for 1x28x28 images.
PiadeModel small_model() {
  PipelineSelection selection;
  selection.losses = {"mse"};
  const PipelineConfig config = resolve_pipeline(test::builtin_plugins(), selection, ignore_warning);
  torch::manual_seed(0);
  return PiadeModel(test::builtin_plugins(), config, ImageShape{1, 28, 28}, /*restoring=*/true);
}

// The message of what `action` throws ("" when it throws nothing).
template <class Action>
std::string message_of(Action action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// The names in `dir`.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  return names;
}

// A 2 MB tmpfs: a disk that fills up. Needs root (as the tests run in CI);
// skipped elsewhere.
class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    disk_ = scratch_ / "disk";
    fs::create_directories(disk_);
    if (std::system(("mount -t tmpfs -o size=2m tmpfs " + test::shell_quote(disk_.string()) + " 2>/dev/null").c_str()) != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here";
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) std::system(("umount " + test::shell_quote(disk_.string())).c_str());
  }
  test::ScratchDir scratch_;
  fs::path disk_;
  bool mounted_ = false;
};

TEST_F(FullDiskTest, ACheckpointThatDoesNotFitIsAnErrorNamingTheFileAndLeavesNoTemporaryFile) {
  const fs::path file = disk_ / "checkpoint.pt";
  test::write_text(file, "the previous checkpoint");
  PiadeModel model = small_model();
  const std::string message = message_of([&] { save_checkpoint(file, model, nullptr, {{"format", "test"}}); });
  EXPECT_EQ(message.rfind(file.string() + ": cannot write (No space left on device)", 0), 0u) << message;
  EXPECT_EQ(names_in(disk_), std::vector<std::string>{"checkpoint.pt"});
  EXPECT_EQ(test::read_text(file), "the previous checkpoint");
}

TEST_F(FullDiskTest, AnAtomicWriteThatDoesNotFitIsAnErrorAndLeavesNoTemporaryFile) {
  const fs::path file = disk_ / "scores.csv";
  test::write_text(file, "the previous scores");
  const std::string message = message_of([&] { write_file_atomic(file, std::string(3 << 20, 'x')); });
  EXPECT_EQ(message, file.string() + ": cannot write (No space left on device)");
  EXPECT_EQ(names_in(disk_), std::vector<std::string>{"scores.csv"});
  EXPECT_EQ(test::read_text(file), "the previous scores");
}

TEST(AtomicWriteTest, AFailedRenameReportsItsReason) {
  const test::ScratchDir scratch;
  const fs::path file = scratch / "taken";
  fs::create_directories(file / "inside");  // a directory that is not empty cannot be replaced
  const std::string message = message_of([&] { write_file_atomic(file, "text"); });
  EXPECT_EQ(message.rfind(file.string() + ": cannot replace (", 0), 0u) << message;
  EXPECT_EQ(message.find("Success"), std::string::npos) << message;
  EXPECT_EQ(names_in(scratch.path()), std::vector<std::string>{"taken"});
}

// 100,000 nested arrays: what overflowed the stack.
std::string deep_json() { return std::string(100000, '[') + std::string(100000, ']'); }

TEST(DeepJsonTest, ASafetensorsHeaderNestingTooDeepIsAnErrorNamingTheFileAndTheLimit) {
  const test::ScratchDir scratch;
  const fs::path file = scratch / "deep.safetensors";
  const std::string header = "{\"weight\":" + deep_json() + "}";
  const uint64_t size = header.size();
  std::string bytes(reinterpret_cast<const char*>(&size), 8);
  test::write_text(file, bytes + header);
  const std::string message = message_of([&] { load_tensors(file.string()); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("deeper than 64 levels"), std::string::npos) << message;
}

TEST(DeepJsonTest, ACheckpointConfigurationNestingTooDeepIsAnErrorNamingTheFileAndTheLimit) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  torch::serialize::OutputArchive archive;
  model->save(archive);
  archive.write("piade_meta", c10::IValue("{\"config\":" + deep_json() + "}"));
  archive.save_to(file.string());
  const std::string message = message_of([&] { read_checkpoint_meta(file); });
  EXPECT_EQ(message.rfind(file.string() + ": its piade configuration: json nests arrays or objects deeper than 64 "
                                          "levels",
                          0),
            0u)
      << message;
}

TEST(NonFiniteTest, ACheckpointWithANonFiniteWeightIsRefusedNamingTheFileAndTheTensor) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  std::string name;
  {
    torch::NoGradGuard no_grad;
    auto parameter = model->named_parameters().pairs().front();
    name = parameter.first;
    parameter.second.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  }
  save_checkpoint(file, model, nullptr, {{"format", "test"}});
  PiadeModel loaded = small_model();
  const std::string message = message_of([&] { load_checkpoint_state(file, loaded, nullptr, torch::kCPU); });
  EXPECT_EQ(message.rfind(file.string() + ": tensor '" + name + "' holds values that are not finite", 0), 0u)
      << message;
}

TEST(NonFiniteTest, AScoreThatIsNotANumberIsAnErrorNamingTheImage) {
  torch::set_num_threads(1);
  PiadeModel model = small_model();
  const torch::Tensor images = torch::full({2, 1, 28, 28}, 128, torch::kUInt8);
  Preprocess preprocess;
  preprocess.channels = 1;
  preprocess.image_size = 28;
  // The model's first eval call checks that every part's output is finite
  // (model.h); the scores of every later call are checked by score_all.
  score_all(model, images, preprocess, 2, torch::kCPU);
  {
    // Finite, so the checkpoint loads; the forward pass overflows to inf/nan.
    torch::NoGradGuard no_grad;
    for (auto& parameter : model->named_parameters())
      if (parameter.value().dim() == 4) parameter.value().fill_(1e30);
  }
  const std::string message =
      message_of([&] { score_all(model, images, preprocess, 2, torch::kCPU, {}, {"a.png", "b.png"}); });
  EXPECT_EQ(message.rfind("image 'a.png': its score is ", 0), 0u) << message;
}

// Rewrites the zip archive `file` with its largest tensor record cut to half
// its bytes, the rest as it was (stored, as LibTorch writes them); prints the
// record's name.
constexpr const char* kShortenLargestRecord = R"(
import sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    entries = [(info, z.read(info.filename)) for info in z.infolist()]
largest = max((e for e in entries if '/data/' in e[0].filename), key=lambda e: len(e[1]))
with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
    for info, data in entries:
        z.writestr(info.filename, data[: len(data) // 2] if info is largest[0] else data)
print(largest[0].filename)
)";

TEST(ShortRecordTest, ATensorRecordShorterThanItsTensorIsRefusedNamingTheFileAndTheTensor) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  save_checkpoint(file, model, nullptr, {{"format", "test"}});
  const test::CommandResult cut = test::run_reference_python_code(kShortenLargestRecord, {file.string()});
  ASSERT_EQ(cut.status, 0) << cut.output;
  PiadeModel loaded = small_model();
  const std::string message = message_of([&] { load_checkpoint_state(file, loaded, nullptr, torch::kCPU); });
  EXPECT_EQ(message.rfind(file.string() + ": tensor '", 0), 0u) << message;
  EXPECT_NE(message.find("the file holds"), std::string::npos) << message;
}

// A configuration without its "pipeline" entry (or not an object at all)
// escaped restore_model as the JSON library's "key 'pipeline' not found",
// naming no file (found writing tests/fuzz/fuzz_checkpoint_meta).
TEST(MalformedConfigurationTest, AConfigurationWithoutAPipelineIsAnErrorNamingTheFile) {
  const PluginRegistry registry;
  const fs::path file = "run/checkpoint.pt";
  for (const nlohmann::json& meta : {nlohmann::json{{"image", {{"channels", 1}}}}, nlohmann::json::array()}) {
    const std::string message = message_of([&] { restore_model(registry, file, meta, torch::kCPU); });
    EXPECT_EQ(message, file.string() + ": malformed configuration (no 'pipeline' entry)") << meta.dump();
  }
}

}  // namespace
}  // namespace piade
