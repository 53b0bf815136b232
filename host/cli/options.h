// One configuration for every command (Boost.Program_options).
//
// Every key piade knows is declared once, in a group: General, Pipeline,
// Data, Training and Evaluation keys mean the same to every command that
// uses them and are written at the top of an INI file; a key whose meaning
// is one command's own (`out`, bench's `image-size`, ...) lives in that
// command's section (`[train] out = runs/t1`). A key works in three places,
// which mean the same: the command line (`--epochs 5`), `--set epochs=5`
// and a `--config` file (`epochs = 5`); plugin parameters are keys too
// (`--set routing.vectors=1`, `[routing] vectors = 1`).
//
// A command uses the keys it needs and ignores the keys of other commands
// in a file or a --set, so one file (what `piade config` prints) serves
// train, eval, score and the rest; a key no command knows is an error with
// a suggestion. Priority: command line, then --config file, then (eval,
// score, export, config) the checkpoint's stored configuration, then the
// default. Each key remembers where its value came from.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <functional>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "piade/core/pipeline_config.h"

namespace piade {

namespace po = boost::program_options;

/// A titled group of keys, as `--help` and `piade config` show them.
struct KeyGroup {
  std::string caption;  ///< "Training", or the command's name for its own keys
  po::options_description options;
};

/// What one command takes.
struct CommandSpec {
  std::string name;   ///< "train"
  std::string usage;  ///< the synopsis `--help` prints
  /// Its own keys first (the `[name]` section of a file), then the shared
  /// groups it uses, each holding only the keys it uses.
  std::vector<KeyGroup> groups;
  bool plugin_params = false;  ///< takes plugin parameters (KIND.PARAM)
  /// Keys left unset come from --checkpoint's stored configuration (eval,
  /// score, export, config); their help says "default: the checkpoint's".
  bool checkpoint_defaults = false;
  /// The keys (in `groups`) that are the command's own.
  std::set<std::string> own_keys() const;
  /// Every key in `groups`, as one description, plus --help, --config,
  /// --set and --show-config.
  po::options_description all_options() const;
};

/// Where a value came from.
struct Source {
  enum Kind { default_value, checkpoint, file, set, command_line } kind = default_value;
  std::string where;  ///< the file or checkpoint
  std::string text() const;  ///< "default", "file c.ini", "--set", ...
};

struct CommandLine {
  std::string command;  ///< the command's name
  po::variables_map values;
  std::vector<std::string> positional;
  /// Plugin parameters as text, by owner: "backbone", "pooling", "routing",
  /// "decoder", or "loss.<name>" for each loss term.
  std::map<std::string, std::map<std::string, std::string>> plugin_params;
  std::map<std::string, Source> sources;  ///< of keys and plugin parameters ("routing.vectors")
  /// --set assignments of keys this command does not use (KEY=VALUE), in
  /// order: `piade compare` passes them on to its grid.
  std::vector<std::string> foreign_set;

  /// True when the user gave the key (command line, file or checkpoint).
  bool has(const std::string& name) const { return values.count(name) && !values[name].defaulted(); }
  /// True when the key's value came from the command line or a file (not
  /// from a checkpoint or the default).
  bool given_by_user(const std::string& name) const;
  template <class T>
  T get(const std::string& name) const { return values[name].as<T>(); }
  Source source(const std::string& name) const;
};

/// General keys: plugin-dir, threads, device, amp, progress, log-level,
/// log-file, quiet. `names` picks some (all when empty).
po::options_description general_options(const std::vector<std::string>& names = {});
/// `all` without the keys named in `dropped`.
po::options_description except(const po::options_description& all, const std::set<std::string>& dropped);
/// backbone, pooling, routing, decoder, loss.
po::options_description pipeline_options();
/// epochs, batch-size, lr, weight-decay, seed, checkpoint-every,
/// val-fraction, early-stop (defaults: TrainSettings, the paper's Table 1).
po::options_description training_options(const std::vector<std::string>& names = {});
/// checkpoint, pictures, max-fpr.
po::options_description evaluation_options(const std::vector<std::string>& names = {});

/// Every command's keys (defined with the commands, host/cli/cli.cpp).
const CommandSpec& command_spec(const std::string& name);
std::vector<std::string> command_names();

/// Key -> values as text (several for a repeatable key).
using KeyTexts = std::map<std::string, std::vector<std::string>>;

/// For a command with checkpoint defaults: the checkpoint's stored
/// configuration, given the --checkpoint the user chose and the keys the
/// user gave (command line and file); keys the command does not use are
/// ignored, keys the user gave win.
using CheckpointLayer = std::function<KeyTexts(const std::string& checkpoint, const KeyTexts& given)>;

/// Parses the words after the command name against the command's keys,
/// then the --config file, then, for a command with checkpoint defaults,
/// the `checkpoint_layer`. Throws piade::Error for an unknown key (with a
/// suggestion), a value of the wrong type, or a key given twice in one
/// place.
CommandLine parse_options(const std::vector<std::string>& args, const CommandSpec& spec,
                          const CheckpointLayer& checkpoint_layer = nullptr);

/// The text of a key's value, as typed (0.3, not 0.29999999999999999);
/// one entry per value of a repeatable key, none for an unset key.
std::vector<std::string> value_texts(const po::variable_value& value);
std::string value_text(const boost::any& value);

/// `--help`: the usage, then each group with its keys, their value names,
/// defaults as typed (or "the checkpoint's"), switches as switches.
std::string help_text(const CommandSpec& spec);

/// The command's keys and their values as an INI file that --config reads
/// back: shared keys on top, grouped and commented, own keys in the
/// command's section, plugin parameters in theirs; unset keys as comments;
/// with `sources`, each line ends with "# <source>".
std::string configuration_ini(const CommandLine& command_line, const CommandSpec& spec, bool sources);
/// The same as JSON: {"<group>": {key: value}, ..., "sources": {key: source}}.
nlohmann::json configuration_json(const CommandLine& command_line, const CommandSpec& spec, bool sources);

/// The loss names chosen with --loss, which may repeat and may hold
/// comma-separated lists ("--loss mse,ssim" == "--loss mse --loss ssim").
std::vector<std::string> loss_names(const CommandLine& command_line);

/// The pipeline the options select (--backbone ... --loss, --set KIND.PARAM).
PipelineSelection pipeline_selection(const CommandLine& command_line);

/// resolve_pipeline (piade/core/pipeline_config.h) for the options' selection.
PipelineConfig resolve_pipeline(const PluginRegistry& registry, const CommandLine& command_line,
                                void (*warn)(const std::string&));

/// "1 epoch", "2 epochs"; "1 class", "3 classes".
std::string count_of(int64_t n, const std::string& singular, const std::string& plural = "");

}  // namespace piade
