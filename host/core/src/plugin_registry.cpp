#include "piade/core/plugin_registry.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>

#include <dlfcn.h>

#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <fmt/format.h>

#include "piade/sdk/plugin.h"

namespace piade {
namespace {

// ABI 1 manifests are at least this large; fields appended by later API
// versions are read only when the plugin's valid_size covers them.
constexpr std::size_t kMinManifestSize = sizeof(PiadePluginManifest);
constexpr std::size_t kMinComponentSize = sizeof(PiadeComponentSpec);
constexpr std::size_t kMinParamSize = sizeof(PiadeParamSpec);

std::string first_line(std::string text) {
  auto end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return text;
}

std::string rebuild_hint() {
  return fmt::format("rebuild it against piade SDK {} and LibTorch {}", PIADE_SDK_VERSION,
                     TORCH_VERSION);
}

// The checks that need no code from the file: kind of file, readability,
// and an ELF header whose section table fits in the file (Boost's ELF
// reader trusts it). Returns an empty string when the file looks loadable.
std::string check_file(const fs::path& file) {
  std::error_code ec;
  fs::file_status link = fs::symlink_status(file, ec);
  if (ec) return fmt::format("cannot inspect ({})", ec.message());
  if (fs::is_symlink(link)) {
    fs::file_status target = fs::status(file, ec);
    if (ec || !fs::exists(target))
      return fmt::format("broken symbolic link to '{}'; fix or remove the link",
                         fs::read_symlink(file, ec).string());
  }
  fs::file_status status = fs::status(file, ec);
  if (fs::is_directory(status))
    return "is a directory, not a shared library; rename or move it out of the plugin path";
  if (!fs::is_regular_file(status))
    return "not a regular file; move it out of the plugin path";

  std::ifstream in(file, std::ios::binary);
  if (!in)
    return fmt::format("cannot be read ({}); fix its permissions", std::strerror(errno));
  std::array<unsigned char, 64> header{};
  in.read(reinterpret_cast<char*>(header.data()), header.size());
  const std::streamsize got = in.gcount();
  const auto size = fs::file_size(file, ec);
  if (size == 0) return "empty file, not a shared library; remove it from the plugin path";
  if (got < 4 || std::memcmp(header.data(), "\x7f" "ELF", 4) != 0)
    return "not a shared library (no ELF header); remove it from the plugin path";
  if (got < 64 || header[4] != 2 /*ELFCLASS64*/)
    return "truncated or non-64-bit ELF file; rebuild the plugin";
  uint64_t shoff = 0;
  uint16_t shentsize = 0, shnum = 0, type = 0;
  std::memcpy(&type, header.data() + 16, 2);
  std::memcpy(&shoff, header.data() + 40, 8);
  std::memcpy(&shentsize, header.data() + 58, 2);
  std::memcpy(&shnum, header.data() + 60, 2);
  if (type != 3 /*ET_DYN*/) return "an ELF file but not a shared library; rebuild it as one";
  if (shoff + uint64_t(shentsize) * shnum > size)
    return fmt::format("truncated ELF file ({} bytes, its section table ends at byte {}); "
                       "rebuild or re-copy the plugin",
                       size, shoff + uint64_t(shentsize) * shnum);
  return "";
}

BuildInfo to_build_info(const PiadeBuildFingerprint& fp) {
  BuildInfo info;
  info.sdk_version = fp.sdk_version ? fp.sdk_version : "?";
  info.torch_version = fp.torch_version ? fp.torch_version : "?";
  info.cxx11_abi = fp.cxx11_abi;
  info.with_cuda = fp.with_cuda != 0;
  info.compiler = fp.compiler ? fp.compiler : "?";
  return info;
}

// What differs between a plugin's build and the host's, or "".
std::string compare_builds(const BuildInfo& plugin, const BuildInfo& host) {
  if (plugin.torch_version != host.torch_version)
    return fmt::format("built with LibTorch {}, this piade has LibTorch {}; rebuild it against "
                       "this piade's LibTorch",
                       plugin.torch_version, host.torch_version);
  if (plugin.cxx11_abi != host.cxx11_abi)
    return fmt::format("built with _GLIBCXX_USE_CXX11_ABI={}, this piade has "
                       "_GLIBCXX_USE_CXX11_ABI={}; rebuild it with the LibTorch piade uses",
                       plugin.cxx11_abi, host.cxx11_abi);
  if (plugin.with_cuda != host.with_cuda)
    return fmt::format("built with a {} LibTorch, this piade has a {} one; rebuild it against "
                       "this piade's LibTorch",
                       plugin.with_cuda ? "CUDA" : "CPU-only", host.with_cuda ? "CUDA" : "CPU-only");
  return "";
}

bool valid_kind(int32_t kind) { return kind >= PIADE_KIND_BACKBONE && kind <= PIADE_KIND_LOSS; }

// The weight every loss term carries; the host applies it (loss.h).
ParamInfo loss_weight_param() {
  ParamInfo weight;
  weight.name = "weight";
  weight.type = PIADE_PARAM_FLOAT;
  weight.doc = "multiplies this term in the loss and the anomaly score";
  weight.default_value = "1";
  weight.min = 0.0;
  return weight;
}

// Reads the components out of a manifest the checks above accepted; throws
// piade::Error describing the first malformed entry.
std::vector<ComponentInfo> read_components(const PiadePluginManifest& manifest) {
  if (manifest.component_count == 0 || manifest.components == nullptr)
    throw Error("declares no components");
  const uint32_t stride = manifest.components[0].valid_size;
  if (stride < kMinComponentSize)
    throw Error(fmt::format("component entries are {} bytes, ABI {} needs at least {}", stride,
                            PIADE_PLUGIN_ABI_VERSION, kMinComponentSize));
  std::vector<ComponentInfo> components;
  const auto* base = reinterpret_cast<const char*>(manifest.components);
  for (uint32_t i = 0; i < manifest.component_count; ++i) {
    const auto& spec = *reinterpret_cast<const PiadeComponentSpec*>(base + std::size_t(i) * stride);
    if (spec.name == nullptr || *spec.name == '\0')
      throw Error(fmt::format("component {} has no name", i));
    const std::string name = spec.name;
    if (!valid_kind(spec.kind))
      throw Error(fmt::format("component '{}' has unknown kind {}", name, spec.kind));
    if (spec.create == nullptr) throw Error(fmt::format("component '{}' has no factory", name));
    ComponentInfo info;
    info.kind = static_cast<Kind>(spec.kind);
    info.name = name;
    info.doc = spec.doc ? spec.doc : "";
    info.create = spec.create;
    if (spec.param_count > 0) {
      if (spec.params == nullptr || spec.params[0].valid_size < kMinParamSize)
        throw Error(fmt::format("component '{}' has a malformed parameter table", name));
      const uint32_t param_stride = spec.params[0].valid_size;
      const auto* params = reinterpret_cast<const char*>(spec.params);
      for (uint32_t p = 0; p < spec.param_count; ++p) {
        try {
          info.params.push_back(read_param_spec(
              *reinterpret_cast<const PiadeParamSpec*>(params + std::size_t(p) * param_stride)));
        } catch (const Error& e) {
          throw Error(fmt::format("component '{}': {}", name, e.what()));
        }
        for (std::size_t q = 0; q + 1 < info.params.size(); ++q)
          if (info.params[q].name == info.params.back().name)
            throw Error(fmt::format("component '{}' declares parameter '{}' twice", name,
                                    info.params.back().name));
      }
    }
    if (info.kind == Kind::loss &&
        std::none_of(info.params.begin(), info.params.end(),
                     [](const ParamInfo& p) { return p.name == "weight"; }))
      info.params.push_back(loss_weight_param());
    for (const ComponentInfo& earlier : components)
      if (earlier.kind == info.kind && earlier.name == info.name)
        throw Error(fmt::format("declares {} '{}' twice", kind_name(info.kind), info.name));
    components.push_back(std::move(info));
  }
  return components;
}

// Libraries are never unloaded: modules, tensors and autograd nodes that a
// plugin creates point into its code, and static destructors of a torch
// library at exit are a known source of crashes. Every loaded library,
// rejected or not, stays here until the process ends.
std::vector<std::shared_ptr<boost::dll::shared_library>>& loaded_libraries() {
  static auto* libraries = new std::vector<std::shared_ptr<boost::dll::shared_library>>();
  return *libraries;
}

std::mutex& loader_mutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace

BuildInfo host_build_info() { return to_build_info(PIADE_BUILD_FINGERPRINT); }

std::string ComponentInfo::id() const { return std::string(kind_name(kind)) + "/" + name; }

std::vector<fs::path> plugin_search_path(const std::vector<fs::path>& plugin_dirs, const fs::path& binary) {
  std::vector<fs::path> path = plugin_dirs;
  if (const char* env = std::getenv("PIADE_PLUGIN_PATH")) {
    std::stringstream in(env);
    std::string dir;
    while (std::getline(in, dir, ':'))
      if (!dir.empty()) path.emplace_back(dir);
  }
  // <build>/bin/piade and <build>/lib/libpiade_detector.so both have their
  // plugins in <build>/plugins; <prefix>/bin/piade and
  // <prefix>/lib/libpiade_detector.so in <prefix>/lib/piade/plugins.
  const fs::path exe_dir =
      (binary.empty() ? fs::path(boost::dll::program_location().string()) : binary).parent_path();
  path.push_back(exe_dir.parent_path() / "plugins");               // build tree
  path.push_back(exe_dir.parent_path() / "lib" / "piade" / "plugins");  // install tree
  return path;
}

PluginRegistry::PluginRegistry(BuildInfo host) : host_(std::move(host)) {}

void PluginRegistry::scan(const std::vector<fs::path>& directories) {
  for (const fs::path& dir : directories) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".so") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) load(file);
  }
}

void PluginRegistry::reject(const fs::path& file, std::string reason,
                            std::vector<std::pair<Kind, std::string>> components) {
  rejected_.push_back({file, fmt::format("{}: {}", file.string(), reason), std::move(components)});
}

void PluginRegistry::load(const fs::path& file) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(file, ec);
  const fs::path key = ec ? file : canonical;
  if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return;
  seen_.push_back(key);

  if (std::string problem = check_file(file); !problem.empty()) return reject(file, problem);

  // The entry point is looked for without running any of the library's code.
  try {
    boost::dll::library_info info(boost::dll::fs::path(file.string()), true);
    // All exported symbols, not one section: Boost versions name the alias
    // section differently ("boostdll" in 1.74).
    const auto symbols = info.symbols();
    if (std::find(symbols.begin(), symbols.end(), PIADE_PLUGIN_ENTRY_NAME) == symbols.end())
      return reject(file, "not a piade plugin (no 'piade_plugin_entry' entry point); build it "
                          "with PIADE_PLUGIN(...) or move it out of the plugin path");
  } catch (const std::exception& e) {
    return reject(file, fmt::format("not a valid shared library ({}); rebuild the plugin",
                                    first_line(e.what())));
  }

  // RTLD_NOW: an undefined symbol fails here, with a message, instead of
  // crashing the host at the first call that needs it.
  auto library = std::make_shared<boost::dll::shared_library>();
  {
    std::lock_guard<std::mutex> lock(loader_mutex());
    boost::system::error_code load_error;
    library->load(boost::dll::fs::path(file.string()),
                  boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, load_error);
    if (load_error) {
      const char* detail = dlerror();
      return reject(file, fmt::format("cannot be loaded ({}); {}",
                                      detail ? first_line(detail) : load_error.message(),
                                      rebuild_hint()));
    }
    loaded_libraries().push_back(library);
  }

  const PiadePluginManifest* manifest = nullptr;
  try {
    manifest = library->get_alias<const PiadePluginManifest*()>(PIADE_PLUGIN_ENTRY_NAME)();
  } catch (const std::exception& e) {
    return reject(file, fmt::format("entry point failed ({})", first_line(e.what())));
  }
  if (manifest == nullptr)
    return reject(file, "entry point returned no manifest; the plugin failed to initialise");
  // Too short to hold its own version numbers: whatever they read is not
  // what the plugin was built for, so saying "built for ABI N" would mislead.
  if (manifest->valid_size < sizeof(uint32_t) * 3)
    return reject(file, fmt::format("manifest is {} bytes (valid_size), too short to hold its ABI and API versions "
                                    "({} bytes); the plugin is damaged or its entry point is not PIADE_PLUGIN's; {}",
                                    manifest->valid_size, sizeof(uint32_t) * 3, rebuild_hint()));
  if (manifest->abi_version != PIADE_PLUGIN_ABI_VERSION)
    return reject(file, fmt::format("built for plugin ABI {}, this piade has ABI {}; {}",
                                    manifest->abi_version, PIADE_PLUGIN_ABI_VERSION,
                                    rebuild_hint()));
  if (manifest->api_version > PIADE_PLUGIN_API_VERSION)
    return reject(file, fmt::format("built for plugin API {}.{}, this piade supports up to {}.{}; "
                                    "upgrade piade or {}",
                                    manifest->abi_version, manifest->api_version,
                                    PIADE_PLUGIN_ABI_VERSION, PIADE_PLUGIN_API_VERSION,
                                    rebuild_hint()));
  if (manifest->valid_size < kMinManifestSize)
    return reject(file, fmt::format("manifest is {} bytes, plugin ABI {} needs at least {}; {}",
                                    manifest->valid_size, PIADE_PLUGIN_ABI_VERSION,
                                    kMinManifestSize, rebuild_hint()));

  auto plugin = std::make_unique<PluginInfo>();
  plugin->name = manifest->plugin_name ? manifest->plugin_name : "";
  plugin->version = manifest->plugin_version ? manifest->plugin_version : "";
  plugin->description = manifest->description ? manifest->description : "";
  plugin->file = file;
  plugin->build = to_build_info(manifest->build);
  plugin->api_version = manifest->api_version;
  plugin->library = library;
  if (plugin->name.empty()) return reject(file, "manifest has no plugin name; fix the PIADE_PLUGIN(...) call");
  if (plugin->version.empty())
    return reject(file, "manifest has no plugin version; fix the PIADE_PLUGIN(...) call");
  try {
    plugin->components = read_components(*manifest);
  } catch (const Error& e) {
    return reject(file, fmt::format("invalid manifest: {}; fix the plugin's component table", e.what()));
  }
  std::vector<std::pair<Kind, std::string>> declared;
  for (const ComponentInfo& c : plugin->components) declared.emplace_back(c.kind, c.name);

  if (std::string diff = compare_builds(plugin->build, host_); !diff.empty())
    return reject(file, diff, declared);
  for (const ComponentInfo& c : plugin->components)
    if (const ComponentInfo* existing = find(c.kind, c.name))
      return reject(file,
                    fmt::format("duplicate {} '{}', already provided by {} (which is kept, being "
                                "earlier in the plugin path); remove one of the two",
                                kind_name(c.kind), c.name, existing->plugin->file.string()),
                    declared);

  for (ComponentInfo& c : plugin->components) c.plugin = plugin.get();
  plugins_.push_back(std::move(plugin));
}

std::vector<const ComponentInfo*> PluginRegistry::components(Kind kind) const {
  std::vector<const ComponentInfo*> found;
  for (const auto& plugin : plugins_)
    for (const ComponentInfo& c : plugin->components)
      if (c.kind == kind) found.push_back(&c);
  return found;
}

const ComponentInfo* PluginRegistry::find(Kind kind, const std::string& name) const {
  for (const ComponentInfo* c : components(kind))
    if (c->name == name) return c;
  return nullptr;
}

namespace {
bool declares(const RejectedPlugin& rejected, Kind kind, const std::string& name) {
  for (const auto& [k, n] : rejected.components)
    if (k == kind && n == name) return true;
  // A file whose manifest could not be read counts as declaring the
  // component it is named after (the built-in naming: <kind>_<name>.so).
  return rejected.components.empty() &&
         rejected.file.stem().string() == std::string(kind_name(kind)) + "_" + name;
}
}  // namespace

const RejectedPlugin* PluginRegistry::rejected_for(Kind kind, const std::string& name,
                                                   const std::string& file) const {
  for (const RejectedPlugin& rejected : rejected_)
    if (declares(rejected, kind, name) || (!file.empty() && rejected.file.filename() == file)) return &rejected;
  return nullptr;
}

std::string PluginRegistry::rejected_text(Kind kind) const {
  // A rejected library may be the one that provides it (backbone_resnet.so
  // provides se_resnet18): say which were rejected and why.
  std::vector<std::string> reasons;
  for (const RejectedPlugin& rejected : rejected_) {
    bool may_provide = rejected.components.empty();
    for (const auto& [k, n] : rejected.components) may_provide = may_provide || k == kind;
    if (may_provide) reasons.push_back(rejected.reason);
  }
  if (reasons.empty()) return "";
  return fmt::format("; {} plugin {} rejected: {}", reasons.size(),
                     reasons.size() == 1 ? "library was" : "libraries were", fmt::join(reasons, "; "));
}

const ComponentInfo& PluginRegistry::get(Kind kind, const std::string& name) const {
  if (const ComponentInfo* c = find(kind, name)) return *c;
  if (const RejectedPlugin* rejected = rejected_for(kind, name))
    throw Error(fmt::format("{} '{}' is not available: {}", kind_name(kind), name, rejected->reason));
  std::vector<std::string> names;
  for (const ComponentInfo* c : components(kind)) names.push_back(c->name);
  // A likely typo gets its suggestion; any other name may be a plugin that
  // is not in the search path, so the message says how to add one.
  const std::string suggestion = did_you_mean(name, names);
  if (!suggestion.empty())
    throw Error(fmt::format("unknown {} '{}'{}{}", kind_name(kind), name, suggestion, rejected_text(kind)));
  const std::string known = names.empty() ? " (no " + std::string(kind_name(kind)) + " plugins were found)"
                                          : fmt::format(" (available: {})", fmt::join(names, ", "));
  throw Error(fmt::format("unknown {} '{}'{}{}; to add a plugin, {}", kind_name(kind), name, known,
                          rejected_text(kind), plugin_dir_hint_));
}

std::vector<const RejectedPlugin*> PluginRegistry::rejected_except(
    const std::vector<std::pair<Kind, std::string>>& needed) const {
  std::vector<const RejectedPlugin*> others;
  for (const RejectedPlugin& rejected : rejected_) {
    bool is_needed = false;
    for (const auto& [kind, name] : needed) is_needed = is_needed || declares(rejected, kind, name);
    if (!is_needed) others.push_back(&rejected);
  }
  return others;
}

std::shared_ptr<torch::nn::Module> PluginRegistry::create(const ComponentInfo& component,
                                                          const ComponentContext& context) const {
  std::array<char, 1024> error{};
  void* result = component.create(&context, error.data(), error.size());
  const std::string where = fmt::format("{} ({})", component.id(), component.plugin->file.string());
  if (result == nullptr) {
    // one_line(): a plugin built with an older SDK passes a failed
    // TORCH_CHECK's what(), ten lines of backtrace included.
    if (error[0] != '\0') throw Error(fmt::format("{}: failed to build: {}", where, one_line(error.data())));
    throw Error(fmt::format("{}: the factory returned no object and no error; fix the plugin", where));
  }
  std::unique_ptr<std::shared_ptr<torch::nn::Module>> owned(
      static_cast<std::shared_ptr<torch::nn::Module>*>(result));
  if (!*owned)
    throw Error(fmt::format("{}: the factory returned an empty module; fix the plugin", where));
  // The returned pointer shares ownership with a holder that also keeps the
  // plugin's library alive, so the module can never outlive its code.
  struct Holder {
    std::shared_ptr<torch::nn::Module> module;
    std::shared_ptr<boost::dll::shared_library> library;
  };
  auto holder = std::make_shared<Holder>(Holder{*owned, component.plugin->library});
  return std::shared_ptr<torch::nn::Module>(holder, holder->module.get());
}

}  // namespace piade
