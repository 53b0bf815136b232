// What every command shares: its keys (command_spec), parsing them with
// help, --show-config and logging, the plugin registry and the runtime
// settings (threads, device).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cli/options.h"
#include "piade/compare/grid.h"
#include "piade/core/plugin_registry.h"
#include "piade/core/trainer.h"
#include "piade/sdk/log.h"

namespace piade {

/// Parses a command's words (cli/options.h), configures logging, and
/// answers --help and --show-config itself: then it returns nothing and the
/// command returns 0. Commands with checkpoint defaults start from the
/// --checkpoint's stored configuration.
std::optional<CommandLine> parse_command(const std::vector<std::string>& args, const CommandSpec& spec);

/// Throws piade::Error for the first positional word of a command that takes none.
void expect_no_positional(const CommandLine& command_line);

/// Scans --plugin-dir, PIADE_PLUGIN_PATH and the built-in plugin directory.
PluginRegistry load_plugins(const CommandLine& command_line);

/// Applies --threads to LibTorch (which otherwise may use one thread).
void apply_threads(const CommandLine& command_line);

/// Parses --device: cpu, cuda, cuda:N, or auto (cuda when available).
torch::Device parse_device(const std::string& text);

/// The training settings the options select. Throws piade::Error naming
/// the option for a bad value.
TrainSettings train_settings(const CommandLine& command_line);

/// What `piade compare`'s grid engine needs of train and eval: their option
/// tables and their checks of a configuration, without loading any data.
compare::CommandTables command_tables();

/// Each command's own keys ([COMMAND] section), with a prefix for `piade
/// config`, which shows them as COMMAND.KEY.
po::options_description plugins_own_options(const std::string& prefix);
po::options_description config_own_options(const std::string& prefix);
po::options_description train_own_options(const std::string& prefix);
po::options_description eval_own_options(const std::string& prefix);
po::options_description score_own_options(const std::string& prefix);
po::options_description export_own_options(const std::string& prefix);
po::options_description bench_own_options(const std::string& prefix);
po::options_description compare_own_options(const std::string& prefix);

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
