// Test helpers shared by the weights, backbone and perceptual-loss tests:
// reference files made by Debian's Python (torch + torchvision) and a
// safetensors writer for files the tests corrupt or trim on purpose.
#pragma once

#include <unistd.h>

#include "tests/support/files.h"
#include "tests/support/process.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace piade::test {

// A reference script's text; it must exist (tests/support's read_text gives
// "" for a missing file, which would hash silently).
inline std::string read_script(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("cannot read " + path.string());
  return read_text(path);
}

/// Runs `script` (a path under the source tree, relative to it) as
/// `PIADE_REFERENCE_PYTHON script DIR` once and returns DIR. The folder is
/// named after a hash of the script and of safetensors_io.py, so an edited
/// script runs again; ctest runs each test case in its own process, in
/// parallel, so each run writes a private folder and renames it into place.
inline std::filesystem::path reference_dir(const std::string& script) {
  namespace fs = std::filesystem;
  const fs::path source = fs::path(PIADE_TEST_SOURCE_DIR) / script;
  const fs::path helper = fs::path(PIADE_TEST_SOURCE_DIR) / "tests/sdk/weights/safetensors_io.py";
  std::ostringstream name;
  name << source.stem().string() << '-' << std::hex
       << std::hash<std::string>{}(read_script(source) + read_script(helper));
  const fs::path root = fs::path(PIADE_TEST_BINARY_DIR) / "test-reference";
  const fs::path done = root / name.str();
  if (fs::exists(done / "complete")) return done;
  const fs::path work = root / (name.str() + ".tmp" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  const piade::test::CommandResult reference = piade::test::run_reference_python(source, {work.string()});
  if (reference.status != 0)
    throw std::runtime_error("reference script " + source.string() + " failed: " + reference.output);
  std::ofstream(work / "complete") << "ok\n";
  std::error_code error;
  fs::rename(work, done, error);  // fails when another process got there first: use theirs
  if (error) fs::remove_all(work);
  if (!fs::exists(done / "complete")) throw std::runtime_error("no reference data in " + done.string());
  return done;
}

inline const char* safetensors_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat64: return "F64";
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    case torch::kInt16: return "I16";
    case torch::kInt8: return "I8";
    case torch::kUInt8: return "U8";
    case torch::kBool: return "BOOL";
    default: throw std::runtime_error("no safetensors dtype for this tensor");
  }
}

/// The bytes of a safetensors file holding `tensors` (little-endian host).
inline std::string safetensors_bytes(const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    torch::Tensor t = tensor.contiguous().cpu();
    const std::size_t size = t.numel() * t.element_size();
    header[name] = {{"dtype", safetensors_dtype(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {data.size(), data.size() + size}}};
    data.append(static_cast<const char*>(t.data_ptr()), size);
  }
  const std::string text = header.dump();
  const uint64_t length = text.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &length, 8);
  return bytes + text + data;
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline void write_safetensors(const std::filesystem::path& path,
                              const std::map<std::string, torch::Tensor>& tensors) {
  write_bytes(path, safetensors_bytes(tensors));
}

/// A private scratch folder for one test.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path(PIADE_TEST_BINARY_DIR) / "test-scratch" /
             (name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace piade::test
