// Reliability of piade_core against hostile or failing surroundings (issue
// 16; docs/reliability.md): a full disk while a checkpoint is written, JSON
// nested deep enough to overflow the stack, tensor records shorter than their
// tensors, weights that are not finite, and scores that are not numbers. Each is an error naming the file (or image),
// never a crash, a leftover temporary file or a verdict.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/core/file_io.h"
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"
#include "piade/core/plugin_registry.h"
#include "piade/core/scoring.h"
#include "piade/core/sha256.h"
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

TEST_F(FullDiskTest, ASafetensorsFileThatDoesNotFitIsAnErrorNamingTheFileAndLeavesNoTemporaryFile) {
  const fs::path file = disk_ / "model.safetensors";
  test::write_text(file, "the previous weights");
  const std::string message =
      message_of([&] { save_safetensors(file.string(), {{"w", torch::zeros({1 << 20})}}, {}); });
  EXPECT_EQ(message, file.string() + ": cannot write (No space left on device)");
  EXPECT_EQ(names_in(disk_), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(test::read_text(file), "the previous weights");
}

// save_safetensors goes through the same checked, atomic write as the host's
// files: the system's reason, and nothing left behind.
TEST(AtomicWriteTest, ASafetensorsFileThatCannotReplaceTheTargetSaysWhyAndLeavesNothing) {
  const test::ScratchDir scratch;
  const fs::path file = scratch / "taken.safetensors";
  fs::create_directories(file / "inside");
  const std::string message = message_of([&] { save_safetensors(file.string(), {{"w", torch::ones({4})}}, {}); });
  EXPECT_EQ(message.rfind(file.string() + ": cannot replace (", 0), 0u) << message;
  EXPECT_EQ(names_in(scratch.path()), std::vector<std::string>{"taken.safetensors"});
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

// Flips one byte in the middle of the largest tensor record of the zip
// archive `file`, in place (the zip's own CRC stays as it was: LibTorch does
// not check it); returns the record's size.
std::size_t flip_byte_in_largest_record(const fs::path& file) {
  std::string largest;
  std::size_t size = 0, offset = 0;
  {
    caffe2::serialize::PyTorchStreamReader zip(file.string());
    for (const std::string& name : zip.getAllRecords()) {  // without the archive's folder: "data/0"
      if (name.rfind("data/", 0) != 0) continue;
      const std::size_t bytes = std::get<1>(zip.getRecord(name));
      if (bytes > size) {
        size = bytes;
        largest = name;
      }
    }
    offset = zip.getRecordOffset(largest);
  }
  std::string bytes = test::read_text(file);
  bytes[offset + size / 2] ^= 0x10;
  test::write_text(file, bytes);
  return size;
}

TEST(ChecksumTest, AByteFlippedInsideATensorRecordIsRefusedNamingTheFileAndTheTensor) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  save_checkpoint(file, model, nullptr, {{"format", "test"}});
  const std::size_t record = flip_byte_in_largest_record(file);
  PiadeModel loaded = small_model();
  const std::string message = message_of([&] { load_checkpoint_state(file, loaded, nullptr, torch::kCPU); });
  const std::string start = file.string() + ": tensor '";
  ASSERT_EQ(message.rfind(start, 0), 0u) << message;
  const std::string name = message.substr(start.size(), message.find('\'', start.size()) - start.size());
  EXPECT_NE(message.find("' fails its checksum (stored 0x"), std::string::npos) << message;
  EXPECT_NE(message.find("the file is corrupt"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // The tensor named is one the flipped record can hold.
  bool fits = false;
  for (const auto& item : loaded->named_parameters()) fits |= item.key() == name && item.value().nbytes() == record;
  for (const auto& item : loaded->named_buffers()) fits |= item.key() == name && item.value().nbytes() == record;
  EXPECT_TRUE(fits) << name << " holds no " << record << " bytes";
}

TEST(ChecksumTest, AnEditedConfigurationIsRefusedNamingTheFile) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  save_checkpoint(file, model, nullptr, {{"format", "test"}, {"note", "threshold=0.25"}});
  // update_checkpoint_meta writes the configuration's new checksum.
  update_checkpoint_meta(file, [](nlohmann::json& meta) { meta["note"] = "threshold=0.50"; });
  EXPECT_EQ(read_checkpoint_meta(file).at("note"), "threshold=0.50");
  // The same edit by hand, in the archive's bytes: the text has the same length.
  std::string bytes = test::read_text(file);
  const std::size_t at = bytes.find("threshold=0.50");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 14, "threshold=0.99");
  test::write_text(file, bytes);
  const std::string message = message_of([&] { read_checkpoint_meta(file); });
  EXPECT_EQ(message.rfind(file.string() + ": its piade configuration fails its checksum (stored 0x", 0), 0u)
      << message;
}

// What piade wrote before checksums: the weights and the configuration.
TEST(ChecksumTest, ACheckpointWrittenBeforeChecksumsLoadsAsBefore) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  torch::serialize::OutputArchive archive;
  model->save(archive);
  archive.write("piade_meta", c10::IValue(std::string("{\"format\":\"old\"}")));
  archive.save_to(file.string());
  EXPECT_EQ(read_checkpoint_meta(file).at("format"), "old");
  PiadeModel loaded = small_model();
  load_checkpoint_state(file, loaded, nullptr, torch::kCPU);
  EXPECT_TRUE(torch::equal(loaded->parameters().front(), model->parameters().front()));
  // Updating its configuration keeps it loadable (and adds no checksums it cannot vouch for).
  update_checkpoint_meta(file, [](nlohmann::json& meta) { meta["format"] = "older"; });
  EXPECT_EQ(read_checkpoint_meta(file).at("format"), "older");
  load_checkpoint_state(file, loaded, nullptr, torch::kCPU);
}

TEST(ChecksumTest, AModelFileRecordsTheChecksumsToo) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path checkpoint = scratch / "checkpoint.pt";
  const fs::path file = scratch / "m.piade";
  PiadeModel model = small_model();
  save_model_file(file, model, {{"format", "test"}});
  // The payload with a flipped byte, behind a header made for it: the
  // SHA-256 passes, the tensor's checksum does not.
  const std::string bytes = test::read_text(file);
  test::write_text(checkpoint, bytes.substr(bytes.find('\n') + 1));
  flip_byte_in_largest_record(checkpoint);
  const std::string payload = test::read_text(checkpoint);
  test::write_text(file, "piade-model 1 sha256 " + sha256_hex(payload) + " " + std::to_string(payload.size()) + "\n" +
                             payload);
  PiadeModel loaded = small_model();
  const std::string message = message_of([&] { load_checkpoint_state(file, loaded, nullptr, torch::kCPU); });
  EXPECT_EQ(message.rfind(file.string() + ": tensor '", 0), 0u) << message;
  EXPECT_NE(message.find("' fails its checksum"), std::string::npos) << message;
}

// Rewrites the zip archive `file` with its largest tensor record deflated and
// followed by 32 MiB of zeros (32 KiB deflated): LibTorch's reader inflates
// a record to whatever size it declares, so a few more zeros in the same
// file would ask for any amount of memory.
constexpr const char* kDeflateABomb = R"(
import sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    entries = [(info.filename, z.read(info.filename)) for info in z.infolist()]
largest = max((e for e in entries if '/data/' in e[0]), key=lambda e: len(e[1]))[0]
with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
    for name, data in entries:
        if name == largest:
            z.writestr(name, data + bytes(32 << 20), zipfile.ZIP_DEFLATED)
        else:
            z.writestr(name, data)
print(largest)
)";

TEST(ZipBombTest, ACompressedRecordThatInflatesBeyondTheLimitIsRefusedBeforeLibTorchReadsIt) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  save_checkpoint(file, model, nullptr, {{"format", "test"}});
  const test::CommandResult bomb = test::run_reference_python_code(kDeflateABomb, {file.string()});
  ASSERT_EQ(bomb.status, 0) << bomb.output;
  const std::string record = bomb.output.substr(0, bomb.output.find('\n'));
  const std::string message = message_of([&] { read_checkpoint_meta(file); });
  EXPECT_EQ(message.rfind(file.string() + ": not a readable piade checkpoint: record '" + record +
                              "' is compressed and declares ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("more than the 16777216 bytes piade inflates a record to"), std::string::npos) << message;
  PiadeModel loaded = small_model();
  EXPECT_EQ(message_of([&] { load_checkpoint_state(file, loaded, nullptr, torch::kCPU); }), message);
}

TEST(ZipBombTest, ARecordDeclaringMoreBytesThanTheFileHoldsIsRefusedNamingIt) {
  torch::set_num_threads(1);
  const test::ScratchDir scratch;
  const fs::path file = scratch / "checkpoint.pt";
  PiadeModel model = small_model();
  save_checkpoint(file, model, nullptr, {{"format", "test"}});
  // The central directory entry of the largest record claims almost 4 GB:
  // what LibTorch would allocate before reading it.
  std::string bytes = test::read_text(file);
  std::string largest;
  {
    caffe2::serialize::PyTorchStreamReader zip(file.string());
    std::size_t size = 0;
    for (const std::string& name : zip.getAllRecords())
      if (const std::size_t n = std::get<1>(zip.getRecord(name)); name.rfind("data/", 0) == 0 && n > size) {
        size = n;
        largest = name;
      }
  }
  // Its central directory entry: "PK\1\2", 42 bytes of fields, the name ("archive/data/N").
  std::size_t header = std::string::npos;
  for (std::size_t at = bytes.find("PK\x01\x02"); at != std::string::npos; at = bytes.find("PK\x01\x02", at + 1)) {
    const std::size_t name_size =
        static_cast<unsigned char>(bytes[at + 28]) | static_cast<unsigned char>(bytes[at + 29]) << 8;
    const std::string name = bytes.substr(at + 46, name_size);
    const std::string tail = "/" + largest;
    if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) header = at;
  }
  ASSERT_NE(header, std::string::npos);
  const uint32_t huge = 0xF0000000u;
  std::memcpy(&bytes[header + 20], &huge, 4);  // compressed size
  std::memcpy(&bytes[header + 24], &huge, 4);  // uncompressed size
  test::write_text(file, bytes);
  const std::string message = message_of([&] { read_checkpoint_meta(file); });
  EXPECT_EQ(message.rfind(file.string() + ": not a readable piade checkpoint: record '", 0), 0u) << message;
  EXPECT_NE(message.find("/" + largest + "' declares "), std::string::npos) << message;
  EXPECT_NE(message.find("bytes, more than the " + std::to_string(bytes.size()) + "-byte file can hold"),
            std::string::npos)
      << message;
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

// A plugin name holding a newline (a JSON "\n" in a damaged configuration)
// reached restore_model's "needs backbone '...'" message raw and split it
// over two lines (found by fuzz_checkpoint_meta in CI). Every piade::Error
// escapes control characters, so the name shows as \x0a.
TEST(MalformedConfigurationTest, ANameWithANewlineKeepsTheErrorOnOneLine) {
  const PluginRegistry registry;
  const fs::path file = "run/checkpoint.pt";
  const nlohmann::json meta = nlohmann::json::parse(
      R"({"pipeline": {"backbone": {"name": "se_res\net18", "version": "1.0.0", "file": "se_resnet18.so",
          "params": {}}}})");
  const std::string message = message_of([&] { restore_model(registry, file, meta, torch::kCPU); });
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find("backbone 'se_res\\x0aet18' 1.0.0 from se_resnet18.so, which is not loaded"),
            std::string::npos)
      << message;
}

TEST(ErrorMessage, ControlCharactersAreEscapedAndOtherTextIsKept) {
  EXPECT_STREQ(Error(std::string("a\nb\r\tc\x7f")).what(), "a\\x0ab\\x0d\\x09c\\x7f");
  EXPECT_STREQ(Error("caf\xc3\xa9: 'x'").what(), "caf\xc3\xa9: 'x'");
}

// A float where piade reads an integer (3.2e52 for image.height) reached
// nlohmann's get<int64_t>(), whose conversion of it is undefined behaviour
// (found by fuzz_checkpoint_meta under UBSan); an unsigned integer above
// int64's range would wrap. Both are refused by the field-type check.
TEST(MalformedConfigurationTest, AnIntegerFieldHoldingAFloatOrAHugeValueIsRefusedNamingTheField) {
  const fs::path file = "run/checkpoint.pt";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"image": {"channels": 3, "height": 3.2e52, "width": 64}})", "image.height"},
      {R"({"image": {"channels": 18446744073709551615, "height": 8, "width": 8}})", "image.channels"},
      {R"({"training": {"epochs_done": 1, "epochs": 1e30}})", "training.epochs"},
  };
  for (const auto& [text, field] : cases) {
    const std::string message = message_of([&] { parse_checkpoint_meta(text, file); });
    EXPECT_EQ(message.rfind(file.string() + ": field '" + field + "' of its piade configuration is number, where "
                            "piade reads an integer", 0),
              0u)
        << message;
  }
  EXPECT_EQ(parse_checkpoint_meta(R"({"image": {"channels": 3, "height": 8, "width": 8}})", file)["image"]["height"],
            8);
  EXPECT_EQ(message_of([&] { parse_checkpoint_meta("{\"image\": ", file); }),
            file.string() + ": its piade configuration is not JSON; the file is damaged");
}

}  // namespace
}  // namespace piade
