#include "piade/core/conformance.h"
#include "piade/core/error.h"

#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "piade/core/contract.h"
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"

namespace piade {
namespace {

using Outcome = ConformanceCheck::Outcome;

std::string geometry_text(const ImageShape& g) { return fmt::format("{}x{}x{}", g.channels, g.height, g.width); }

// The rules that apply to a kind, in the order they are printed.
std::vector<std::string> rules_for(Kind kind) {
  std::vector<std::string> rules = {rule::kBuild, rule::kForward};
  if (kind == Kind::loss) {
    rules.insert(rules.end(), {rule::kPerImageShape, rule::kMapShape, rule::kMapMean});
  } else {
    rules.push_back(rule::kOutputShape);
  }
  rules.insert(rules.end(), {rule::kFinite, rule::kGradientTrainable, rule::kGradientFrozen, rule::kPrettyPrint,
                             rule::kClone, rule::kStateDict});
  return rules;
}

// What each rule came to over the geometries: where it held, where it broke
// first, which geometries were refused at build time.
struct Tally {
  std::map<std::string, std::vector<std::string>> held;
  std::map<std::string, std::string> failure;
  std::vector<std::string> refused;

  void hold(const std::string& rule_name, const ImageShape& geometry) {
    auto& where = held[rule_name];
    const std::string text = geometry_text(geometry);
    if (where.empty() || where.back() != text) where.push_back(text);
  }
  void fail(const std::string& rule_name, const ImageShape& geometry, const std::string& detail) {
    if (!failure.count(rule_name)) failure[rule_name] = geometry_text(geometry) + ", " + detail;
  }
};

std::shared_ptr<torch::nn::Module> part_module(PiadeModel& model, Kind kind) {
  switch (kind) {
    case Kind::backbone: return std::dynamic_pointer_cast<torch::nn::Module>(model->backbone());
    case Kind::pooling: return std::dynamic_pointer_cast<torch::nn::Module>(model->pooling());
    case Kind::routing: return std::dynamic_pointer_cast<torch::nn::Module>(model->routing());
    case Kind::decoder: return std::dynamic_pointer_cast<torch::nn::Module>(model->decoder());
    case Kind::loss: return std::dynamic_pointer_cast<torch::nn::Module>(model->losses().front());
  }
  return nullptr;
}

template <class Part>
std::shared_ptr<Part> as(const std::shared_ptr<torch::nn::Module>& module) {
  auto part = std::dynamic_pointer_cast<Part>(module);
  if (!part) throw Error(fmt::format("the module is not a piade {}", kind_name(Part::kind)));
  return part;
}

// `part` (of `kind`) run in eval mode on what the model's upstream parts
// give for `images`: its outputs, to compare with another instance's.
std::vector<torch::Tensor> outputs_of(PiadeModel& model, Kind kind, const std::shared_ptr<torch::nn::Module>& part,
                                      const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  model->eval();
  part->eval();
  if (kind == Kind::backbone) return {as<Backbone>(part)->forward(images)};
  const torch::Tensor features = model->backbone()->forward(images);
  if (kind == Kind::pooling) return {as<Pooling>(part)->forward(features)};
  const torch::Tensor capsules = model->pooling()->forward(features);
  if (kind == Kind::routing) {
    const torch::Tensor vectors = as<Routing>(part)->forward(capsules);
    return {vectors, as<Routing>(part)->select(vectors).vectors};
  }
  const VectorSelection chosen = model->routing()->select(model->routing()->forward(capsules));
  if (kind == Kind::decoder) return {as<Decoder>(part)->forward(chosen.vectors, features)};
  const torch::Tensor reconstructions = model->decoder()->forward(chosen.vectors, features);
  const LossTerm term = as<Loss>(part)->forward(images, reconstructions);
  return {term.per_image, term.map};
}

// Empty when `a` and `b` agree (NaN equal to NaN), else what differs.
std::string difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].defined() != b[i].defined() || (a[i].defined() && a[i].sizes() != b[i].sizes()))
      return fmt::format("output {} is {} instead of {}", i, shape_text(b[i]), shape_text(a[i]));
    if (!a[i].defined() || torch::allclose(a[i], b[i], 1e-5, 1e-6, /*equal_nan=*/true)) continue;
    const double largest = (a[i] - b[i]).abs().nan_to_num(0, 0, 0).max().item<double>();
    return fmt::format("output {} differs by up to {:.3g}", i, largest);
  }
  return "";
}

// A contract error as the tested component's detail: another part's
// label stays in it, the tested one's is implied by the line.
std::string contract_detail(const ContractError& e, const std::string& label, const char* mode) {
  return fmt::format("{}: {}", mode, e.label() == label ? e.detail() : e.what());
}

void check_geometry(const PluginRegistry& registry, const ComponentInfo& component, const PipelineConfig& config,
                    const ImageShape& geometry, const ConformanceSettings& settings, Tally& tally) {
  const std::string label = component_label(component);
  const Kind kind = component.kind;
  torch::manual_seed(settings.seed);
  std::optional<PiadeModel> built;
  try {
    built.emplace(registry, config, geometry);
  } catch (const std::exception& e) {
    const bool is_default = geometry == settings.default_geometry;
    if (is_default) tally.fail(rule::kBuild, geometry, one_line_message(e) + " (the default geometry must build)");
    else tally.refused.push_back(geometry_text(geometry) + ": " + one_line_message(e));
    return;
  }
  tally.hold(rule::kBuild, geometry);
  PiadeModel& model = *built;
  const std::shared_ptr<torch::nn::Module> part = part_module(model, kind);
  const char* shape_rule = kind == Kind::loss ? rule::kPerImageShape : rule::kOutputShape;

  torch::Generator generator = at::detail::createCPUGenerator(settings.seed);
  const torch::Tensor images =
      torch::rand({settings.batch_size, geometry.channels, geometry.height, geometry.width}, generator) * 2 - 1;

  // What is frozen is what the component built frozen: a part could turn
  // requires_grad on in forward(), which is the bug to find.
  std::vector<std::pair<std::string, torch::Tensor>> trainable, frozen;
  for (const auto& item : part->named_parameters())
    (item.value().requires_grad() ? trainable : frozen).emplace_back(item.key(), item.value());
  for (const auto& item : part->named_buffers()) frozen.emplace_back(item.key(), item.value());

  // Training mode: the model's own first-batch checks, then backward.
  bool backward_done = false;
  try {
    model->train();
    const BatchScores scores = model->score(images);
    for (const char* held : {rule::kForward, shape_rule, rule::kFinite}) tally.hold(held, geometry);
    scores.total.mean().backward();
    backward_done = true;
  } catch (const ContractError& e) {
    tally.fail(e.rule(), geometry, contract_detail(e, label, "training"));
  } catch (const std::exception& e) {
    tally.fail(rule::kForward, geometry, "training: " + one_line_message(e));
  }
  if (backward_done) {
    std::vector<std::string> missing, leaked;
    for (const auto& [name, tensor] : trainable)
      if (!tensor.grad().defined()) missing.push_back("'" + name + "'");
    for (const auto& [name, tensor] : frozen)
      if (tensor.grad().defined()) leaked.push_back("'" + name + "'");
    if (missing.empty()) tally.hold(rule::kGradientTrainable, geometry);
    else
      tally.fail(rule::kGradientTrainable, geometry,
                 fmt::format("no gradient reaches trainable {} of {}", fmt::join(missing, ", "), trainable.size()));
    if (leaked.empty()) tally.hold(rule::kGradientFrozen, geometry);
    else
      tally.fail(rule::kGradientFrozen, geometry,
                 fmt::format("{} built frozen (requires_grad false, or a buffer) got a gradient",
                             fmt::join(leaked, ", ")));
  }

  // Eval mode, with maps.
  try {
    torch::NoGradGuard no_grad;
    model->eval();
    const BatchScores scores = model->score(images, /*with_maps=*/true);
    for (const char* held : {rule::kForward, shape_rule, rule::kFinite}) tally.hold(held, geometry);
    if (kind == Kind::loss) {
      tally.hold(rule::kMapShape, geometry);
      const Reconstruction& r = scores.reconstruction;
      check_map_mean(label, model->losses().front()->forward(r.images, r.reconstructions),
                     settings.map_mean_tolerance);
      tally.hold(rule::kMapMean, geometry);
    }
  } catch (const ContractError& e) {
    tally.fail(e.rule(), geometry, contract_detail(e, label, "eval"));
  } catch (const std::exception& e) {
    tally.fail(rule::kForward, geometry, "eval: " + one_line_message(e));
  }

  try {
    std::ostringstream printed;
    part->pretty_print(printed);
    if (printed.str().empty()) tally.fail(rule::kPrettyPrint, geometry, "pretty_print() printed nothing");
    else tally.hold(rule::kPrettyPrint, geometry);
  } catch (const std::exception& e) {
    tally.fail(rule::kPrettyPrint, geometry, "pretty_print() failed: " + one_line_message(e));
  }

  // The original's outputs, against which the copies are compared; a
  // component whose forward fails here was reported above.
  std::vector<torch::Tensor> expected;
  try {
    expected = outputs_of(model, kind, part, images);
  } catch (const std::exception&) {
    return;
  }
  try {
    const std::shared_ptr<torch::nn::Module> copy = part->clone();
    const std::string differs = difference(expected, outputs_of(model, kind, copy, images));
    if (differs.empty()) tally.hold(rule::kClone, geometry);
    else tally.fail(rule::kClone, geometry, "the clone's outputs differ from the original's: " + differs);
  } catch (const std::exception& e) {
    tally.fail(rule::kClone, geometry, "clone() failed: " + one_line_message(e));
  }
  try {
    // As a checkpoint does (checkpoint.h): the whole model saved, then loaded
    // into one built afresh for restoring, from another seed, so that state
    // kept outside the parameters and buffers shows as a difference.
    torch::serialize::OutputArchive archive;
    model->save(archive);
    std::stringstream buffer;
    archive.save_to(buffer);
    torch::manual_seed(settings.seed + 1);
    PiadeModel fresh(registry, config, geometry, /*restoring=*/true);
    torch::serialize::InputArchive loaded;
    loaded.load_from(buffer);
    fresh->load(loaded);
    const std::string differs = difference(expected, outputs_of(fresh, kind, part_module(fresh, kind), images));
    if (differs.empty()) tally.hold(rule::kStateDict, geometry);
    else
      tally.fail(rule::kStateDict, geometry,
                 "saved and loaded into a fresh instance, its outputs differ: " + differs +
                     " (state outside its registered parameters and buffers?)");
  } catch (const std::exception& e) {
    tally.fail(rule::kStateDict, geometry, "save and load failed: " + one_line_message(e));
  }
}

}  // namespace

std::vector<ConformanceCheck> check_conformance(const PluginRegistry& registry, const ComponentInfo& component,
                                                const ConformanceSettings& settings) {
  const std::string id = component.id();
  std::vector<ConformanceCheck> checks;
  // The default pipeline with this component in its place.
  PipelineSelection selection;
  switch (component.kind) {
    case Kind::backbone: selection.backbone = component.name; break;
    case Kind::pooling: selection.pooling = component.name; break;
    case Kind::routing: selection.routing = component.name; break;
    case Kind::decoder: selection.decoder = component.name; break;
    case Kind::loss: selection.losses = {component.name}; break;
  }
  if (component.kind != Kind::loss) selection.losses = {"mse"};
  PipelineConfig config;
  try {
    config = resolve_pipeline(registry, selection, [](const std::string&) {});
  } catch (const std::exception& e) {
    checks.push_back({id, rule::kBuild, Outcome::fail, "cannot assemble the default pipeline: " + one_line_message(e)});
    return checks;
  }

  Tally tally;
  std::vector<ImageShape> geometries = {settings.default_geometry};
  for (const ImageShape& g : settings.geometries)
    if (!(g == settings.default_geometry)) geometries.push_back(g);
  for (const ImageShape& geometry : geometries) check_geometry(registry, component, config, geometry, settings, tally);

  for (const std::string& rule_name : rules_for(component.kind)) {
    if (const auto broke = tally.failure.find(rule_name); broke != tally.failure.end()) {
      checks.push_back({id, rule_name, Outcome::fail, broke->second});
    } else if (const auto held = tally.held.find(rule_name); held != tally.held.end()) {
      checks.push_back({id, rule_name, Outcome::ok, fmt::format("{}", fmt::join(held->second, ", "))});
    } else {
      checks.push_back({id, rule_name, Outcome::skip, "not reached: an earlier check failed"});
    }
    if (rule_name == rule::kBuild)
      for (const std::string& refused : tally.refused)
        checks.push_back({id, rule::kBuild, Outcome::skip, "refused " + refused});
  }
  return checks;
}

}  // namespace piade
