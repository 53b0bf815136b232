// What every command shares: warnings, help, the plugin registry and the
// runtime settings (threads, device).
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

#include "cli/options.h"
#include "piade/compare/grid.h"
#include "piade/core/plugin_registry.h"
#include "piade/core/trainer.h"
#include "piade/sdk/log.h"

namespace piade {

/// Prints usage and the options; returns true when --help was given.
bool print_help_if_asked(const CommandLine& command_line, const std::string& usage,
                         const po::options_description& options);

/// Scans --plugin-dir, PIADE_PLUGIN_PATH and the built-in plugin directory.
PluginRegistry load_plugins(const CommandLine& command_line);

/// Applies --threads to LibTorch (which otherwise may use one thread).
void apply_threads(const CommandLine& command_line);

/// Parses --device: cpu, cuda, cuda:N, or auto (cuda when available).
torch::Device parse_device(const std::string& text);

/// Every option `piade train` takes (general, pipeline, dataset, training):
/// what `piade compare` checks a grid's settings against.
po::options_description train_command_options();
/// The training settings the options select. Throws piade::Error naming
/// the option for a bad value.
TrainSettings train_settings(const CommandLine& command_line);
/// Every option `piade eval` takes.
po::options_description eval_command_options();

/// What `piade compare`'s grid engine needs of train and eval: their option
/// tables and their checks of a configuration, without loading any data.
compare::CommandTables command_tables();

namespace commands {
int plugins(const std::vector<std::string>& args);
int config(const std::vector<std::string>& args);
int train(const std::vector<std::string>& args);
int score(const std::vector<std::string>& args);
int eval(const std::vector<std::string>& args);
int export_model(const std::vector<std::string>& args);
int compare(const std::vector<std::string>& args);
int bench(const std::vector<std::string>& args);
}  // namespace commands

}  // namespace piade
