// A comparison grid: the file a person writes to compare configurations,
// and its expansion into runs (configuration x class x seed), each keyed by
// a hash of its full configuration. The format, by example:
//
//   # The base: any key of a `piade train` config file.
//   dataset = fmnist
//   epochs = 4
//   loss = mse,ssim
//   [routing]
//   vectors = 2
//
//   [axes]                 # one key per axis, values separated by commas;
//   routing.vectors = 2, 1 # the first value of every axis is the baseline
//   backbone = se_resnet18, resnet18
//   losses = mse, full     # a named set: each value is a section below
//
//   [losses.mse]           # the settings of value "mse" of axis "losses"
//   loss = mse
//   [losses.full]
//   loss = mse,ssim,perceptual
//   loss.perceptual.weight = 0.5
//
//   [compare]
//   classes = 0, 1, 2      # normal classes (MVTec: categories); all = every one
//   seeds = 0, 1
//   metric = image_auroc   # what summary.md compares
//   reference = paper.csv  # published numbers to show beside the runs'
//                          # (reference.h), relative to the grid's folder
//
//   [eval]                 # options of `piade eval` for every run
//   pictures = 4
//
// On a `loss` axis, '+' joins terms: `loss = mse, mse+ssim`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <functional>

#include <boost/program_options/options_description.hpp>

#include "piade/compare/run_result.h"
#include "piade/core/plugin_registry.h"
#include "piade/core/stable_hash.h"

namespace piade::compare {

/// Settings by key, as `piade train` takes them ("epochs", "routing.vectors",
/// "loss.ssim.weight"); sorted, so their text is canonical.
using Settings = std::map<std::string, std::string>;

/// One value of an axis: its name and the settings it stands for.
struct AxisValue {
  std::string name;
  Settings settings;
};

struct Axis {
  std::string name;
  std::vector<AxisValue> values;  ///< values[0] is the baseline's
};

/// The most runs one grid may expand to (axes x classes x seeds): checked
/// before any run is built, so a typo such as `--seeds 1000000000000` is an
/// error instead of memory running out.
inline constexpr uint64_t kMaxGridRuns = 100000;

struct Grid {
  std::string title;     ///< the file's name without its extension
  Settings base;         ///< before axes, class and seed
  std::vector<Axis> axes;
  std::vector<std::string> classes;  ///< {""} when the dataset has none
  std::vector<uint64_t> seeds;
  std::string metric = "image_auroc";
  Settings eval;  ///< `piade eval` options for every run
  /// [compare] reference as written ("" without), and its rows.
  std::string reference_file;
  std::vector<ReferenceValue> reference;
};

/// Overrides from the command line of `piade compare`.
struct GridOverrides {
  std::vector<std::string> set;  ///< --set KEY=VALUE, applied to the base
  std::string seeds;             ///< --seeds N (seeds 0..N-1) or a list "3,4"; "" = the file's
  std::string classes;           ///< --classes LIST or "all"; "" = the file's
};

/// One run: a configuration with one normal class and one seed.
struct RunSpec {
  std::size_t index = 0;  ///< position in the expanded grid
  std::string config;     ///< label: "axis=value" joined by spaces ("base" without axes)
  std::vector<std::pair<std::string, std::string>> axis_values;
  std::string normal_class;
  uint64_t seed = 0;
  Settings train;  ///< every `piade train` setting (normal class and seed included)
  Settings eval;   ///< every `piade eval` setting given
  std::string hash;    ///< 16 hex digits of train and eval settings
  std::string run_id;  ///< folder name: class, seed, label, hash prefix
};

/// What the engine needs of the commands it runs, handed in by the CLI so
/// that the engine includes no CLI header: the option tables of `piade
/// train` and `piade eval`, and their checks of a configuration's settings
/// (words "--key=value", as the commands would receive them; each throws
/// piade::Error naming the option).
struct CommandTables {
  boost::program_options::options_description train;    ///< every option `piade train` takes
  boost::program_options::options_description dataset;  ///< the dataset options (eval repeats them)
  std::function<void(const std::vector<std::string>& args, const PluginRegistry& registry)> check_train;
  std::function<void(const std::vector<std::string>& args)> check_eval;
};

/// Reads a grid file and applies the overrides. Throws piade::Error naming
/// the file and key for a malformed grid.
Grid read_grid(const std::string& file, const GridOverrides& overrides, const CommandTables& commands);

/// The runs of a grid: for each class, seed and configuration (the first
/// axis varying slowest). Every configuration is checked before anything
/// runs, as `piade train` would check it: unknown keys (with a suggestion),
/// unknown plugins (third-party ones found on the plugin path included),
/// plugin parameters against their schemas, and option values.
std::vector<RunSpec> expand_grid(const Grid& grid, const PluginRegistry& registry,
                                 const CommandTables& commands);

/// The comparison of the runs (labels in grid order, the baseline first).
Comparison comparison_of(const Grid& grid, const std::vector<RunSpec>& runs);

/// A hash of the whole grid (every run's hash, in order, and the metric):
/// what shards of one grid share and `merge` checks.
std::string grid_hash(const Grid& grid, const std::vector<RunSpec>& runs);

/// The runs of shard k of n (1 <= k <= n): every n-th run starting at k - 1,
/// so each shard gets a share of every class and configuration.
std::vector<RunSpec> shard_of(const std::vector<RunSpec>& runs, int k, int n);

/// Parses "k/n". Throws piade::Error for anything else or k outside 1..n.
std::pair<int, int> parse_shard(const std::string& text);

/// Run folders keep their names across builds and machines.
using piade::stable_hash;

}  // namespace piade::compare
