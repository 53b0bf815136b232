// Command-line and config-file options (Boost.Program_options). Every
// option works in both places; the command line wins. `--set KEY=VALUE`
// accepts any key a config file accepts: run settings (`--set epochs=5`)
// and plugin parameters (`--set routing.vectors=1`, `[routing] vectors=1`
// in the file; `--set loss.ssim.weight=2`, `[loss.ssim] weight=2`).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "piade/core/pipeline_config.h"

namespace piade {

namespace po = boost::program_options;

struct CommandLine {
  po::variables_map values;
  std::vector<std::string> positional;
  /// Plugin parameters as text, by owner: "backbone", "pooling", "routing",
  /// "decoder", or "loss.<name>" for each loss term.
  std::map<std::string, std::map<std::string, std::string>> plugin_params;

  bool has(const std::string& name) const { return values.count(name) && !values[name].defaulted(); }
  template <class T>
  T get(const std::string& name) const { return values[name].as<T>(); }
};

/// --help, --config, --set, --plugin-dir, --threads, --device.
po::options_description common_options();
/// --backbone, --pooling, --routing, --decoder, --loss.
po::options_description pipeline_options();

/// Parses the words after the command name. Unknown options (on the command
/// line or in the config file) are errors with a "did you mean" suggestion,
/// except plugin-parameter keys, which are collected for validation against
/// the plugins' schemas. Throws piade::Error.
CommandLine parse_options(const std::vector<std::string>& args,
                          const po::options_description& options);

/// The loss names chosen with --loss, which may repeat and may hold
/// comma-separated lists ("--loss mse,ssim" == "--loss mse --loss ssim").
std::vector<std::string> loss_names(const CommandLine& command_line);

/// The pipeline the options select (--backbone ... --loss, --set KIND.PARAM).
PipelineSelection pipeline_selection(const CommandLine& command_line);

/// resolve_pipeline (piade/core/pipeline_config.h) for the options' selection.
PipelineConfig resolve_pipeline(const PluginRegistry& registry, const CommandLine& command_line,
                                void (*warn)(const std::string&));

}  // namespace piade
