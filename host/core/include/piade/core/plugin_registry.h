// Finds, validates and loads plugin libraries, and builds components from
// them. Every problem with a plugin file becomes one line naming the file,
// what differs and how to fix it; nothing a plugin does can abort the host.
#pragma once

#include <cctype>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/dll/shared_library.hpp>
#include <torch/nn/module.h>

#include "piade/core/error.h"
#include "piade/core/param_schema.h"
#include "piade/sdk/component.h"
#include "piade/sdk/plugin_abi.h"

namespace piade {

namespace fs = std::filesystem;

/// A build fingerprint with owned strings (plugin_abi.h's PiadeBuildFingerprint).
struct BuildInfo {
  std::string sdk_version;
  std::string torch_version;
  int cxx11_abi = 0;
  bool with_cuda = false;
  std::string compiler;
};

/// The host's own fingerprint, which every plugin must match.
BuildInfo host_build_info();

struct PluginInfo;

struct ComponentInfo {
  Kind kind = Kind::backbone;
  std::string name;
  std::string doc;
  std::vector<ParamInfo> params;
  PiadeCreateFn create = nullptr;
  const PluginInfo* plugin = nullptr;

  /// "backbone/se_resnet18"
  std::string id() const;
};

struct PluginInfo {
  std::string name;
  std::string version;
  std::string description;
  fs::path file;
  BuildInfo build;
  uint32_t api_version = 0;
  std::vector<ComponentInfo> components;
  std::shared_ptr<boost::dll::shared_library> library;
};

/// A file in the search path that is not a usable plugin.
struct RejectedPlugin {
  fs::path file;
  std::string reason;  ///< one line, starting with the file
  /// The (kind, name) pairs it declares, where its manifest could be read.
  std::vector<std::pair<Kind, std::string>> components;
};

/// Directories searched for plugins, in priority order: the --plugin-dir
/// values, then PIADE_PLUGIN_PATH (colon-separated), then the built-in
/// plugin directory next to `binary`, the file that holds the host code:
/// `<dir>/../plugins` in a build tree, `<dir>/../lib/piade/plugins` when
/// installed. That is the piade executable (<bin>/piade), or the shared
/// library that embeds the host (<lib>/libpiade_detector.so, which passes
/// boost::dll::this_line_location()); empty = the running executable.
std::vector<fs::path> plugin_search_path(const std::vector<fs::path>& plugin_dirs,
                                         const fs::path& binary = {});

class PluginRegistry {
 public:
  explicit PluginRegistry(BuildInfo host = host_build_info());

  /// Loads every "*.so" in each directory (sorted by name); a directory that
  /// does not exist is skipped. Earlier directories win duplicate names.
  void scan(const std::vector<fs::path>& directories);
  /// Validates and loads one file. Never throws for a bad plugin: the file
  /// ends up in plugins() or in rejected().
  void load(const fs::path& file);

  const std::vector<std::unique_ptr<PluginInfo>>& plugins() const { return plugins_; }
  const std::vector<RejectedPlugin>& rejected() const { return rejected_; }

  std::vector<const ComponentInfo*> components(Kind kind) const;
  const ComponentInfo* find(Kind kind, const std::string& name) const;
  /// Like find(), but throws piade::Error: the rejection reason when a
  /// broken file declares (or is named after) the component, otherwise
  /// "unknown backbone 'x', did you mean ...", the reasons of the rejected
  /// files that may provide it and plugin_dir_hint().
  const ComponentInfo& get(Kind kind, const std::string& name) const;
  /// The rejected file that declares the component, is named after it, or
  /// whose file name is `file` (the one a checkpoint recorded; "" for
  /// none); nullptr when there is none.
  const RejectedPlugin* rejected_for(Kind kind, const std::string& name, const std::string& file = "") const;
  /// How the user of this host adds a plugin directory, for messages about
  /// a missing component: by default the command line's "pass --plugin-dir
  /// DIR or set PIADE_PLUGIN_PATH"; an embedding host (piade::Detector)
  /// names its own option.
  const std::string& plugin_dir_hint() const { return plugin_dir_hint_; }
  void set_plugin_dir_hint(std::string hint) { plugin_dir_hint_ = std::move(hint); }
  /// The reasons of the rejected files that may provide a `kind` (those
  /// declaring one, or whose manifest could not be read), one line:
  /// "; 2 plugin libraries were rejected: a.so: ...; b.so: ...", or "".
  std::string rejected_text(Kind kind) const;
  /// Rejected files that do not declare any of `needed`: these deserve a
  /// warning, the needed ones an error (which get() raises).
  std::vector<const RejectedPlugin*> rejected_except(
      const std::vector<std::pair<Kind, std::string>>& needed) const;

  /// Builds a component; the returned module keeps its library loaded.
  /// Throws piade::Error naming the component and file when the factory
  /// fails, returns nothing, or returns an object of another kind.
  std::shared_ptr<torch::nn::Module> create(const ComponentInfo& component,
                                            const ComponentContext& context) const;

  template <class Part>
  std::shared_ptr<Part> create_as(const ComponentInfo& component,
                                  const ComponentContext& context) const {
    if (component.kind != Part::kind)
      throw Error(component.id() + ": is a " + kind_name(component.kind) + ", not a " +
                  kind_name(Part::kind));
    auto module = create(component, context);
    auto part = std::dynamic_pointer_cast<Part>(module);
    if (!part) {
      // The interface's class name: "backbone" -> piade::Backbone.
      std::string interface_name = kind_name(Part::kind);
      interface_name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(interface_name[0])));
      throw Error(component.id() + " (" + component.plugin->file.string() +
                  "): the factory returned an object that does not implement piade::" +
                  interface_name + "; derive the component from that interface");
    }
    return part;
  }

 private:
  void reject(const fs::path& file, std::string reason,
              std::vector<std::pair<Kind, std::string>> components = {});
  BuildInfo host_;
  std::string plugin_dir_hint_ = "pass --plugin-dir DIR or set PIADE_PLUGIN_PATH";
  std::vector<fs::path> seen_;
  std::vector<std::unique_ptr<PluginInfo>> plugins_;
  std::vector<RejectedPlugin> rejected_;
};

}  // namespace piade
