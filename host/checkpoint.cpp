#include "host/checkpoint.h"

#include "piade/sdk/weights.h"

#include <unistd.h>

#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <torch/serialize.h>

namespace piade {
namespace {

constexpr const char* kFileName = "checkpoint.pt";
constexpr const char* kMetaKey = "piade_meta";
constexpr const char* kOptimizerKey = "optimizer";

fs::path temporary_beside(const fs::path& file) {
  return file.parent_path() / fmt::format(".{}.tmp-{}", file.filename().string(), ::getpid());
}

nlohmann::json part_json(const PartConfig& part) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [name, value] : part.params.values()) params[name] = part.params.text(name);
  return {{"name", part.component->name},
          {"version", part.component->plugin->version},
          {"plugin", part.component->plugin->name},
          {"params", params}};
}

PartConfig part_from_json(const PluginRegistry& registry, Kind kind, const nlohmann::json& entry,
                          const std::string& source) {
  const std::string name = entry.at("name").get<std::string>();
  const std::string version = entry.at("version").get<std::string>();
  PartConfig part;
  try {
    part.component = &registry.get(kind, name);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: the checkpoint needs {} '{}' {}: {}", source, kind_name(kind),
                            name, version, e.what()));
  }
  if (part.component->plugin->version != version)
    throw Error(fmt::format("{}: the checkpoint was trained with {} '{}' version {}, but {} has "
                            "version {}; use the plugin version it was trained with",
                            source, kind_name(kind), name, version,
                            part.component->plugin->file.string(), part.component->plugin->version));
  std::map<std::string, std::string> values;
  for (const auto& [key, value] : entry.at("params").items()) values[key] = value.get<std::string>();
  try {
    part.params = resolve_params(part.component->id(), part.component->params, values);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: recorded parameters no longer validate: {}", source, e.what()));
  }
  return part;
}

}  // namespace

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
  return path;
}

nlohmann::json pipeline_to_json(const PipelineConfig& config) {
  nlohmann::json out = {{"backbone", part_json(config.backbone)},
                        {"pooling", part_json(config.pooling)},
                        {"routing", part_json(config.routing)},
                        {"decoder", part_json(config.decoder)},
                        {"loss", nlohmann::json::array()}};
  for (const PartConfig& loss : config.losses) out["loss"].push_back(part_json(loss));
  return out;
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
  const PipelineConfig pipeline = pipeline_from_json(registry, meta.at("pipeline"), file.string());
  const nlohmann::json& image = meta.at("image");
  PiadeModel model(registry, pipeline,
                   ImageShape{image.at("channels").get<int64_t>(), image.at("height").get<int64_t>(),
                              image.at("width").get<int64_t>()},
                   /*restoring=*/true);
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

double checkpoint_threshold(const nlohmann::json& meta) {
  const auto stats = meta.find("score_stats");
  if (stats == meta.end() || !stats->contains("threshold")) return std::nan("");
  return stats->at("threshold").get<double>();
}

void write_file_atomic(const fs::path& file, const std::string& text) {
  const fs::path temporary = temporary_beside(file);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(temporary, ec);
      throw Error(fmt::format("{}: cannot write", file.string()));
    }
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw Error(fmt::format("{}: cannot replace ({})", file.string(), ec.message()));
  }
}

void save_checkpoint(const fs::path& file, PiadeModel& model, torch::optim::Optimizer* optimizer,
                     const nlohmann::json& meta) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  archive.write(kMetaKey, c10::IValue(meta.dump()));
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write(kOptimizerKey, optimizer_archive);
  }
  const fs::path temporary = temporary_beside(file);
  try {
    archive.save_to(temporary.string());
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(temporary, ec);
    throw Error(fmt::format("{}: cannot write the checkpoint ({})", file.string(), e.what()));
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);
  if (ec) throw Error(fmt::format("{}: cannot replace ({})", file.string(), ec.message()));
}

nlohmann::json read_checkpoint_meta(const fs::path& file) {
  torch::serialize::InputArchive archive;
  c10::IValue meta;
  try {
    archive.load_from(file.string(), torch::Device(torch::kCPU));
    if (!archive.try_read(kMetaKey, meta) || !meta.isString())
      throw Error("no piade configuration inside");
    return nlohmann::json::parse(meta.toStringRef());
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: not a readable piade checkpoint ({})", file.string(),
                            std::string(e.what()).substr(0, std::string(e.what()).find('\n'))));
  }
}

void load_checkpoint_state(const fs::path& file, PiadeModel& model,
                           torch::optim::Optimizer* optimizer, const torch::Device& device) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string(), device);
    model->load(archive);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      if (!archive.try_read(kOptimizerKey, optimizer_archive))
        throw Error("it holds no optimizer state, so training cannot resume from it");
      optimizer->load(optimizer_archive);
    }
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: cannot load the checkpoint's weights ({})", file.string(),
                            std::string(e.what()).substr(0, std::string(e.what()).find('\n'))));
  }
}

void save_model_safetensors(const fs::path& file, PiadeModel& model, const nlohmann::json& meta) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = item.value().detach().cpu();
  for (const auto& item : model->named_buffers()) tensors[item.key()] = item.value().cpu();
  try {
    save_safetensors(file.string(), tensors, {{"piade_config", meta.dump()}, {"format", "pt"}});
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

}  // namespace piade
