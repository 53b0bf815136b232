#include "piade/core/checkpoint.h"

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/serialize.h>

#include "piade/core/crc32c.h"
#include "piade/core/file_io.h"
#include "piade/core/sha256.h"
#include "piade/core/stable_hash.h"
#include "piade/datasets/limits.h"
#include "piade/sdk/json_depth.h"
#include "piade/sdk/weights.h"
#include "piade/sdk/zip_check.h"

namespace piade {
namespace {

constexpr const char* kFileName = "checkpoint.pt";
constexpr const char* kMetaKey = "piade_meta";
constexpr const char* kOptimizerKey = "optimizer";
// The CRC-32C of every tensor and of the configuration's text, as JSON:
// {"algorithm": "crc32c", "meta": N, "tensors": {"backbone.conv1.weight": N, ...}}.
// Checkpoints written before it have none and load as before.
constexpr const char* kChecksumsKey = "piade_checksums";
// The model file's header line: "piade-model 1 sha256 <hex> <bytes>\n".
constexpr const char* kModelMagic = "piade-model";
constexpr const char* kModelFormatVersion = "1";
constexpr std::size_t kMaxHeader = 128;

// The first line of an exception's message (LibTorch's carry a backtrace).
std::string model_header(const std::string& payload) {
  return fmt::format("{} {} sha256 {} {}\n", kModelMagic, kModelFormatVersion, sha256_hex(payload), payload.size());
}

std::string read_whole_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", file.string()));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("{}: cannot read", file.string()));
  return std::move(bytes).str();
}

// The payload of a model file, after checking its header, its length and
// its checksum. Throws piade::Error naming the file.
std::string read_model_payload(const fs::path& file) {
  std::string bytes = read_whole_file(file);
  const std::string name = file.string();
  if (bytes.compare(0, std::string(kModelMagic).size() + 1, std::string(kModelMagic) + " ") != 0)
    throw Error(fmt::format("{}: not a piade model file (it does not start with '{}'); give a file `piade export "
                            "--format model` wrote, or a checkpoint",
                            name, kModelMagic));
  const std::size_t end = bytes.find('\n');
  if (end == std::string::npos || end > kMaxHeader)
    throw Error(fmt::format("{}: corrupt model file: its header line is damaged; export it again", name));
  std::istringstream header(bytes.substr(0, end));
  std::string magic, version, algorithm, digest, size_text, extra;
  header >> magic >> version >> algorithm >> digest >> size_text;
  if (version != kModelFormatVersion && !version.empty() &&
      std::all_of(version.begin(), version.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    throw Error(fmt::format("{}: model file format version {} is not supported; this piade reads version {}", name,
                            version, kModelFormatVersion));
  const bool hex = digest.size() == 64 && std::all_of(digest.begin(), digest.end(), [](char c) {
                     return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
                   });
  const bool digits = !size_text.empty() && size_text.size() < 20 &&
                      std::all_of(size_text.begin(), size_text.end(),
                                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  // The header is exactly what model_header() writes, byte for byte.
  if (version != kModelFormatVersion || algorithm != "sha256" || !hex || !digits || (header >> extra) ||
      bytes.compare(0, end + 1, fmt::format("{} {} sha256 {} {}\n", magic, version, digest, size_text)) != 0)
    throw Error(fmt::format("{}: corrupt model file: its header line is damaged; export it again", name));
  const uint64_t size = std::stoull(size_text);
  if (size != bytes.size() - end - 1)
    throw Error(fmt::format("{}: corrupt model file: its header records {} bytes after it, the file holds {} "
                            "(truncated or damaged); export it again",
                            name, size, bytes.size() - end - 1));
  bytes.erase(0, end + 1);
  const std::string actual = sha256_hex(bytes);
  if (actual != digest)
    throw Error(fmt::format("{}: corrupt model file: the SHA-256 of its contents is {}, its header records {} "
                            "(the file changed after it was written); export it again",
                            name, actual, digest));
  return bytes;
}

// The bytes each read of an archive put at each address: LibTorch reads a
// stored (uncompressed) record straight into the memory of the tensor
// storage it becomes, so a storage's data pointer finds its record's size.
using RecordReads = std::map<const void*, std::size_t>;

// Opens a checkpoint or a model file as a LibTorch archive; with `reads`,
// notes where each read went (check_storages).
// Refuses an archive whose records LibTorch would allocate more for than the
// file holds (a zip bomb), before it reads any (zip_check.h).
void throw_zip_problem(const fs::path& file, const std::string& problem) {
  if (!problem.empty())
    throw Error(fmt::format("{}: not a readable piade {}: {}; the file is corrupt or was not written by piade",
                            file.string(), is_model_file(file) ? "model file" : "checkpoint", problem));
}

void check_zip_records(const fs::path& file, const ZipReader& read, uint64_t size) {
  throw_zip_problem(file, zip_records_problem(read, size));
}

void check_zip_records(const fs::path& file, const std::string& bytes) {
  check_zip_records(
      file,
      [&](uint64_t pos, void* buffer, std::size_t n) -> std::size_t {
        if (pos >= bytes.size()) return 0;
        n = std::min<uint64_t>(n, bytes.size() - pos);
        std::memcpy(buffer, bytes.data() + pos, n);
        return n;
      },
      bytes.size());
}

void check_zip_records(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", file.string()));
  throw_zip_problem(file, zip_records_problem(in));
}

void load_archive(const fs::path& file, torch::serialize::InputArchive& archive, const torch::Device& device,
                  RecordReads* reads = nullptr) {
  if (is_model_file(file)) {
    const std::string payload = read_model_payload(file);
    check_zip_records(file, payload);
    if (reads == nullptr) {
      archive.load_from(payload.data(), payload.size(), device);
      return;
    }
    archive.load_from(
        [&](uint64_t pos, void* buffer, std::size_t bytes) -> std::size_t {
          if (pos >= payload.size()) return 0;
          const std::size_t n = std::min<uint64_t>(bytes, payload.size() - pos);
          std::memcpy(buffer, payload.data() + pos, n);
          (*reads)[buffer] = n;
          return n;
        },
        [&] { return payload.size(); }, device);
    return;
  }
  check_zip_records(file);
  if (reads == nullptr) {
    archive.load_from(file.string(), device);
    return;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", file.string()));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  archive.load_from(
      [&](uint64_t pos, void* buffer, std::size_t bytes) -> std::size_t {
        in.clear();
        in.seekg(static_cast<std::streamoff>(pos));
        in.read(static_cast<char*>(buffer), static_cast<std::streamsize>(bytes));
        const auto n = static_cast<std::size_t>(in.gcount());
        (*reads)[buffer] = n;
        return n;
      },
      [&] { return size; }, device);
}

// The bytes a tensor's elements reach in its storage: its offset and sizes
// along its strides (0 for an empty tensor).
uint64_t bytes_reached(const torch::Tensor& tensor) {
  if (tensor.numel() == 0) return 0;
  uint64_t last = static_cast<uint64_t>(tensor.storage_offset());
  for (int64_t d = 0; d < tensor.dim(); ++d)
    last += static_cast<uint64_t>(tensor.size(d) - 1) * static_cast<uint64_t>(std::abs(tensor.stride(d)));
  return (last + 1) * tensor.element_size();
}

// Refuses a tensor whose elements reach beyond its storage, or beyond the
// record of the file it was read from: LibTorch sizes a storage by what the
// archive claims, not by its record, and the forward pass would read past
// the end (SIGSEGV). Runs before anything reads the tensors' values.
void check_storages(const fs::path& file, const PiadeModel& model, const RecordReads& reads) {
  auto check = [&](const std::string& name, const torch::Tensor& tensor) {
    if (!tensor.defined() || tensor.numel() == 0) return;
    const uint64_t needed = bytes_reached(tensor);
    uint64_t held = tensor.has_storage() ? tensor.storage().nbytes() : 0;
    if (tensor.has_storage() && tensor.device().is_cpu())
      if (const auto read = reads.find(tensor.storage().data()); read != reads.end())
        held = std::min<uint64_t>(held, read->second);
    if (held < needed)
      throw Error(fmt::format("{}: tensor '{}' needs {} bytes, the file holds {} for it (the file is truncated or "
                              "damaged); use an intact copy or retrain",
                              file.string(), name, needed, held));
  };
  for (const auto& item : model->named_parameters(/*recurse=*/true)) check(item.key(), item.value());
  for (const auto& item : model->named_buffers(/*recurse=*/true)) check(item.key(), item.value());
}

// ---- Checksums (CRC-32C per tensor and of the configuration)

std::string hex32(uint32_t value) { return fmt::format("0x{:08x}", value); }

// The CRC-32C of a tensor's bytes as the archive stores them: a contiguous
// CPU copy in its own dtype.
uint32_t tensor_checksum(const torch::Tensor& tensor) {
  const torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
  return crc32c(cpu.data_ptr(), cpu.nbytes());
}

// Every tensor of `model`, parameters then buffers, under the names
// model->save() stores them under.
std::vector<std::pair<std::string, torch::Tensor>> model_tensors(const PiadeModel& model) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : model->named_parameters(/*recurse=*/true))
    if (item.value().defined()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : model->named_buffers(/*recurse=*/true))
    if (item.value().defined()) tensors.emplace_back(item.key(), item.value());
  return tensors;
}

std::string checksums_text(const nlohmann::json& tensors, const std::string& meta_text) {
  return nlohmann::json{{"algorithm", "crc32c"}, {"meta", crc32c(meta_text)}, {"tensors", tensors}}.dump();
}

// The checksums record for `model`'s tensors and the configuration `meta_text`.
std::string checksums_record(const PiadeModel& model, const std::string& meta_text) {
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& [name, tensor] : model_tensors(model)) tensors[name] = tensor_checksum(tensor);
  return checksums_text(tensors, meta_text);
}

struct Checksums {
  uint32_t meta = 0;
  std::map<std::string, uint32_t> tensors;
};

// The checksums an archive records; none for a file written before them.
std::optional<Checksums> read_checksums(torch::serialize::InputArchive& archive, const fs::path& file) {
  c10::IValue record;
  if (!archive.try_read(kChecksumsKey, record)) {
    spdlog::debug("{}: no checksums recorded (written before piade recorded them); loading it unchecked",
                  file.string());
    return std::nullopt;
  }
  const auto damaged = [&](const std::string& why) {
    return Error(fmt::format("{}: its checksums record is damaged ({}): the file is corrupt", file.string(), why));
  };
  if (!record.isString()) throw damaged("not text");
  if (const std::string problem = json_depth_problem(record.toStringRef()); !problem.empty()) throw damaged(problem);
  Checksums checksums;
  try {
    const nlohmann::json json = nlohmann::json::parse(record.toStringRef());
    if (json.at("algorithm").get<std::string>() != "crc32c")
      throw damaged(fmt::format("algorithm '{}', this piade knows crc32c", json.at("algorithm").get<std::string>()));
    checksums.meta = json.at("meta").get<uint32_t>();
    for (const auto& [name, value] : json.at("tensors").items()) {
      if (!value.is_number_unsigned() || value.get<uint64_t>() > UINT32_MAX)
        throw damaged(fmt::format("tensor '{}': {} is not a CRC-32C", name, value.dump()));
      checksums.tensors[name] = value.get<uint32_t>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw damaged(one_line(e.what()));
  }
  return checksums;
}

// Refuses a configuration whose text is not the one the checksum was taken of.
void verify_meta(const fs::path& file, const Checksums& checksums, const std::string& meta_text) {
  const uint32_t computed = crc32c(meta_text);
  if (computed != checksums.meta)
    throw Error(fmt::format("{}: its piade configuration fails its checksum (stored {}, computed {}): the file is "
                            "corrupt or was edited by hand; use an intact copy, or retrain",
                            file.string(), hex32(checksums.meta), hex32(computed)));
}

// Refuses a tensor whose bytes are not the ones saved, naming it: a bit
// flipped on disk or in a copy otherwise loads as a slightly wrong model.
void verify_tensors(const fs::path& file, const Checksums& checksums, const PiadeModel& model) {
  for (const auto& [name, tensor] : model_tensors(model)) {
    const auto stored = checksums.tensors.find(name);
    if (stored == checksums.tensors.end())
      throw Error(fmt::format("{}: tensor '{}' has no checksum in the file's checksums record: the file is corrupt",
                              file.string(), name));
    const uint32_t computed = tensor_checksum(tensor);
    if (computed != stored->second)
      throw Error(fmt::format("{}: tensor '{}' fails its checksum (stored {}, computed {}): the file is corrupt; "
                              "use an intact copy, or retrain",
                              file.string(), name, hex32(stored->second), hex32(computed)));
  }
}

// Sets the configuration of an archive loaded as a TorchScript module and,
// where the file records checksums, the configuration's checksum; the
// tensors' checksums stay, as the tensors do.
void set_meta(torch::jit::Module& module, const std::string& meta_text) {
  module.setattr(kMetaKey, c10::IValue(meta_text));
  if (!module.hasattr(kChecksumsKey)) return;
  nlohmann::json record = nlohmann::json::parse(module.attr(kChecksumsKey).toStringRef());
  record["meta"] = crc32c(meta_text);
  module.setattr(kChecksumsKey, c10::IValue(record.dump()));
}

// ---- The configuration's field types

// What piade reads a field of the configuration as.
enum class Field { string, integer, number, boolean, object, strings, text_value };

const char* field_name(Field type) {
  switch (type) {
    case Field::string: return "a string";
    case Field::integer: return "an integer";
    case Field::number: return "a number";
    case Field::boolean: return "true or false";
    case Field::object: return "an object";
    case Field::strings: return "an array of strings";
    case Field::text_value: return "a string, number, true/false or an array of strings";
  }
  return "";
}

bool has_type(const nlohmann::json& value, Field type) {
  switch (type) {
    case Field::string: return value.is_string();
    // An integer piade reads as int64: a float (3.2e52, whose conversion is
    // undefined behaviour) or an unsigned one above its range is refused.
    case Field::integer:
      return value.is_number_integer() &&
             (!value.is_number_unsigned() ||
              value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
    case Field::number: return value.is_number();
    case Field::boolean: return value.is_boolean();
    case Field::object: return value.is_object();
    case Field::strings:
      return value.is_array() && std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_string(); });
    case Field::text_value:
      return value.is_string() || value.is_number() || value.is_boolean() || has_type(value, Field::strings);
  }
  return false;
}

// Refuses a configuration whose fields piade reads have another JSON type
// (a hand-edited checkpoint: "width": 4 for "4"), naming the file and the
// field, before any reader gets a raw nlohmann::json type_error. Absent
// fields are left to the readers, which know which ones they need.
void check_meta_types(const fs::path& file, const nlohmann::json& meta) {
  const auto check = [&](const nlohmann::json& parent, const std::string& where, const char* key, Field type) {
    if (!parent.is_object()) return;
    const auto found = parent.find(key);
    if (found == parent.end() || has_type(*found, type)) return;
    throw Error(fmt::format("{}: field '{}{}' of its piade configuration is {}, where piade reads {}; the "
                            "configuration was edited by hand or is damaged: restore it, or retrain",
                            file.string(), where, key, std::string(found->type_name()), field_name(type)));
  };
  const auto each = [&](const nlohmann::json& parent, const std::string& where, const char* key, Field type) {
    check(parent, where, key, Field::object);
    if (!parent.is_object() || !parent.contains(key)) return;
    for (const auto& [name, value] : parent.at(key).items()) check(parent.at(key), where + key + ".", name.c_str(), type);
  };
  const auto part = [&](const nlohmann::json& entry, const std::string& where) {
    if (!entry.is_object())
      throw Error(fmt::format("{}: field '{}' of its piade configuration is {}, where piade reads an object; the "
                              "configuration was edited by hand or is damaged: restore it, or retrain",
                              file.string(), where, std::string(entry.type_name())));
    for (const char* key : {"name", "version", "plugin", "file"}) check(entry, where + ".", key, Field::string);
    each(entry, where + ".", "params", Field::string);
    check(entry, where + ".", "layout", Field::object);
    if (const auto layout = entry.find("layout"); layout != entry.end()) {
      check(*layout, where + ".layout.", "hash", Field::string);
      check(*layout, where + ".layout.", "schema", Field::strings);
      check(*layout, where + ".layout.", "tensors", Field::strings);
    }
  };
  if (!meta.is_object())
    throw Error(fmt::format("{}: its piade configuration is {}, not an object; the file is damaged", file.string(),
                            std::string(meta.type_name())));
  for (const char* key : {"image", "preprocess", "pipeline", "calibration", "score_stats", "training", "dataset"})
    check(meta, "", key, Field::object);
  if (const auto image = meta.find("image"); image != meta.end())
    for (const char* key : {"channels", "height", "width"}) check(*image, "image.", key, Field::integer);
  if (const auto preprocess = meta.find("preprocess"); preprocess != meta.end())
    for (const char* key : {"image_size", "channels", "resize"}) check(*preprocess, "preprocess.", key, Field::integer);
  if (const auto pipeline = meta.find("pipeline"); pipeline != meta.end()) {
    for (const char* role : {"backbone", "pooling", "routing", "decoder"})
      if (pipeline->contains(role)) part(pipeline->at(role), std::string("pipeline.") + role);
    if (pipeline->contains("loss")) {
      if (!pipeline->at("loss").is_array()) check(*pipeline, "pipeline.", "loss", Field::strings);
      std::size_t i = 0;
      for (const auto& loss : pipeline->at("loss")) part(loss, fmt::format("pipeline.loss[{}]", i++));
    }
  }
  if (const auto calibration = meta.find("calibration"); calibration != meta.end()) {
    check(*calibration, "calibration.", "threshold", Field::number);
    for (const char* key : {"method", "rule"}) check(*calibration, "calibration.", key, Field::string);
  }
  if (const auto stats = meta.find("score_stats"); stats != meta.end()) {
    check(*stats, "score_stats.", "threshold", Field::number);
    check(*stats, "score_stats.", "threshold_rule", Field::string);
  }
  if (const auto training = meta.find("training"); training != meta.end())
    for (const char* key : {"epochs_done", "epochs"}) check(*training, "training.", key, Field::integer);
  if (const auto dataset = meta.find("dataset"); dataset != meta.end()) {
    check(*dataset, "dataset.", "name", Field::string);
    check(*dataset, "dataset.", "normal_class", Field::integer);
    each(*dataset, "dataset.", "options", Field::text_value);
  }
  each(meta, "", "config", Field::text_value);
}

// The major number of a "MAJOR.MINOR.PATCH" version ("" when there is none).
std::string major_of(const std::string& version) { return version.substr(0, version.find('.')); }

// One line per parameter of a component's schema: what a checkpoint's
// parameters are validated against, so a change here can change their meaning.
std::vector<std::string> schema_lines(const ComponentInfo& component) {
  std::vector<std::string> lines;
  for (const ParamInfo& param : component.params)
    lines.push_back(fmt::format("{} {} default={}{}", param.name, param_type_name(param.type),
                                param.default_value.value_or("(required)"),
                                param.choices.empty() ? "" : fmt::format(" choices={}", fmt::join(param.choices, ","))));
  return lines;
}

// One line per tensor of a part (parameters, then buffers): name, shape, dtype.
std::vector<std::string> tensor_lines(const torch::nn::Module& part) {
  std::vector<std::string> lines;
  auto add = [&](const std::string& name, const torch::Tensor& tensor) {
    lines.push_back(fmt::format("{} [{}] {}", name, fmt::join(tensor.sizes(), ","),
                                c10::toString(tensor.scalar_type())));
  };
  for (const auto& item : part.named_parameters(/*recurse=*/true)) add(item.key(), item.value());
  for (const auto& item : part.named_buffers(/*recurse=*/true)) add(item.key(), item.value());
  return lines;
}

std::string layout_hash(const std::vector<std::string>& schema, const std::vector<std::string>& tensors) {
  return stable_hash(fmt::format("{}\n--\n{}", fmt::join(schema, "\n"), fmt::join(tensors, "\n")));
}

// The first line where `recorded` and `current` differ, as "'x' in the
// checkpoint, 'y' now".
std::string first_difference(const std::vector<std::string>& recorded, const std::vector<std::string>& current) {
  for (std::size_t i = 0; i < std::max(recorded.size(), current.size()); ++i) {
    const std::string was = i < recorded.size() ? recorded[i] : "(nothing)";
    const std::string is = i < current.size() ? current[i] : "(nothing)";
    if (was != is) return fmt::format("'{}' in the checkpoint, '{}' now", was, is);
  }
  return "";
}

// A part's module inside the model (PiadeModelImpl registers them by role).
const torch::nn::Module& part_module(const PiadeModelImpl& model, const std::string& role) {
  for (const auto& child : model.named_children())
    if (child.key() == role) return *child.value();
  throw Error(fmt::format("model: no part '{}'", role));
}

nlohmann::json part_json(const PartConfig& part, const torch::nn::Module* module) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [name, value] : part.params.values()) params[name] = part.params.text(name);
  nlohmann::json entry = {{"name", part.component->name},
                          {"version", part.component->plugin->version},
                          {"plugin", part.component->plugin->name},
                          // The library file's name, so that a host without
                          // the plugin can say which file to provide.
                          {"file", part.component->plugin->file.filename().string()},
                          {"params", params}};
  if (module != nullptr) {
    const std::vector<std::string> schema = schema_lines(*part.component);
    const std::vector<std::string> tensors = tensor_lines(*module);
    entry["layout"] = {{"hash", layout_hash(schema, tensors)}, {"schema", schema}, {"tensors", tensors}};
  }
  return entry;
}

// The roles of the parts in pipeline order, as PiadeModelImpl names them
// and the checkpoint's "pipeline" entry holds them.
std::vector<std::pair<std::string, const nlohmann::json*>> recorded_parts(const nlohmann::json& pipeline) {
  std::vector<std::pair<std::string, const nlohmann::json*>> parts;
  for (const char* role : {"backbone", "pooling", "routing", "decoder"}) parts.emplace_back(role, &pipeline.at(role));
  for (const auto& loss : pipeline.at("loss"))
    parts.emplace_back("loss_" + loss.at("name").get<std::string>(), &loss);
  return parts;
}

// The lines of `schema` whose parameter the recorded schema also has.
std::vector<std::string> recorded_parameters_only(const std::vector<std::string>& schema,
                                                  const nlohmann::json& recorded) {
  std::set<std::string> names;
  for (const auto& line : recorded) {
    const std::string text = line.is_string() ? line.get<std::string>() : std::string();
    names.insert(text.substr(0, text.find(' ')));
  }
  std::vector<std::string> kept;
  for (const std::string& line : schema)
    if (names.count(line.substr(0, line.find(' ')))) kept.push_back(line);
  return kept;
}

// Checks every recorded part's layout against the model built from it; a
// part without a recorded layout (checkpoints from before layouts) was
// already held to its exact version by part_from_json.
void check_layouts(const nlohmann::json& pipeline, const PipelineConfig& config, const PiadeModelImpl& model,
                   const std::string& source) {
  const std::vector<const PartConfig*> parts = config.parts();
  const auto recorded = recorded_parts(pipeline);
  for (std::size_t i = 0; i < parts.size() && i < recorded.size(); ++i) {
    const auto& [role, entry] = recorded[i];
    const auto layout = entry->find("layout");
    if (layout == entry->end()) continue;
    const ComponentInfo& component = *parts[i]->component;
    const std::vector<std::string> schema = schema_lines(component);
    const std::vector<std::string> tensors = tensor_lines(part_module(model, role));
    const std::string recorded_hash = layout->at("hash").get<std::string>();
    if (recorded_hash == layout_hash(schema, tensors)) continue;
    // A parameter added since (a newer minor version) takes its default,
    // which keeps the old behaviour: the layout then matches without it.
    if (recorded_hash == layout_hash(recorded_parameters_only(schema, layout->at("schema")), tensors)) continue;
    std::string what = first_difference(layout->at("schema").get<std::vector<std::string>>(), schema);
    const char* thing = "parameter";
    if (what.empty()) {
      what = first_difference(layout->at("tensors").get<std::vector<std::string>>(), tensors);
      thing = "tensor";
    }
    throw Error(fmt::format("{}: {} '{}' version {} ({}) does not fit the checkpoint's weights, trained with "
                            "version {}: {} {}; use the plugin version the checkpoint was trained with, or "
                            "retrain",
                            source, kind_name(component.kind), component.name, component.plugin->version,
                            component.plugin->file.string(), entry->at("version").get<std::string>(), thing,
                            what.empty() ? "(layout hash differs)" : what));
  }
}

PartConfig part_from_json(const PluginRegistry& registry, Kind kind, const nlohmann::json& entry,
                          const std::string& source) {
  const std::string name = entry.at("name").get<std::string>();
  const std::string version = entry.at("version").get<std::string>();
  // The plugin's file name; checkpoints written before it was recorded have none.
  const std::string file = entry.value("file", std::string());
  PartConfig part;
  part.component = registry.find(kind, name);
  if (part.component == nullptr) {
    const std::string needed = fmt::format("{}: the checkpoint needs {} '{}' {}{}", source, kind_name(kind), name,
                                           version, file.empty() ? "" : " from " + file);
    const auto& loaded = registry.plugins();
    const bool file_loaded = std::any_of(loaded.begin(), loaded.end(), [&](const auto& plugin) {
      return plugin->file.filename() == file;
    });
    if (!file.empty() && !file_loaded) {
      if (const RejectedPlugin* rejected = registry.rejected_for(kind, name, file))
        throw Error(fmt::format("{}, which was rejected: {}", needed, rejected->reason));
      throw Error(fmt::format("{}, which is not loaded: {}{}", needed, registry.plugin_dir_hint(),
                              registry.rejected_text(kind)));
    }
    // No file recorded, or it is loaded but provides no such component (a
    // renamed one): the registry's message, with its suggestions.
    try {
      part.component = &registry.get(kind, name);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", needed, e.what()));
    }
  }
  // Another version of the same major number is accepted when the layout
  // the checkpoint recorded still matches (checked by restore_model, which
  // has the tensors); a checkpoint without a layout needs the exact version.
  const std::string& current = part.component->plugin->version;
  const bool has_layout = entry.contains("layout");
  if (current != version && (major_of(current) != major_of(version) || !has_layout))
    throw Error(fmt::format("{}: the checkpoint was trained with {} '{}' version {}, but {} has "
                            "version {}; use the plugin version it was trained with{}",
                            source, kind_name(kind), name, version, part.component->plugin->file.string(), current,
                            major_of(current) != major_of(version)
                                ? " (another major version changes the weights' meaning)"
                                : " (the checkpoint records no layout to check another version against: it "
                                  "predates layout hashes; retrain to record one)"));
  std::map<std::string, std::string> values;
  for (const auto& [key, value] : entry.at("params").items()) values[key] = value.get<std::string>();
  try {
    part.params = resolve_params(part.component->id(), part.component->params, values);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: recorded parameters no longer validate: {}", source, e.what()));
  }
  return part;
}

// Refuses weights that would make every score nan or inf, so that scoring
// never reports a broken model's images as normal: a value in a parameter
// or buffer that is not finite (a damaged file, or training that diverged).
void check_finite_weights(const fs::path& file, const PiadeModel& model) {
  auto check = [&](const std::string& name, const torch::Tensor& tensor) {
    if (!tensor.defined() || !tensor.is_floating_point() || tensor.numel() == 0) return;
    if (torch::isfinite(tensor).all().item<bool>()) return;
    throw Error(fmt::format("{}: tensor '{}' holds values that are not finite (nan or inf); the checkpoint is "
                            "damaged or its training diverged; retrain, or use an earlier checkpoint",
                            file.string(), name));
  };
  for (const auto& item : model->named_parameters(/*recurse=*/true)) check(item.key(), item.value());
  for (const auto& item : model->named_buffers(/*recurse=*/true)) check(item.key(), item.value());
}

}  // namespace

bool is_model_file(const fs::path& file) {
  if (file.extension() == kModelFileExtension) return true;
  std::ifstream in(file, std::ios::binary);
  std::string start(std::string(kModelMagic).size() + 1, '\0');
  in.read(start.data(), static_cast<std::streamsize>(start.size()));
  return in && start == std::string(kModelMagic) + " ";
}

fs::path checkpoint_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path file = path / kFileName;
    if (!fs::exists(file))
      throw Error(fmt::format("--checkpoint: '{}' holds no {}; give the directory `piade train "
                              "--out` wrote, or the file",
                              path.string(), kFileName));
    return file;
  }
  if (!fs::exists(path, ec))
    throw Error(fmt::format("--checkpoint: '{}' does not exist", path.string()));
  // Named before opening: opening a FIFO blocks until something writes to it.
  if (const std::string problem = regular_file_problem(path.string()); !problem.empty())
    throw Error(fmt::format("--checkpoint: '{}' {}", path.string(), problem));
  return path;
}

nlohmann::json pipeline_to_json(const PipelineConfig& config, const PiadeModelImpl* model) {
  auto module = [&](const std::string& role) { return model ? &part_module(*model, role) : nullptr; };
  nlohmann::json out = {{"backbone", part_json(config.backbone, module("backbone"))},
                        {"pooling", part_json(config.pooling, module("pooling"))},
                        {"routing", part_json(config.routing, module("routing"))},
                        {"decoder", part_json(config.decoder, module("decoder"))},
                        {"loss", nlohmann::json::array()}};
  for (const PartConfig& loss : config.losses)
    out["loss"].push_back(part_json(loss, module("loss_" + loss.component->name)));
  return out;
}

bool same_pipeline(const nlohmann::json& a, const nlohmann::json& b) {
  const auto without_files = [](nlohmann::json pipeline) {
    for (const char* role : {"backbone", "pooling", "routing", "decoder"})
      if (pipeline.contains(role) && pipeline[role].is_object()) pipeline[role].erase("file");
    if (pipeline.contains("loss") && pipeline["loss"].is_array())
      for (auto& loss : pipeline["loss"])
        if (loss.is_object()) loss.erase("file");
    return pipeline;
  };
  return without_files(a) == without_files(b);
}

PipelineConfig pipeline_from_json(const PluginRegistry& registry, const nlohmann::json& pipeline,
                                  const std::string& source) {
  try {
    PipelineConfig config;
    config.backbone = part_from_json(registry, Kind::backbone, pipeline.at("backbone"), source);
    config.pooling = part_from_json(registry, Kind::pooling, pipeline.at("pooling"), source);
    config.routing = part_from_json(registry, Kind::routing, pipeline.at("routing"), source);
    config.decoder = part_from_json(registry, Kind::decoder, pipeline.at("decoder"), source);
    for (const auto& loss : pipeline.at("loss"))
      config.losses.push_back(part_from_json(registry, Kind::loss, loss, source));
    return config;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed pipeline configuration ({})", source, e.what()));
  }
}

PiadeModel restore_model(const PluginRegistry& registry, const fs::path& file, const nlohmann::json& meta,
                         const torch::Device& device) {
  // A configuration without these entries (a tampered file) is refused
  // naming the file, not with the JSON library's bare message.
  const auto entry = [&](const char* key) -> const nlohmann::json& {
    if (!meta.is_object() || !meta.contains(key))
      throw Error(fmt::format("{}: malformed configuration (no '{}' entry)", file.string(), key));
    return meta.at(key);
  };
  const PipelineConfig pipeline = pipeline_from_json(registry, entry("pipeline"), file.string());
  ImageShape shape;
  try {
    const nlohmann::json& image = entry("image");
    shape = ImageShape{image.at("channels").get<int64_t>(), image.at("height").get<int64_t>(),
                       image.at("width").get<int64_t>()};
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed image entry in the configuration ({})", file.string(), e.what()));
  }
  PiadeModel model(registry, pipeline, shape, /*restoring=*/true);
  try {
    check_layouts(meta.at("pipeline"), pipeline, *model, file.string());
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed layout in the pipeline configuration ({})", file.string(), e.what()));
  }
  model->to(device);
  load_checkpoint_state(file, model, nullptr, device);
  return model;
}

Preprocess checkpoint_preprocess(const nlohmann::json& meta) {
  Preprocess settings;
  try {
    const nlohmann::json& image = meta.at("image");
    settings.channels = image.at("channels").get<int64_t>();
    settings.image_size = image.at("height").get<int64_t>();
    if (const auto recorded = meta.find("preprocess"); recorded != meta.end()) {
      settings.image_size = recorded->value("image_size", settings.image_size);
      settings.channels = recorded->value("channels", settings.channels);
      settings.resize = recorded->value("resize", int64_t{0});
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("checkpoint: malformed image or preprocess entry ({})", e.what()));
  }
  return settings;
}

StoredThreshold stored_threshold(const nlohmann::json& meta) {
  StoredThreshold stored;
  stored.value = std::nan("");
  try {
    if (const auto calibration = meta.find("calibration");
        calibration != meta.end() && calibration->contains("threshold")) {
      stored.value = calibration->at("threshold").get<double>();
      stored.method = calibration->value("method", std::string("calibrated"));
      stored.rule = calibration->value("rule", stored.method);
      return stored;
    }
    const auto stats = meta.find("score_stats");
    if (stats == meta.end() || !stats->contains("threshold")) return stored;
    stored.value = stats->at("threshold").get<double>();
    stored.method = "training-p99";
    stored.rule = stats->value("threshold_rule", std::string("99th percentile of training-set scores"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("checkpoint: malformed threshold entry ({})", e.what()));
  }
  return stored;
}

double checkpoint_threshold(const nlohmann::json& meta) { return stored_threshold(meta).value; }

void save_checkpoint(const fs::path& file, PiadeModel& model, torch::optim::Optimizer* optimizer,
                     const nlohmann::json& meta) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  const std::string meta_text = meta.dump();
  archive.write(kMetaKey, c10::IValue(meta_text));
  archive.write(kChecksumsKey, c10::IValue(checksums_record(model, meta_text)));
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write(kOptimizerKey, optimizer_archive);
  }
  // The archive goes to memory first: LibTorch's file writer reports a full
  // disk from its destructor, which aborts the process; write_file_atomic
  // checks every write and removes its temporary file on failure.
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: cannot write the checkpoint ({})", file.string(), one_line_message(e)));
  }
  write_file_atomic(file, std::move(bytes).str());
}

void save_model_file(const fs::path& file, PiadeModel& model, const nlohmann::json& meta) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  const std::string meta_text = meta.dump();
  archive.write(kMetaKey, c10::IValue(meta_text));
  archive.write(kChecksumsKey, c10::IValue(checksums_record(model, meta_text)));
  std::ostringstream payload;
  try {
    archive.save_to(payload);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: cannot write the model file ({})", file.string(), one_line_message(e)));
  }
  write_file_atomic(file, model_header(payload.str()) + payload.str());
}

nlohmann::json parse_checkpoint_meta(const std::string& text, const fs::path& file) {
  if (const std::string problem = json_depth_problem(text); !problem.empty())
    throw Error(fmt::format("{}: its piade configuration: {}", file.string(), problem));
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    throw Error(fmt::format("{}: its piade configuration is not JSON; the file is damaged", file.string()));
  check_meta_types(file, parsed);
  return parsed;
}

nlohmann::json read_checkpoint_meta(const fs::path& file) {
  const bool model_file = is_model_file(file);
  torch::serialize::InputArchive archive;
  c10::IValue meta;
  try {
    load_archive(file, archive, torch::Device(torch::kCPU));
    if (!archive.try_read(kMetaKey, meta) || !meta.isString())
      throw Error("no piade configuration inside");
    if (const std::string problem = json_depth_problem(meta.toStringRef()); !problem.empty())
      throw Error(fmt::format("{}: its piade configuration: {}", file.string(), problem));
    if (const auto checksums = read_checksums(archive, file)) verify_meta(file, *checksums, meta.toStringRef());
    return parse_checkpoint_meta(meta.toStringRef(), file);
  } catch (const Error& e) {
    // read_model_payload's errors and the depth check's name the file already.
    if (std::string(e.what()).rfind(file.string() + ": ", 0) == 0) throw;
    throw Error(fmt::format("{}: not a readable piade {} ({})", file.string(), model_file ? "model file" : "checkpoint",
                            one_line_message(e)));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: not a readable piade {} ({})", file.string(), model_file ? "model file" : "checkpoint",
                            one_line_message(e)));
  }
}

nlohmann::json update_checkpoint_meta(const fs::path& file, const std::function<void(nlohmann::json&)>& update) {
  nlohmann::json meta = read_checkpoint_meta(file);
  update(meta);
  // The archive as a TorchScript module (what InputArchive reads and
  // OutputArchive writes): every attribute, parameter, buffer and nested
  // archive (the optimizer's state) is kept as it is; only the
  // configuration's string changes.
  try {
    if (is_model_file(file)) {
      const std::string payload_read = read_model_payload(file);
      check_zip_records(file, payload_read);
      std::istringstream in(payload_read);
      torch::jit::Module module = torch::jit::load(in, torch::Device(torch::kCPU));
      set_meta(module, meta.dump());
      std::ostringstream payload;
      module.save(payload);
      write_file_atomic(file, model_header(payload.str()) + payload.str());
      return meta;
    }
    check_zip_records(file);
    torch::jit::Module module = torch::jit::load(file.string(), torch::Device(torch::kCPU));
    set_meta(module, meta.dump());
    // Through memory, as save_checkpoint does: a failing file write must not
    // abort the process from LibTorch's writer's destructor.
    std::ostringstream bytes;
    module.save(bytes);
    write_file_atomic(file, std::move(bytes).str());
  } catch (const std::exception& e) {
    const std::string what = one_line_message(e);
    if (what.rfind(file.string() + ": ", 0) == 0) throw Error(what);
    throw Error(fmt::format("{}: cannot update the configuration ({})", file.string(), what));
  }
  return meta;
}

void load_checkpoint_state(const fs::path& file, PiadeModel& model,
                           torch::optim::Optimizer* optimizer, const torch::Device& device) {
  try {
    torch::serialize::InputArchive archive;
    RecordReads reads;
    load_archive(file, archive, device, &reads);
    model->load(archive);
    check_storages(file, model, reads);
    // Before the values are judged: a flipped bit is corruption, whatever
    // value it makes.
    if (const auto checksums = read_checksums(archive, file)) verify_tensors(file, *checksums, model);
    check_finite_weights(file, model);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      if (!archive.try_read(kOptimizerKey, optimizer_archive))
        throw Error("it holds no optimizer state, so training cannot resume from it");
      optimizer->load(optimizer_archive);
    }
  } catch (const std::exception& e) {
    const std::string what = one_line_message(e);
    if (what.rfind(file.string() + ": ", 0) == 0) throw Error(what);  // a model file's own errors
    throw Error(fmt::format("{}: cannot load the checkpoint's weights ({})", file.string(), what));
  }
}

void save_model_safetensors(const fs::path& file, PiadeModel& model, const nlohmann::json& meta) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = item.value().detach().cpu();
  for (const auto& item : model->named_buffers()) tensors[item.key()] = item.value().cpu();
  try {
    save_safetensors(file.string(), tensors, {{"piade_config", meta.dump()}, {"format", "pt"}});
  } catch (const std::exception& e) {
    throw Error(one_line_message(e));
  }
}

}  // namespace piade
