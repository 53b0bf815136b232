#include "piade/sdk/weights.h"

#include "piade/sdk/json_depth.h"
#include "piade/sdk/printable.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "piade/sdk/atomic_file.h"
#include "torch_save.h"

// safetensors stores little-endian data, which is copied as it is.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "piade::load_tensors reads little-endian data into memory as it is: port it first"
#endif

namespace piade {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("weights '" + path + "': " + what);
}

std::string shape_text(torch::IntArrayRef sizes) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < sizes.size(); ++i) out << (i ? "," : "") << sizes[i];
  out << ']';
  return out.str();
}

/// The whole file, or its first `limit` bytes.
std::vector<char> read_bytes(const std::string& path, std::size_t limit = std::numeric_limits<std::size_t>::max()) {
  // Checked before opening: opening a FIFO blocks until something writes to
  // it, and a directory or device has no size to check the header against.
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
    fail(path, S_ISDIR(info.st_mode) ? "is a directory; pass the weights file itself"
                                     : "is not a regular file (a FIFO, socket or device); pass the weights file itself");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, std::string("cannot open the file (") + std::strerror(errno) + "); check the path");
  std::streamoff size = in.tellg();
  if (size < 0) fail(path, "cannot read the file size; pass a regular file");
  std::vector<char> bytes(std::min(static_cast<std::size_t>(size), limit));
  in.seekg(0);
  if (!bytes.empty() && !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    fail(path, "cannot read the file; check the file");
  return bytes;
}

// ---- safetensors (https://github.com/huggingface/safetensors, format in its README)

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  std::size_t size;
};

// The dtype table, declared once.
const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const DtypeInfo& info : kDtypes)
    if (name == info.name) return &info;
  return nullptr;
}

std::string dtype_names() {
  std::string names;
  for (const DtypeInfo& info : kDtypes) names += std::string(names.empty() ? "" : ", ") + info.name;
  return names;
}

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path,
                                                      const std::vector<char>& bytes) {
  const uint64_t file_size = bytes.size();
  if (file_size < 8)
    fail(path, "truncated safetensors file: " + std::to_string(file_size) +
                   " bytes, not even the 8-byte header length; re-download or re-export the file");
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  if (header_size > file_size - 8)
    fail(path, "safetensors header length " + std::to_string(header_size) +
                   " goes beyond the end of the file (" + std::to_string(file_size) +
                   " bytes); the file is truncated or not a safetensors file");
  const char* header_begin = bytes.data() + 8;
  if (const std::string problem = json_depth_problem(std::string_view(header_begin, header_size)); !problem.empty())
    fail(path, "safetensors header: " + problem);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_size);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("the safetensors header is not valid json (") + e.what() +
                   "); the file is corrupt or not a safetensors file");
  }
  if (!header.is_object())
    fail(path, "the safetensors header is json " + std::string(header.type_name()) +
                   ", not an object of tensors; the file is corrupt");

  const char* data = header_begin + header_size;
  const uint64_t data_size = file_size - 8 - header_size;
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;  // free-form strings, nothing to load
    const std::string where = "tensor " + printable_in_quotes(name);
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      fail(path, where + ": header entry " + entry.dump() +
                     " lacks dtype, shape or data_offsets; the file is corrupt");
    const nlohmann::json& dtype_json = entry["dtype"];
    const nlohmann::json& shape_json = entry["shape"];
    const nlohmann::json& offsets_json = entry["data_offsets"];
    if (!dtype_json.is_string()) fail(path, where + ": dtype " + dtype_json.dump() + " is not a string");
    const DtypeInfo* dtype = find_dtype(dtype_json.get<std::string>());
    if (dtype == nullptr)
      fail(path, where + ": unknown dtype " + printable_in_quotes(dtype_json.get<std::string>()) +
                     "; supported: " + dtype_names() + "; re-export it as F32");
    if (!shape_json.is_array())
      fail(path, where + ": shape " + shape_json.dump() + " is not a list of sizes");
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    bool overflow = false;
    for (const nlohmann::json& dim : shape_json) {
      if (!dim.is_number_unsigned() ||
          dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(path, where + ": shape " + shape_json.dump() + " has an entry that is not a size");
      uint64_t d = dim.get<uint64_t>();
      if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / d) overflow = true;
      numel *= d;
      shape.push_back(static_cast<int64_t>(d));
    }
    if (!offsets_json.is_array() || offsets_json.size() != 2 || !offsets_json[0].is_number_unsigned() ||
        !offsets_json[1].is_number_unsigned())
      fail(path, where + ": data_offsets " + offsets_json.dump() + " is not [begin, end]");
    const uint64_t begin = offsets_json[0].get<uint64_t>();
    const uint64_t end = offsets_json[1].get<uint64_t>();
    if (begin > end || end > data_size)
      fail(path, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                     "] are out of range of the " + std::to_string(data_size) +
                     "-byte data section; the file is truncated or corrupt");
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / dtype->size ||
        numel * dtype->size != end - begin)
      fail(path, where + ": " + std::to_string(end - begin) + " bytes of data, but " + dtype->name +
                     " with shape " + shape_json.dump() + " needs " +
                     (overflow ? std::string("more than 2^64") : std::to_string(numel * dtype->size)) +
                     "; the file is corrupt");
    torch::Tensor tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype->type));
    if (end > begin) std::memcpy(tensor.data_ptr(), data + begin, end - begin);
    tensors.emplace(name, std::move(tensor));
  }
  return tensors;
}

bool starts_with(const std::vector<char>& bytes, const char* magic, std::size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const DtypeInfo* dtype = nullptr;
    for (const DtypeInfo& info : kDtypes)
      if (info.type == tensor.scalar_type()) dtype = &info;
    if (dtype == nullptr)
      fail(path, "tensor '" + name + "' has dtype " + std::string(c10::toString(tensor.scalar_type())) +
                     ", which safetensors does not hold; supported: " + dtype_names());
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(cpu.numel()) * dtype->size;
    header[name] = {{"dtype", dtype->name}, {"shape", cpu.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(cpu);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // aligns the data, as the reference writer does
  const uint64_t length = text.size();  // little-endian on every supported target
  std::vector<std::string_view> pieces = {std::string_view(reinterpret_cast<const char*>(&length), 8), text};
  for (const torch::Tensor& t : data) pieces.emplace_back(static_cast<const char*>(t.data_ptr()), t.nbytes());
  // Atomic and checked (atomic_file.h): "PATH: cannot write (No space left on device)".
  write_pieces_atomic(path, pieces);
}

std::map<std::string, torch::Tensor> load_tensors(const std::string& path) {
  const std::vector<char> head = read_bytes(path, 32);
  // torch.save has written zip archives since PyTorch 1.6.
  if (starts_with(head, "PK\x03\x04", 4)) {
    try {
      return detail::read_torch_save(path);
    } catch (const std::runtime_error& e) {
      fail(path, e.what());
    }
  }
  if (detail::is_legacy_torch_save(head.data(), head.size()))
    fail(path, "a legacy (pre-1.6, non-zip) torch.save file; re-save it with PyTorch >= 1.6 "
               "(torch.save(torch.load(path), 'out.pth')) or convert it to safetensors");
  // Another bare pickle stream (PROTO opcode 0x80 first) under a torch name.
  if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80 &&
      (ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".bin")))
    fail(path, "a bare pickle, not a torch.save zip archive; save a state dict with PyTorch >= 1.6: "
               "torch.save(model.state_dict(), 'out.pth')");
  if (ends_with(path, ".safetensors")) return read_safetensors(path, read_bytes(path));
  // Any other name (.pth, .pt, .bin, ...): what is wrong is rather that it
  // is neither format than a detail of a safetensors header.
  try {
    return read_safetensors(path, read_bytes(path));
  } catch (const std::runtime_error& e) {
    const std::string prefix = "weights '" + path + "': ";
    std::string why = e.what();
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    fail(path, "neither a torch.save zip archive (it does not start with the zip signature PK\\x03\\x04) nor a "
               "safetensors file (" + why + "); give a state dict saved with torch.save (PyTorch >= 1.6) or a "
               ".safetensors file");
  }
}

void load_module_weights(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& tensors,
                         const std::string& context, const std::string& prefix) {
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().defined()) targets.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true))
    if (item.value().defined()) targets.emplace_back(item.key(), item.value());

  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& [name, target] : targets) {
    const std::string key = prefix + name;
    auto found = tensors.find(key);
    if (found == tensors.end()) {
      missing.push_back(key);
      continue;
    }
    const torch::Tensor& source = found->second;
    if (source.sizes() != target.sizes()) {
      mismatched.push_back("'" + key + "' has shape " + shape_text(source.sizes()) +
                           " in the file, the model needs " + shape_text(target.sizes()));
    } else if (source.is_floating_point() != target.is_floating_point()) {
      mismatched.push_back("'" + key + "' is " + std::string(c10::toString(source.scalar_type())) +
                           " in the file, the model needs " + c10::toString(target.scalar_type()));
    } else {
      copies.emplace_back(target, source);
    }
  }

  if (!missing.empty() || !mismatched.empty()) {
    std::string message = context + ": ";
    if (!missing.empty()) {
      constexpr std::size_t kShown = 5;
      message += "missing ";
      for (std::size_t i = 0; i < missing.size() && i < kShown; ++i)
        message += (i ? ", '" : "'") + missing[i] + "'";
      if (missing.size() > kShown) message += " and " + std::to_string(missing.size() - kShown) + " more";
      // A common cause: the names carry a prefix (e.g. "module." from DataParallel).
      const std::string& first = missing.front();
      for (const auto& item : tensors) {
        const std::string& key = item.first;
        if (ends_with(key, "." + first)) {
          message += " (the file has '" + key + "': strip the prefix '" +
                     key.substr(0, key.size() - first.size()) + "' from its names)";
          break;
        }
      }
    }
    for (std::size_t i = 0; i < mismatched.size(); ++i)
      message += (i == 0 && missing.empty() ? "" : "; ") + mismatched[i];
    message += "; pass weights of the same architecture (" + std::to_string(tensors.size()) +
               " tensors in the file)";
    throw std::runtime_error(message);
  }

  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
}

}  // namespace piade
