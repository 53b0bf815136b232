// The built-in plugins of this build, loaded once per test program, and a
// shortcut to build one component from them.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"

namespace piade::test {

/// Every plugin in the build tree's plugin directory (never unloaded).
inline const PluginRegistry& builtin_plugins() {
  static const PluginRegistry* registry = [] {
    auto* loaded = new PluginRegistry();
    loaded->scan({PIADE_BUILD_PLUGIN_DIR});
    return loaded;
  }();
  return *registry;
}

/// Builds Part `name` with `params` (validated against its schema, defaults
/// filled) and the upstream shapes in `context`.
template <class Part>
std::shared_ptr<Part> build_component(const std::string& name,
                                      const std::map<std::string, std::string>& params,
                                      ComponentContext context) {
  const ComponentInfo& component = builtin_plugins().get(Part::kind, name);
  context.params = resolve_params(component.id(), component.params, params);
  return builtin_plugins().create_as<Part>(component, context);
}

}  // namespace piade::test
