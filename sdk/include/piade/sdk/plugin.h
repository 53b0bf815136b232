// Everything a plugin source needs: the part interfaces, Options bindings
// (options.h), and PIADE_PLUGIN, the one macro that writes the factory glue,
// the manifest and the exported entry point.
//
// Example (a whole plugin; options.h shows an Options struct with fields):
//
//   struct MseLossOptions {
//     PIADE_OPTIONS()  // no options of its own; the host adds `weight`
//   };
//
//   class MseLossImpl : public torch::nn::Cloneable<MseLossImpl>, public piade::Loss {
//    public:
//     using Options = MseLossOptions;
//     explicit MseLossImpl(const piade::ComponentContext& context)
//         : options_(piade::parse<Options>(context.params)) { reset(); }
//     void reset() override {}
//     piade::LossTerm forward(const torch::Tensor& x, const torch::Tensor& y) override;
//    private:
//     Options options_;
//   };
//
//   const PiadeComponentSpec kComponents[] = {
//       piade::component<MseLossImpl>("mse", "pixel-wise mean squared error"),
//   };
//   // The version is piade_add_plugin(... VERSION x.y.z)'s.
//   PIADE_PLUGIN("mse", "mean squared error loss term", kComponents)
#pragma once

// First, before LibTorch's headers, so that a plugin built with the wrong
// C++ ABI stops at this check rather than deep inside torch.
#include <cstddef>  // defines _GLIBCXX_USE_CXX11_ABI (libstdc++)

#include "piade/sdk/version.h"

// A plugin compiled with another _GLIBCXX_USE_CXX11_ABI than LibTorch's
// (e.g. target_compile_options(... -D_GLIBCXX_USE_CXX11_ABI=0)) would pass
// std::string and std::vector of another layout across the plugin boundary;
// the host refuses such a file at load time, this refuses it at compile
// time. An #error rather than a static_assert: the preprocessor stops here,
// before it reads LibTorch's headers.
#if defined(_GLIBCXX_USE_CXX11_ABI) && PIADE_TORCH_CXX11_ABI >= 0 && \
    _GLIBCXX_USE_CXX11_ABI != PIADE_TORCH_CXX11_ABI
#error "this plugin is compiled with another _GLIBCXX_USE_CXX11_ABI than the LibTorch the piade SDK was built with (PIADE_TORCH_CXX11_ABI in piade/sdk/version.h); remove the -D_GLIBCXX_USE_CXX11_ABI you set: LibTorch's TORCH_CXX_FLAGS set the right one"
#endif

#include <cstring>
#include <exception>
#include <memory>
#include <type_traits>

#include <boost/dll/alias.hpp>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>
#include <torch/version.h>

#include "piade/sdk/backbone.h"
#include "piade/sdk/component.h"
#include "piade/sdk/decoder.h"
#include "piade/sdk/loss.h"
#include "piade/sdk/options.h"
#include "piade/sdk/param_spec.h"
#include "piade/sdk/plugin_abi.h"
#include "piade/sdk/pooling.h"
#include "piade/sdk/routing.h"

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
/// turns any exception into a message, so none crosses the C boundary. A
/// failed TORCH_CHECK (c10::Error) gives its message without the C++
/// backtrace LibTorch appends to what(): the host shows one line.
template <class Impl>
void* create(const void* context, char* error, std::size_t error_size) noexcept {
  static_assert(std::is_constructible_v<Impl, const ComponentContext&>,
                "a component is constructed from `const piade::ComponentContext&`");
  try {
    std::shared_ptr<torch::nn::Module> module =
        std::make_shared<Impl>(*static_cast<const ComponentContext*>(context));
    return new std::shared_ptr<torch::nn::Module>(std::move(module));
  } catch (const c10::Error& e) {
    copy_error(e.what_without_backtrace(), error, error_size);
  } catch (const std::exception& e) {
    copy_error(e.what(), error, error_size);
  } catch (...) {
    copy_error("unknown exception", error, error_size);
  }
  return nullptr;
}

template <class T, class = void>
struct HasNestedOptions : std::false_type {};
template <class T>
struct HasNestedOptions<T, std::void_t<typename T::Options>> : std::true_type {};

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
/// Its parameters are `params`, a table written with param::...
template <class Impl, std::size_t N>
PiadeComponentSpec component(const char* name, const char* doc,
                             const PiadeParamSpec (&params)[N]) {
  return PiadeComponentSpec{sizeof(PiadeComponentSpec), detail::kind_of<Impl>(), name, doc,
                            params, static_cast<uint32_t>(N), &detail::create<Impl>};
}
/// Declares one component whose parameters are those of `Impl::Options`
/// (options.h), or a component without parameters if Impl has no Options.
template <class Impl>
PiadeComponentSpec component(const char* name, const char* doc) {
  if constexpr (detail::HasNestedOptions<Impl>::value) {
    using Options = typename Impl::Options;
    static_assert(is_options_v<Options>,
                  "Impl::Options declares its fields with PIADE_OPTIONS(...) (options.h)");
    const ParamTable& table = param_table<Options>();
    return PiadeComponentSpec{sizeof(PiadeComponentSpec), detail::kind_of<Impl>(), name, doc,
                              table.data(), table.size(), &detail::create<Impl>};
  } else {
    return PiadeComponentSpec{sizeof(PiadeComponentSpec), detail::kind_of<Impl>(), name, doc,
                              nullptr, 0, &detail::create<Impl>};
  }
}

}  // namespace piade

// The plugin's version: piade_add_plugin(... VERSION x.y.z) defines it
// (PiadePlugin.cmake), so that it is written in one place, the CMake target.
#ifndef PIADE_PLUGIN_VERSION
#define PIADE_PLUGIN_VERSION \
  piade_plugin_version_is_undefined__give_piade_add_plugin_a_VERSION_or_PIADE_PLUGIN_a_version
#endif

/// Exports a plugin: its NAME, a one-line DESCRIPTION and COMPONENTS, an
/// array of piade::component<...>(...); the version is PIADE_PLUGIN_VERSION,
/// the VERSION given to piade_add_plugin():
///
///   PIADE_PLUGIN("gradient", "image-gradient difference loss term", kComponents)
///
/// The older form PIADE_PLUGIN(NAME, VERSION, DESCRIPTION, COMPONENTS) gives
/// the version in the source instead. Expand it once, at namespace scope, in
/// one source file of the plugin.
#define PIADE_PLUGIN(...) \
  PIADE_PLUGIN_SELECT_(__VA_ARGS__, PIADE_PLUGIN_WITH_VERSION_, PIADE_PLUGIN_FROM_TARGET_, )(__VA_ARGS__)
#define PIADE_PLUGIN_SELECT_(_1, _2, _3, _4, MACRO, ...) MACRO
#define PIADE_PLUGIN_FROM_TARGET_(NAME, DESCRIPTION, COMPONENTS) \
  PIADE_PLUGIN_WITH_VERSION_(NAME, PIADE_PLUGIN_VERSION, DESCRIPTION, COMPONENTS)
#define PIADE_PLUGIN_WITH_VERSION_(NAME, VERSION, DESCRIPTION, COMPONENTS)            \
  namespace {                                                                         \
  const PiadePluginManifest* piade_plugin_entry_impl() noexcept {                     \
    static const PiadePluginManifest manifest = ::piade::detail::make_manifest(       \
        NAME, VERSION, DESCRIPTION, COMPONENTS, PIADE_BUILD_FINGERPRINT);             \
    return &manifest;                                                                 \
  }                                                                                   \
  }                                                                                   \
  BOOST_DLL_ALIAS(piade_plugin_entry_impl, piade_plugin_entry)
