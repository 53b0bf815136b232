#include "piade/core/pipeline_config.h"

#include <algorithm>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {

std::vector<const PartConfig*> PipelineConfig::parts() const {
  std::vector<const PartConfig*> all = {&backbone, &pooling, &routing, &decoder};
  for (const PartConfig& loss : losses) all.push_back(&loss);
  return all;
}

std::vector<std::pair<Kind, std::string>> PipelineSelection::components() const {
  std::vector<std::pair<Kind, std::string>> selected = {
      {Kind::backbone, backbone}, {Kind::pooling, pooling}, {Kind::routing, routing}, {Kind::decoder, decoder}};
  for (const std::string& loss : losses) selected.emplace_back(Kind::loss, loss);
  return selected;
}

PipelineConfig resolve_pipeline(const PluginRegistry& registry, const PipelineSelection& selection,
                                void (*warn)(const std::string&)) {
  const auto selected = selection.components();
  for (const RejectedPlugin* rejected : registry.rejected_except(selected))
    warn(fmt::format("ignoring plugin {}", rejected->reason));

  // Parameters given for a loss term that is not selected are a mistake
  // (a typo in the name, or a forgotten --loss), never silently dropped.
  std::vector<std::string> loss_owners;
  for (const auto& [kind, name] : selected)
    if (kind == Kind::loss) loss_owners.push_back("loss." + name);
  for (const auto& [owner, params] : selection.params)
    if (owner.rfind("loss.", 0) == 0 &&
        std::find(loss_owners.begin(), loss_owners.end(), owner) == loss_owners.end())
      throw Error(fmt::format("option '{}.{}' sets a parameter of loss '{}', which is not selected "
                              "(--loss {}){}",
                              owner, params.begin()->first, owner.substr(5),
                              fmt::join(selection.losses, ","),
                              did_you_mean(owner, loss_owners)));

  auto resolve = [&](Kind kind, const std::string& name, const std::string& owner) {
    PartConfig part;
    part.component = &registry.get(kind, name);
    auto given = selection.params.find(owner);
    part.params = resolve_params(part.component->id(), part.component->params,
                                 given == selection.params.end()
                                     ? std::map<std::string, std::string>{}
                                     : given->second);
    return part;
  };
  PipelineConfig config;
  for (const auto& [kind, name] : selected) {
    switch (kind) {
      case Kind::backbone: config.backbone = resolve(kind, name, "backbone"); break;
      case Kind::pooling: config.pooling = resolve(kind, name, "pooling"); break;
      case Kind::routing: config.routing = resolve(kind, name, "routing"); break;
      case Kind::decoder: config.decoder = resolve(kind, name, "decoder"); break;
      case Kind::loss:
        for (const PartConfig& earlier : config.losses)
          if (earlier.component->name == name)
            throw Error(fmt::format("--loss: '{}' is given twice", name));
        config.losses.push_back(resolve(kind, name, "loss." + name));
        break;
    }
  }
  if (config.losses.empty()) throw Error("--loss: at least one loss term is needed");
  return config;
}

}  // namespace piade
