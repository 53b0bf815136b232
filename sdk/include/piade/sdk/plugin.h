// Everything a plugin source needs: the part interfaces, parameter
// declarations, and PIADE_PLUGIN, the one macro that writes the factory
// glue, the manifest and the exported entry point.
//
// Example (a whole plugin):
//
//   class MseLossImpl : public torch::nn::Cloneable<MseLossImpl>, public piade::Loss {
//    public:
//     explicit MseLossImpl(const piade::ComponentContext& context) { reset(); }
//     void reset() override {}
//     piade::LossTerm forward(const torch::Tensor& x, const torch::Tensor& y) override;
//   };
//
//   const PiadeComponentSpec kComponents[] = {
//       piade::component<MseLossImpl>("mse", "pixel-wise mean squared error"),
//   };
//   PIADE_PLUGIN("mse", "1.0.0", "mean squared error loss term", kComponents)
#pragma once

#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <type_traits>

#include <boost/dll/alias.hpp>
#include <torch/nn/module.h>
#include <torch/version.h>

#include "piade/sdk/backbone.h"
#include "piade/sdk/component.h"
#include "piade/sdk/decoder.h"
#include "piade/sdk/loss.h"
#include "piade/sdk/plugin_abi.h"
#include "piade/sdk/pooling.h"
#include "piade/sdk/routing.h"
#include "piade/sdk/version.h"

#ifndef PIADE_WITH_CUDA
#error "PIADE_WITH_CUDA is undefined: link the target against piade::sdk (find_package(PiadeSDK))"
#endif

#if defined(__clang__)
#define PIADE_COMPILER_ID "clang " __clang_version__
#elif defined(__GNUC__)
#define PIADE_COMPILER_ID "gcc " __VERSION__
#else
#define PIADE_COMPILER_ID "unknown compiler"
#endif

/// The build fingerprint of the translation unit that expands it: a plugin's
/// manifest carries its own, the host compares it with the host's.
#define PIADE_BUILD_FINGERPRINT                                                       \
  PiadeBuildFingerprint {                                                             \
    PIADE_SDK_VERSION, TORCH_VERSION, _GLIBCXX_USE_CXX11_ABI, PIADE_WITH_CUDA, PIADE_COMPILER_ID \
  }

namespace piade {

/// Parameter declarations for a component's schema. Defaults are written as
/// a user would type them; pass param::kRequired for a parameter without one.
namespace param {

inline constexpr const char* kRequired = nullptr;

/// Bounds for a number or every element of a list; both ends inclusive.
struct Range {
  bool has_min = false;
  bool has_max = false;
  double min = 0;
  double max = 0;
  static constexpr Range at_least(double lo) { return {true, false, lo, 0}; }
  static constexpr Range at_most(double hi) { return {false, true, 0, hi}; }
  static constexpr Range between(double lo, double hi) { return {true, true, lo, hi}; }
};

constexpr PiadeParamSpec make(PiadeParamType type, const char* name, const char* default_value,
                              const char* doc, Range range = {}) {
  return PiadeParamSpec{sizeof(PiadeParamSpec), type, name, doc, default_value,
                        range.has_min, range.has_max, range.min, range.max, nullptr, 0};
}
constexpr PiadeParamSpec integer(const char* name, const char* default_value, const char* doc,
                                 Range range = {}) {
  return make(PIADE_PARAM_INT, name, default_value, doc, range);
}
constexpr PiadeParamSpec real(const char* name, const char* default_value, const char* doc,
                              Range range = {}) {
  return make(PIADE_PARAM_FLOAT, name, default_value, doc, range);
}
constexpr PiadeParamSpec boolean(const char* name, const char* default_value, const char* doc) {
  return make(PIADE_PARAM_BOOL, name, default_value, doc);
}
constexpr PiadeParamSpec text(const char* name, const char* default_value, const char* doc) {
  return make(PIADE_PARAM_STRING, name, default_value, doc);
}
constexpr PiadeParamSpec int_list(const char* name, const char* default_value, const char* doc,
                                  Range range = {}) {
  return make(PIADE_PARAM_INT_LIST, name, default_value, doc, range);
}
constexpr PiadeParamSpec real_list(const char* name, const char* default_value, const char* doc,
                                   Range range = {}) {
  return make(PIADE_PARAM_FLOAT_LIST, name, default_value, doc, range);
}
/// A value from a fixed table, declared once: `const char* const kModes[] = {"a", "b"};`
template <std::size_t N>
constexpr PiadeParamSpec choice(const char* name, const char* default_value,
                                const char* const (&choices)[N], const char* doc) {
  PiadeParamSpec spec = make(PIADE_PARAM_CHOICE, name, default_value, doc);
  spec.choices = choices;
  spec.choice_count = static_cast<uint32_t>(N);
  return spec;
}

}  // namespace param

namespace detail {

inline void copy_error(const char* what, char* error, std::size_t error_size) noexcept {
  if (error == nullptr || error_size == 0) return;
  std::strncpy(error, what, error_size - 1);
  error[error_size - 1] = '\0';
}

template <class Impl>
constexpr PiadeComponentKind kind_of() {
  constexpr int interfaces = std::is_base_of_v<Backbone, Impl> + std::is_base_of_v<Pooling, Impl> +
                             std::is_base_of_v<Routing, Impl> + std::is_base_of_v<Decoder, Impl> +
                             std::is_base_of_v<Loss, Impl>;
  static_assert(interfaces == 1,
                "a component implements exactly one of piade::Backbone, Pooling, Routing, "
                "Decoder or Loss");
  if constexpr (std::is_base_of_v<Backbone, Impl>) return PIADE_KIND_BACKBONE;
  else if constexpr (std::is_base_of_v<Pooling, Impl>) return PIADE_KIND_POOLING;
  else if constexpr (std::is_base_of_v<Routing, Impl>) return PIADE_KIND_ROUTING;
  else if constexpr (std::is_base_of_v<Decoder, Impl>) return PIADE_KIND_DECODER;
  else return PIADE_KIND_LOSS;
}

/// The C factory behind every component: builds Impl from the context and
/// turns any exception into a message, so none crosses the C boundary.
template <class Impl>
void* create(const void* context, char* error, std::size_t error_size) noexcept {
  static_assert(std::is_constructible_v<Impl, const ComponentContext&>,
                "a component is constructed from `const piade::ComponentContext&`");
  try {
    std::shared_ptr<torch::nn::Module> module =
        std::make_shared<Impl>(*static_cast<const ComponentContext*>(context));
    return new std::shared_ptr<torch::nn::Module>(std::move(module));
  } catch (const std::exception& e) {
    copy_error(e.what(), error, error_size);
  } catch (...) {
    copy_error("unknown exception", error, error_size);
  }
  return nullptr;
}

template <std::size_t N>
constexpr PiadePluginManifest make_manifest(const char* name, const char* version,
                                            const char* description,
                                            const PiadeComponentSpec (&components)[N],
                                            PiadeBuildFingerprint build) {
  return PiadePluginManifest{sizeof(PiadePluginManifest), PIADE_PLUGIN_ABI_VERSION,
                             PIADE_PLUGIN_API_VERSION, build, name, version, description,
                             components, static_cast<uint32_t>(N)};
}

}  // namespace detail

/// Declares one component of a plugin: Impl is a torch module implementing
/// one of the part interfaces and constructible from a ComponentContext.
template <class Impl, std::size_t N>
PiadeComponentSpec component(const char* name, const char* doc,
                             const PiadeParamSpec (&params)[N]) {
  return PiadeComponentSpec{sizeof(PiadeComponentSpec), detail::kind_of<Impl>(), name, doc,
                            params, static_cast<uint32_t>(N), &detail::create<Impl>};
}
template <class Impl>
PiadeComponentSpec component(const char* name, const char* doc) {
  return PiadeComponentSpec{sizeof(PiadeComponentSpec), detail::kind_of<Impl>(), name, doc,
                            nullptr, 0, &detail::create<Impl>};
}

}  // namespace piade

/// Exports a plugin: NAME and VERSION of the library, a one-line
/// DESCRIPTION, and COMPONENTS, an array of piade::component<...>(...).
/// Expand it once, at namespace scope, in one source file of the plugin.
#define PIADE_PLUGIN(NAME, VERSION, DESCRIPTION, COMPONENTS)                          \
  namespace {                                                                         \
  const PiadePluginManifest* piade_plugin_entry_impl() noexcept {                     \
    static const PiadePluginManifest manifest = ::piade::detail::make_manifest(       \
        NAME, VERSION, DESCRIPTION, COMPONENTS, PIADE_BUILD_FINGERPRINT);             \
    return &manifest;                                                                 \
  }                                                                                   \
  }                                                                                   \
  BOOST_DLL_ALIAS(piade_plugin_entry_impl, piade_plugin_entry)
