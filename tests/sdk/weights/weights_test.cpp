// piade::load_tensors and piade::load_module_weights (sdk/weights.h).
#include "piade/sdk/weights.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/support/process.h"
#include <gmock/gmock.h>

#include <c10/util/strides.h>
#include <torch/torch.h>

#include <cstring>
#include <string>
#include <vector>

#include "piade/sdk/atomic_file.h"
#include "tests/sdk/weights/reference_data.h"

namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using piade::test::safetensors_bytes;
using piade::test::write_bytes;

fs::path python_files() { return piade::test::reference_dir("tests/sdk/weights/make_files.py"); }

std::string load_error(const fs::path& path) {
  try {
    piade::load_tensors(path.string());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

TEST(LoadTensors, ReadsEveryDtypeFromPythonWrittenSafetensors) {
  auto tensors = piade::load_tensors((python_files() / "mixed.safetensors").string());
  torch::Tensor base = torch::arange(12, torch::kFloat64).reshape({3, 4}) - 5;
  const std::map<std::string, torch::ScalarType> dtypes = {
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
      {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8}};
  for (const auto& [name, type] : dtypes) {
    SCOPED_TRACE(name);
    ASSERT_EQ(tensors.count("t_" + name), 1u);
    const torch::Tensor& t = tensors.at("t_" + name);
    EXPECT_EQ(t.scalar_type(), type);
    torch::Tensor expected = (type == torch::kUInt8 ? base + 5 : base).to(type);
    EXPECT_TRUE(torch::equal(t, expected)) << t;
  }
  EXPECT_TRUE(torch::equal(tensors.at("t_BOOL"), base != 0));
  EXPECT_EQ(tensors.at("scalar").dim(), 0);
  EXPECT_FLOAT_EQ(tensors.at("scalar").item<float>(), 2.5f);
  EXPECT_EQ(tensors.at("empty").sizes(), torch::IntArrayRef({0, 3}));
  EXPECT_EQ(tensors.count("__metadata__"), 0u);
  EXPECT_EQ(tensors.size(), 12u);
}

TEST(LoadTensors, RoundTripsRandomValuesBitExactly) {
  auto dir = piade::test::scratch_dir("roundtrip");
  std::map<std::string, torch::Tensor> written = {
      {"a", torch::randn({5, 7})},
      {"b", torch::randn({2, 3, 4}, torch::kFloat64)},
      {"c", torch::randn({9}).to(torch::kBFloat16)},
      {"d", torch::randint(-1000, 1000, {4, 4}, torch::kInt64)}};
  piade::test::write_safetensors(dir / "w.safetensors", written);
  auto read = piade::load_tensors((dir / "w.safetensors").string());
  ASSERT_EQ(read.size(), written.size());
  for (const auto& [name, t] : written) EXPECT_TRUE(torch::equal(read.at(name), t)) << name;
}

TEST(LoadTensors, ReadsPlainDictPth) {
  auto tensors = piade::load_tensors((python_files() / "dict.pth").string());
  ASSERT_EQ(tensors.size(), 7u);  // fc.weight, fc.bias, bn.{weight,bias,running_*,num_batches_tracked}
  EXPECT_TRUE(torch::equal(tensors.at("fc.weight"), torch::arange(12, torch::kFloat32).reshape({3, 4})));
  EXPECT_EQ(tensors.at("bn.num_batches_tracked").item<int64_t>(), 7);
}

// ---- torch.save files (PyTorch >= 1.6 zip archives), as Python writes them

std::map<std::string, torch::Tensor> load_python_file(const std::string& name) {
  return piade::load_tensors((python_files() / name).string());
}

/// `read` holds the tensors of `expected`, by name, bit for bit: same
/// dtype, shape and bytes, contiguous (row-major strides) on the CPU.
void expect_same_tensors(const std::map<std::string, torch::Tensor>& read,
                         const std::map<std::string, torch::Tensor>& expected) {
  std::vector<std::string> read_names, expected_names;
  for (const auto& item : read) read_names.push_back(item.first);
  for (const auto& item : expected) expected_names.push_back(item.first);
  ASSERT_EQ(read_names, expected_names);
  for (const auto& [name, want] : expected) {
    SCOPED_TRACE(name);
    const torch::Tensor& got = read.at(name);
    ASSERT_EQ(got.scalar_type(), want.scalar_type());
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(got.device().is_cpu());
    EXPECT_FALSE(got.requires_grad());
    EXPECT_EQ(got.strides(), torch::IntArrayRef(c10::contiguous_strides(got.sizes())));
    const torch::Tensor dense = want.contiguous();
    ASSERT_EQ(got.nbytes(), dense.nbytes());
    // An empty tensor's data pointer may be null, which memcmp must not get (UBSan).
    if (dense.nbytes() > 0) {
      EXPECT_EQ(std::memcmp(got.data_ptr(), dense.data_ptr(), dense.nbytes()), 0) << "values differ";
    }
    EXPECT_TRUE(torch::equal(got, want));
  }
}

TEST(LoadTensors, ReadsStateDictOrderedDictWithMetadata) {
  const auto ordered = load_python_file("ordered.pth");
  expect_same_tensors(ordered, load_python_file("dict.pth"));
  EXPECT_TRUE(torch::equal(ordered.at("fc.weight"), torch::arange(12, torch::kFloat32).reshape({3, 4})));
  EXPECT_EQ(ordered.at("bn.num_batches_tracked").scalar_type(), torch::kInt64);
  EXPECT_EQ(ordered.at("bn.num_batches_tracked").dim(), 0);
  EXPECT_EQ(ordered.at("bn.num_batches_tracked").item<int64_t>(), 7);
}

TEST(LoadTensors, ReadsEveryDtypeFromTorchSaveAtPickleProtocol4) {
  expect_same_tensors(load_python_file("mixed.pth"), load_python_file("mixed.safetensors"));
}

TEST(LoadTensors, ViewsIntoOneStorageComeOutContiguousAndApart) {
  auto views = load_python_file("views.pth");
  const torch::Tensor base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  using torch::indexing::Slice;
  expect_same_tensors(views, {{"base", base},
                              {"slice", base.index({Slice(1, 3), Slice(2, 5)})},
                              {"transposed", base.t()},
                              {"row", base[2]},
                              {"strided", base.index({Slice(), Slice(0, 6, 2)})},
                              {"element", base[3][4]}});
  views.at("base").zero_();  // each view has memory of its own
  EXPECT_TRUE(torch::equal(views.at("row"), base[2]));
}

TEST(LoadTensors, ReadsParametersAsPlainTensors) {
  expect_same_tensors(load_python_file("parameters.pth"), load_python_file("dict.pth"));
}

TEST(LoadTensors, WholePickledModelSaysToSaveTheStateDict) {
  const fs::path path = python_files() / "model.pth";
  EXPECT_EQ(load_error(path), "weights '" + path.string() +
                                  "': a whole pickled model (torchvision.models.squeezenet.SqueezeNet), not a "
                                  "state dict; save model.state_dict() instead: "
                                  "torch.save(model.state_dict(), 'out.pth')");
}

TEST(LoadTensors, LegacyTorchSaveSaysToSaveItAgain) {
  const fs::path path = python_files() / "legacy.pth";
  EXPECT_EQ(load_error(path), "weights '" + path.string() +
                                  "': a legacy (pre-1.6, non-zip) torch.save file; re-save it with PyTorch >= 1.6 "
                                  "(torch.save(torch.load(path), 'out.pth')) or convert it to safetensors");
}

TEST(LoadTensors, TorchScriptArchiveIsNamed) {
  EXPECT_THAT(load_error(python_files() / "scripted.pt"),
              HasSubstr("a TorchScript archive (torch.jit.save), not a state dict"));
}

TEST(LoadTensors, CheckpointSaysToSaveItsStateDict) {
  EXPECT_THAT(load_error(python_files() / "checkpoint.pth"),
              HasSubstr("entry 'state_dict' is a dict, not a tensor (a training checkpoint?); save the state dict "
                        "alone, e.g. torch.save(checkpoint['state_dict'], 'out.pth')"));
}

TEST(LoadTensors, PthThatIsNotADictIsRejected) {
  EXPECT_THAT(load_error(python_files() / "tensor.pth"), HasSubstr("the file holds a tensor, not a dict of tensors"));
  EXPECT_THAT(load_error(python_files() / "not_all_tensors.pth"), HasSubstr("entry 'epoch' is an int, not a tensor"));
}

class CorruptTorchSave : public ::testing::Test {
 protected:
  void SetUp() override { good_ = piade::test::read_text(python_files() / "ordered.pth"); }
  std::string error_for(const std::string& bytes) {
    const fs::path path = dir_ / "bad.pth";
    write_bytes(path, bytes);
    std::string message = load_error(path);
    EXPECT_THAT(message, StartsWith("weights '" + path.string() + "': "));
    return message;
  }
  piade::test::ScratchDir dir_;
  std::string good_;
};

TEST_F(CorruptTorchSave, TruncatedArchive) {
  for (std::size_t size : {good_.size() / 2, good_.size() - 10, std::size_t{4}}) {
    SCOPED_TRACE(size);
    EXPECT_THAT(error_for(good_.substr(0, size)),
                AllOf(HasSubstr("not a readable torch.save zip archive ("),
                      HasSubstr("the file is truncated or corrupt: download or save it again")));
  }
}

// LibTorch's zip reader does not check CRCs (nor does torch.load), so a
// damaged data.pkl reaches the pickle reader: fc.weight is arange(12) as
// [3,4], its storage 12 floats, and the pickle ends with BUILD, STOP.
std::string replaced(std::string bytes, const std::string& from, const std::string& to) {
  const std::size_t at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << "no " << from.size() << "-byte pattern to replace";
  if (at != std::string::npos) bytes.replace(at, from.size(), to);
  return bytes;
}

TEST_F(CorruptTorchSave, ViewBeyondItsStorage) {
  // sizes (3, 4) -> (4, 4): BININT1 3, BININT1 4, TUPLE2
  EXPECT_THAT(error_for(replaced(good_, "K\x03K\x04\x86", "K\x04K\x04\x86")),
              HasSubstr("tensor 'fc.weight' reaches element 15 of its 12-element storage; the file is corrupt"));
}

TEST_F(CorruptTorchSave, StorageSizeDoesNotMatchItsRecord) {
  // ('storage', FloatStorage, '0', 'cpu', 12) -> 13 elements
  EXPECT_THAT(error_for(replaced(good_, "cpuq\x07K\x0c", "cpuq\x07K\x0d")),
              HasSubstr("'data/0' holds 48 bytes, but 13 Float elements need 52; the file is corrupt"));
}

TEST_F(CorruptTorchSave, UnknownPickleOpcode) {
  EXPECT_THAT(error_for(replaced(good_, "b.", "b\xff")),
              AllOf(HasSubstr("cannot read the pickle in it (pickle opcode 0xff is not one torch.save writes for a "
                              "state dict at byte "),
                    HasSubstr("of data.pkl); save a state dict: torch.save(model.state_dict(), 'out.pth')")));
}

// torchvision's own files, written at test time by Debian's torchvision
// with random weights: every tensor must match the hand-written
// safetensors copy bit for bit, with and without `_metadata`.
void expect_torchvision_files_match(const std::string& model, std::size_t tensors) {
  const piade::test::ScratchDir dir;
  const fs::path script = fs::path(PIADE_TEST_SOURCE_DIR) / "tests/sdk/weights/torchvision_files.py";
  const piade::test::CommandResult reference = piade::test::run_reference_python(script, {model, dir.path().string()});
  ASSERT_EQ(reference.status, 0) << reference.output;
  const auto expected = piade::load_tensors((dir / (model + ".safetensors")).string());
  ASSERT_EQ(expected.size(), tensors);
  for (const std::string& file : {model + ".pth", model + "_no_metadata.pth"}) {
    SCOPED_TRACE(file);
    expect_same_tensors(piade::load_tensors((dir / file).string()), expected);
  }
}

TEST(TorchvisionPth, ResNet18) { expect_torchvision_files_match("resnet18", 122); }

TEST(TorchvisionPth, Vgg11) { expect_torchvision_files_match("vgg11", 22); }

// Opening a FIFO blocks until something writes to it: the reader hung.
TEST(LoadTensors, AFifoIsRefusedBeforeOpening) {
  piade::test::ScratchDir dir;
  const std::string fifo = (dir / "weights.safetensors").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(load_error(fifo),
            "weights '" + fifo + "': is not a regular file (a FIFO, socket or device); pass the weights file itself");
}

// The central directory entry of `record` ("<archive>/data.pkl") with
// `field` (an offset in the entry) set to `value`, little-endian.
std::string with_directory_field(std::string bytes, const std::string& record, std::size_t field, uint32_t value,
                                 int size) {
  for (std::size_t at = bytes.find("PK\x01\x02"); at != std::string::npos; at = bytes.find("PK\x01\x02", at + 1)) {
    const std::size_t name_size =
        static_cast<unsigned char>(bytes[at + 28]) | static_cast<unsigned char>(bytes[at + 29]) << 8;
    const std::string name = bytes.substr(at + 46, name_size);
    if (name.size() < record.size() || name.compare(name.size() - record.size(), record.size(), record) != 0) continue;
    for (int i = 0; i < size; ++i) bytes[at + field + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    return bytes;
  }
  ADD_FAILURE() << "no central directory entry for " << record;
  return bytes;
}

// Before LibTorch allocates a record's declared size (and inflates a
// compressed one into it): a zip bomb is an error, not std::bad_alloc.
TEST_F(CorruptTorchSave, ACompressedRecordBeyondTheLimitIsRefused) {
  std::string bytes = with_directory_field(good_, "/data.pkl", 10, 8, 2);  // deflated
  bytes = with_directory_field(bytes, "/data.pkl", 24, 0xF0000000u, 4);      // to almost 4 GB
  EXPECT_THAT(error_for(bytes),
              AllOf(HasSubstr("not a readable torch.save zip archive: record '"),
                    HasSubstr("/data.pkl' is compressed and declares 4026531840 bytes once inflated, more than the "
                              "16777216 bytes piade inflates a record to")));
}

TEST_F(CorruptTorchSave, ARecordDeclaringMoreThanTheFileHoldsIsRefused) {
  std::string bytes = with_directory_field(good_, "/data.pkl", 20, 0xF0000000u, 4);
  bytes = with_directory_field(bytes, "/data.pkl", 24, 0xF0000000u, 4);
  EXPECT_THAT(error_for(bytes), HasSubstr("/data.pkl' declares 4026531840 bytes, more than the " +
                                          std::to_string(bytes.size()) + "-byte file can hold"));
}

// A .pth that is no zip archive is not "a bad safetensors header".
TEST(LoadTensors, APthThatIsNeitherFormatSaysSo) {
  const piade::test::ScratchDir dir;
  const fs::path path = dir / "model.pth";
  write_bytes(path, "these are not weights at all, just text");
  EXPECT_THAT(load_error(path),
              AllOf(StartsWith("weights '" + path.string() + "': neither a torch.save zip archive"),
                    HasSubstr("nor a safetensors file (")));
}

TEST(LoadTensors, MissingFile) {
  EXPECT_THAT(load_error("/nonexistent/x.safetensors"),
              AllOf(StartsWith("weights '/nonexistent/x.safetensors': cannot open"), HasSubstr("check the path")));
}

class CorruptSafetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = piade::test::scratch_dir("corrupt");
    good_ = safetensors_bytes({{"w", torch::ones({2, 3})}});
  }
  std::string error_for(const std::string& bytes) {
    const fs::path path = dir_ / "bad.safetensors";
    write_bytes(path, bytes);
    std::string message = load_error(path);
    EXPECT_THAT(message, StartsWith("weights '" + path.string() + "': "));
    return message;
  }
  /// A file with one F32 entry whose header fields are given as JSON text.
  static std::string with_entry(const std::string& entry, std::size_t data_size) {
    std::string header = "{\"w\":" + entry + "}";
    uint64_t length = header.size();
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &length, 8);
    return bytes + header + std::string(data_size, '\0');
  }
  fs::path dir_;
  std::string good_;
};

TEST_F(CorruptSafetensors, GoodFileLoads) {
  write_bytes(dir_ / "good.safetensors", good_);
  EXPECT_TRUE(torch::equal(piade::load_tensors((dir_ / "good.safetensors").string()).at("w"), torch::ones({2, 3})));
}

TEST_F(CorruptSafetensors, ShorterThanTheHeaderLength) {
  EXPECT_THAT(error_for(good_.substr(0, 5)), HasSubstr("truncated safetensors file: 5 bytes"));
  EXPECT_THAT(error_for(""), HasSubstr("truncated safetensors file: 0 bytes"));
}

TEST_F(CorruptSafetensors, HeaderLengthBeyondFile) {
  std::string bytes = good_;
  uint64_t huge = 1u << 20;
  std::memcpy(bytes.data(), &huge, 8);
  EXPECT_THAT(error_for(bytes), HasSubstr("header length 1048576 goes beyond the end of the file"));
}

TEST_F(CorruptSafetensors, TruncatedData) {
  EXPECT_THAT(error_for(good_.substr(0, good_.size() - 4)),
              AllOf(HasSubstr("tensor 'w'"), HasSubstr("data_offsets [0, 24] are out of range of the 20-byte")));
}

TEST_F(CorruptSafetensors, OffsetsBackwards) {
  EXPECT_THAT(error_for(with_entry(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})", 8)),
              HasSubstr("data_offsets [4, 0] are out of range"));
}

TEST_F(CorruptSafetensors, SizeDoesNotMatchDtypeAndShape) {
  EXPECT_THAT(error_for(with_entry(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,20]})", 20)),
              HasSubstr("tensor 'w': 20 bytes of data, but F32 with shape [2,3] needs 24"));
  EXPECT_THAT(error_for(with_entry(R"({"dtype":"F16","shape":[2,3],"data_offsets":[0,24]})", 24)),
              HasSubstr("F16 with shape [2,3] needs 12"));
}

TEST_F(CorruptSafetensors, UnknownDtype) {
  EXPECT_THAT(error_for(with_entry(R"({"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]})", 2)),
              AllOf(HasSubstr("tensor 'w': unknown dtype 'F8_E4M3'"), HasSubstr("supported: F64, F32")));
}

// The file's strings reach the message escaped, so that it stays one line
// (found by fuzz_safetensors: a name or dtype holding "\n").
TEST_F(CorruptSafetensors, ANameOrDtypeWithANewlineKeepsTheErrorOnOneLine) {
  const std::string unknown_dtype = error_for(with_entry(R"({"dtype":"F\n32","shape":[2],"data_offsets":[0,2]})", 2));
  EXPECT_THAT(unknown_dtype, HasSubstr("unknown dtype 'F\\x0a32'"));
  EXPECT_EQ(unknown_dtype.find('\n'), std::string::npos) << unknown_dtype;
  std::string header = R"({"a\nb":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})";
  uint64_t length = header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &length, 8);
  const std::string bad_name = error_for(bytes + header + std::string(4, '\0'));
  EXPECT_THAT(bad_name, HasSubstr("tensor 'a\\x0ab': 4 bytes of data, but F32 with shape [2] needs 8"));
  EXPECT_EQ(bad_name.find('\n'), std::string::npos) << bad_name;
}

TEST_F(CorruptSafetensors, MalformedHeader) {
  EXPECT_THAT(error_for(with_entry(R"({"dtype":"F32","shape":[2]})", 8)), HasSubstr("lacks dtype, shape or data_offsets"));
  EXPECT_THAT(error_for(with_entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", 8)),
              HasSubstr("has an entry that is not a size"));
  std::string bytes = good_;
  bytes[9] = '#';  // inside the JSON text
  EXPECT_THAT(error_for(bytes), HasSubstr("header is not valid json"));
}

TEST_F(CorruptSafetensors, HugeShapeDoesNotOverflow) {
  EXPECT_THAT(error_for(with_entry(
                  R"({"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]})", 8)),
              HasSubstr("needs more than 2^64"));
}

// ---- load_module_weights

struct SmallNet : torch::nn::Module {
  SmallNet() {
    fc = register_module("fc", torch::nn::Linear(4, 3));
    bn = register_module("bn", torch::nn::BatchNorm1d(3));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};

std::map<std::string, torch::Tensor> small_net_tensors(const std::string& prefix = "") {
  return {{prefix + "fc.weight", torch::arange(12, torch::kFloat32).reshape({3, 4})},
          {prefix + "fc.bias", torch::tensor({1.f, 2.f, 3.f})},
          {prefix + "bn.weight", torch::full({3}, 2.f)},
          {prefix + "bn.bias", torch::full({3}, -1.f)},
          {prefix + "bn.running_mean", torch::full({3}, 0.5f)},
          {prefix + "bn.running_var", torch::full({3}, 4.f)},
          {prefix + "bn.num_batches_tracked", torch::tensor(7, torch::kInt64)}};
}

std::string module_error(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& tensors,
                         const std::string& prefix = "") {
  try {
    piade::load_module_weights(module, tensors, "test/net: weights 'x.safetensors'", prefix);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(LoadModuleWeights, CopiesParametersAndBuffersIncludingNumBatchesTracked) {
  SmallNet net;
  auto tensors = small_net_tensors();
  tensors["head.weight"] = torch::zeros({1000, 3});  // extra: ignored
  piade::load_module_weights(net, tensors, "test/net");
  EXPECT_TRUE(torch::equal(net.fc->weight, tensors["fc.weight"]));
  EXPECT_TRUE(torch::equal(net.bn->running_var, tensors["bn.running_var"]));
  EXPECT_EQ(net.bn->num_batches_tracked.item<int64_t>(), 7);
  EXPECT_TRUE(net.fc->weight.requires_grad());  // copied in place, still a parameter
  // The copy is independent of the file's tensors.
  tensors["fc.bias"].fill_(0);
  EXPECT_FLOAT_EQ(net.fc->bias[2].item<float>(), 3.f);
}

TEST(LoadModuleWeights, LoadsPlainDictPthWrittenByPython) {
  SmallNet net;
  piade::load_module_weights(net, piade::load_tensors((python_files() / "dict.pth").string()), "test/net");
  EXPECT_TRUE(torch::equal(net.fc->weight, torch::arange(12, torch::kFloat32).reshape({3, 4})));
  EXPECT_EQ(net.bn->num_batches_tracked.item<int64_t>(), 7);
}

TEST(LoadModuleWeights, PrefixSelectsASubtree) {
  SmallNet net;
  piade::load_module_weights(net, small_net_tensors("encoder."), "test/net", "encoder.");
  EXPECT_FLOAT_EQ(net.bn->weight[0].item<float>(), 2.f);
}

TEST(LoadModuleWeights, ConvertsFloatingDtypes) {
  SmallNet net;
  auto tensors = small_net_tensors();
  tensors["fc.weight"] = tensors["fc.weight"].to(torch::kFloat16);
  piade::load_module_weights(net, tensors, "test/net");
  EXPECT_EQ(net.fc->weight.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(net.fc->weight[2][3].item<float>(), 11.f);
}

TEST(LoadModuleWeights, MissingKeysAreNamedAndNothingIsCopied) {
  SmallNet net;
  torch::Tensor before = net.fc->weight.clone();
  auto tensors = small_net_tensors();
  tensors.erase("bn.running_mean");
  tensors.erase("bn.num_batches_tracked");
  EXPECT_THAT(module_error(net, tensors),
              StartsWith("test/net: weights 'x.safetensors': missing 'bn.running_mean', 'bn.num_batches_tracked'"));
  EXPECT_TRUE(torch::equal(net.fc->weight, before));
}

TEST(LoadModuleWeights, ManyMissingKeysAreCounted) {
  SmallNet net;
  EXPECT_THAT(module_error(net, {{"other", torch::zeros({1})}}),
              AllOf(HasSubstr("missing 'fc.weight', 'fc.bias', 'bn.weight', 'bn.bias', 'bn.running_mean' and 2 more"),
                    HasSubstr("(1 tensors in the file)")));
}

TEST(LoadModuleWeights, SuggestsStrippingAPrefix) {
  SmallNet net;
  EXPECT_THAT(module_error(net, small_net_tensors("module.")),
              HasSubstr("the file has 'module.fc.weight': strip the prefix 'module.'"));
}

TEST(LoadModuleWeights, ShapeMismatchIsNamed) {
  SmallNet net;
  auto tensors = small_net_tensors();
  tensors["fc.weight"] = torch::zeros({3, 5});
  EXPECT_THAT(module_error(net, tensors),
              StartsWith("test/net: weights 'x.safetensors': 'fc.weight' has shape [3,5] in the file, the model needs [3,4]"));
}

TEST(LoadModuleWeights, IntegerIntoFloatIsRejected) {
  SmallNet net;
  auto tensors = small_net_tensors();
  tensors["fc.bias"] = torch::tensor({1, 2, 3}, torch::kInt64);
  EXPECT_THAT(module_error(net, tensors), HasSubstr("'fc.bias' is Long in the file, the model needs Float"));
}

TEST(SaveSafetensors, RoundTripsEveryDtypeAndPythonReadsIt) {
  const fs::path file = fs::temp_directory_path() / ("piade_save_" + std::to_string(::getpid()) + ".safetensors");
  std::map<std::string, torch::Tensor> tensors = {
      {"a.float", torch::randn({3, 4})},
      {"b.half", torch::randn({5}).to(torch::kFloat16)},
      {"c.long", torch::arange(6, torch::kInt64).view({2, 3})},
      {"d.bytes", torch::tensor({1, 2, 255}, torch::kUInt8)},
      {"e.strided", torch::randn({4, 4}).t()},  // not contiguous: written contiguous
  };
  piade::save_safetensors(file.string(), tensors, {{"note", "x"}});
  EXPECT_FALSE(fs::exists(piade::temporary_beside(file)));
  const auto loaded = piade::load_tensors(file.string());
  ASSERT_EQ(loaded.size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    EXPECT_EQ(loaded.at(name).scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(loaded.at(name), tensor)) << name;
  }
  // An independent reader: Python parses the header and one value by hand.
  const std::string script =
      "import json,struct,sys\n"
      "b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n])\n"
      "assert h['__metadata__']=={'note':'x'}, h['__metadata__']\n"
      "e=h['c.long']; assert e['dtype']=='I64' and e['shape']==[2,3]\n"
      "o=8+n+e['data_offsets'][0]; assert struct.unpack('<q',b[o+8*5:o+8*6])[0]==5\n"
      "assert n%8==0\n";
  const fs::path py = file.string() + ".py";
  std::ofstream(py) << script;
  const piade::test::CommandResult reference = piade::test::run_reference_python(py, {file.string()});
  EXPECT_EQ(reference.status, 0) << reference.output;
  fs::remove(py);
  fs::remove(file);
}

TEST(SaveSafetensors, RefusesADtypeTheFormatCannotHold) {
  const fs::path file = fs::temp_directory_path() / ("piade_save_bad_" + std::to_string(::getpid()) + ".safetensors");
  try {
    piade::save_safetensors(file.string(), {{"z", torch::zeros({2}, torch::kComplexFloat)}});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("tensor 'z' has dtype ComplexFloat, which safetensors does not hold"));
  }
  EXPECT_FALSE(fs::exists(file));
}

}  // namespace
