#include "piade/compare/grid.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <cstdlib>
#include <optional>
#include <sstream>

#include <boost/program_options/parsers.hpp>
#include <fmt/format.h>

#include "piade/compare/reference.h"
#include "piade/core/error.h"
#include "piade/core/ini.h"

namespace piade::compare {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

// Options compare sets itself for every run, or that say where and how a
// run executes rather than what it computes (given to `piade compare`).
// --nproc and --dist-timeout start and watch data-parallel workers: a run of
// a grid is one process, and compare's --jobs and --threads share the CPUs.
const std::set<std::string> kReservedKeys = {"out",      "resume",     "overwrite", "config",     "set",
                                             "threads",  "progress",   "help",      "show-config", "checkpoint",
                                             "device",   "plugin-dir", "log-file",  "nproc",      "dist-timeout"};
const char* const kCompareKeys[] = {"classes", "seeds", "metric", "reference"};
const char* const kMetrics[] = {"image_auroc", "aupr",      "best_tpr",  "best_tnr",
                                "best_balanced", "f1_max", "pixel_auroc", "pro_auc"};
const char* const kTenClassDatasets[] = {"fmnist", "mnist", "cifar10"};
// The 15 categories of MVTec AD (Bergmann et al., CVPR 2019), as its folders
// are named: the classes a reference file may name for an MVTec grid
// besides the grid's own.
const char* const kMvtecCategories[] = {"bottle",   "cable",     "capsule", "carpet", "grid",
                                        "hazelnut", "leather",   "metal_nut", "pill", "screw",
                                        "tile",     "toothbrush", "transistor", "wood", "zipper"};

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    items.push_back(trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

std::vector<std::string> option_names(const po::options_description& options) {
  std::vector<std::string> names;
  for (const auto& option : options.options()) names.push_back(option->long_name());
  return names;
}

// A key a train config takes: an option, or PART.PARAM / loss.NAME.PARAM
// (whose parameter names are checked later, against the plugins' schemas).
bool is_setting_key(const std::string& key, const std::vector<std::string>& train_keys) {
  if (std::find(train_keys.begin(), train_keys.end(), key) != train_keys.end()) return true;
  const auto dot = key.find('.');
  if (dot == std::string::npos) return false;
  const std::string owner = key.substr(0, dot);
  const std::size_t dots = std::count(key.begin(), key.end(), '.');
  return (dots == 1 && (owner == "backbone" || owner == "pooling" || owner == "routing" || owner == "decoder")) ||
         (dots == 2 && owner == "loss");
}

uint64_t parse_seed(const std::string& text, const std::string& where) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || text[0] == '-')
    throw Error(fmt::format("{}: '{}' is not a seed (a whole number >= 0)", where, text));
  return value;
}

std::vector<uint64_t> parse_seeds(const std::string& text, const std::string& where, bool count_allowed) {
  const std::vector<std::string> items = split_list(text);
  std::vector<uint64_t> seeds;
  if (count_allowed && items.size() == 1) {
    // --seeds N: the first N seeds, 0..N-1 (seed 0 is `piade train`'s default).
    const uint64_t n = parse_seed(items[0], where);
    if (n == 0) throw Error(fmt::format("{}: needs at least 1 seed, got 0", where));
    if (n > kMaxGridRuns)
      throw Error(fmt::format("{}: {} seeds is more runs than a grid may have (at most {}); give fewer", where, n,
                              kMaxGridRuns));
    for (uint64_t s = 0; s < n; ++s) seeds.push_back(s);
    return seeds;
  }
  for (const std::string& item : items) {
    const uint64_t seed = parse_seed(item, where);
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end())
      throw Error(fmt::format("{}: seed {} is listed twice", where, seed));
    seeds.push_back(seed);
  }
  return seeds;
}

// A number written in full ("2", "02", "0.10", "1e-3"), or nothing.
std::optional<double> number_of(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

// Whether two values of a setting axis give the setting the same value: the
// same text, or the same numbers element by element ("2" and "02", "8,4" and
// "8, 4.0"), which the option parsers read alike, so the two would be the
// same runs under two labels.
bool same_setting(const std::string& a, const std::string& b) {
  const std::vector<std::string> x = split_list(a), y = split_list(b);
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] == y[i]) continue;
    const auto u = number_of(x[i]), v = number_of(y[i]);
    if (!u || !v || *u != *v) return false;
  }
  return true;
}

// Refuses a grid of more than kMaxGridRuns runs before any is built, naming
// the factors; the product is taken without overflow.
void check_grid_size(const Grid& grid, const std::string& file) {
  std::vector<std::string> factors;
  uint64_t runs = 1;
  bool over = false;
  const auto times = [&](uint64_t n, const std::string& what) {
    factors.push_back(fmt::format("{} {}", n, what));
    if (n != 0 && runs > kMaxGridRuns / n) over = true;
    runs *= over ? 1 : n;
  };
  for (const Axis& axis : grid.axes) times(axis.values.size(), fmt::format("values of '{}'", axis.name));
  times(grid.classes.size(), "classes");
  times(grid.seeds.size(), "seeds");
  if (over || runs > kMaxGridRuns)
    throw Error(fmt::format("{}: the grid expands to more than {} runs ({}), the most one grid may have; split it "
                            "or give fewer values",
                            file, kMaxGridRuns, fmt::join(factors, " x ")));
}

// The classes of `classes = ...` for the grid's dataset, "all" expanded.
std::vector<std::string> resolve_classes(const std::string& text, const Settings& base, const std::string& where) {
  const std::string dataset = base.count("dataset") ? base.at("dataset") : "fmnist";
  if (dataset == "folder")
    throw Error(fmt::format("{}: a folder dataset has no classes; leave 'classes' out", where));
  const bool ten = std::find(std::begin(kTenClassDatasets), std::end(kTenClassDatasets), dataset) !=
                   std::end(kTenClassDatasets);
  std::vector<std::string> classes;
  if (trim(text) == "all") {
    if (ten) {
      for (int c = 0; c < 10; ++c) classes.push_back(std::to_string(c));
    } else if (dataset == "coil100") {
      for (int c = 1; c <= 100; ++c) classes.push_back(std::to_string(c));
    } else if (dataset == "mvtec") {
      if (!base.count("data-root"))
        throw Error(fmt::format("{}: 'all' MVTec categories are the folders of data-root; set data-root", where));
      for (const auto& entry : fs::directory_iterator(base.at("data-root")))
        if (fs::is_directory(entry.path() / "train" / "good")) classes.push_back(entry.path().filename().string());
      std::sort(classes.begin(), classes.end());
      if (classes.empty())
        throw Error(fmt::format("{}: no category (a folder with train/good) in data-root '{}'", where,
                                base.at("data-root")));
    } else {
      throw Error(fmt::format("{}: 'all' is not defined for dataset '{}'; list the classes", where, dataset));
    }
    return classes;
  }
  for (const std::string& item : split_list(text)) {
    if (item.empty()) throw Error(fmt::format("{}: an empty class in '{}'", where, text));
    if (dataset != "mvtec") {
      std::size_t used = 0;
      int value = -1;
      try {
        value = std::stoi(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != item.size() || value < 0 || (ten && value > 9))
        throw Error(fmt::format("{}: '{}' is not a class of {} ({})", where, item, dataset,
                                ten ? "0..9" : "a COIL-100 object number"));
    }
    if (std::find(classes.begin(), classes.end(), item) != classes.end())
      throw Error(fmt::format("{}: class '{}' is listed twice", where, item));
    classes.push_back(item);
  }
  return classes;
}

// The classes a reference file may name: every class of the dataset (for
// MVTec, its 15 categories and the grid's own).
std::vector<std::string> dataset_classes(const Settings& base, const std::vector<std::string>& grid_classes) {
  const std::string dataset = base.count("dataset") ? base.at("dataset") : "fmnist";
  std::vector<std::string> classes;
  if (std::find(std::begin(kTenClassDatasets), std::end(kTenClassDatasets), dataset) != std::end(kTenClassDatasets)) {
    for (int c = 0; c < 10; ++c) classes.push_back(std::to_string(c));
  } else if (dataset == "coil100") {
    for (int c = 1; c <= 100; ++c) classes.push_back(std::to_string(c));
  } else if (dataset == "mvtec") {
    classes.assign(std::begin(kMvtecCategories), std::end(kMvtecCategories));
  }
  for (const std::string& name : grid_classes)
    if (!name.empty() && std::find(classes.begin(), classes.end(), name) == classes.end()) classes.push_back(name);
  return classes;
}

std::string class_key(const Settings& settings) {
  const auto dataset = settings.find("dataset");
  return dataset != settings.end() && dataset->second == "mvtec" ? "category" : "normal-class";
}

std::string settings_text(const Settings& settings) {
  std::string text;
  for (const auto& [key, value] : settings) text += key + "=" + value + "\n";
  return text;
}

// A file-name-safe version of a label.
std::string safe_name(const std::string& text) {
  std::string name;
  for (char c : text) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '+' || c == '=';
    name += keep ? c : '_';
  }
  if (name.size() > 80) name.resize(80);
  return name.empty() ? "_" : name;
}

// Checks one configuration's settings as `piade train` and `piade eval`
// would, without loading any data.
void check_settings(const Settings& train, const Settings& eval, const std::string& config,
                    const PluginRegistry& registry, const CommandTables& commands) {
  std::vector<std::string> args = {"--out", "unused"};
  for (const auto& [key, value] : train) args.push_back("--" + key + "=" + value);
  const std::string context = config.empty() ? "grid" : fmt::format("configuration '{}'", config);
  try {
    commands.check_train(args, registry);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", context, e.what()));
  }
  std::vector<std::string> eval_args = {"--checkpoint", "unused", "--out", "unused"};
  for (const auto& [key, value] : eval) eval_args.push_back("--" + key + "=" + value);
  try {
    commands.check_eval(eval_args);
  } catch (const Error& e) {
    throw Error(fmt::format("[eval]: {}", e.what()));
  }
}

}  // namespace

Grid read_grid(const std::string& file, const GridOverrides& overrides, const CommandTables& commands) {
  std::ifstream input(file, std::ios::binary);
  if (!input) throw Error(fmt::format("cannot read grid file '{}'", file));
  std::ostringstream contents;
  contents << input.rdbuf();
  std::istringstream in(ini_text(file, std::move(contents).str()));
  po::parsed_options parsed(nullptr);
  try {
    parsed = po::parse_config_file(in, po::options_description(), /*allow_unregistered=*/true);
  } catch (const po::invalid_config_file_syntax&) {
    // Not its what(): boost's placeholder substitution loops forever on a
    // line that holds "%invalid_line%" (ini_text names such lines first).
    throw Error(fmt::format("{}: a line is not 'key = value', a [section] or a # comment", file));
  } catch (const po::error& e) {
    throw Error(fmt::format("{}: {}", file, e.what()));
  }
  const std::vector<std::string> train_keys = option_names(commands.train);
  Grid grid;
  grid.title = fs::path(file).stem().string();

  // First the axes, so that sections of named sets can be told from the base.
  std::vector<std::pair<std::string, std::string>> entries;
  std::map<std::string, std::string> axis_text;
  std::vector<std::string> axis_order;
  for (const po::option& option : parsed.options) {
    const std::string value = option.value.empty() ? "" : trim(option.value.back());
    if (option.string_key.rfind("axes.", 0) == 0) {
      const std::string name = option.string_key.substr(5);
      if (axis_text.count(name)) throw Error(fmt::format("{}: axis '{}' is given twice", file, name));
      axis_text[name] = value;
      axis_order.push_back(name);
    } else {
      entries.emplace_back(option.string_key, value);
    }
  }
  std::map<std::string, std::map<std::string, Settings>> named_values;  // axis -> value -> settings
  std::string classes_text, seeds_text;
  for (const auto& [key, value] : entries) {
    const auto dot = key.find('.');
    const std::string head = key.substr(0, dot);
    if (head == "compare" && dot != std::string::npos) {
      const std::string name = key.substr(dot + 1);
      if (name == "classes") {
        classes_text = value;
      } else if (name == "seeds") {
        seeds_text = value;
      } else if (name == "metric") {
        grid.metric = value;
      } else if (name == "reference") {
        grid.reference_file = value;
      } else {
        throw Error(fmt::format("{}: unknown key '{}' in [compare]{}", file, name,
                                did_you_mean(name, {std::begin(kCompareKeys), std::end(kCompareKeys)})));
      }
    } else if (head == "eval" && dot != std::string::npos) {
      grid.eval[key.substr(dot + 1)] = value;
    } else if (axis_text.count(head) && !is_setting_key(head, train_keys) && dot != std::string::npos) {
      const auto second = key.find('.', dot + 1);
      if (second == std::string::npos)
        throw Error(fmt::format("{}: '{}' is not a setting of a value of axis '{}'; write it in a section [{}.VALUE]",
                                file, key, head, head));
      named_values[head][key.substr(dot + 1, second - dot - 1)][key.substr(second + 1)] = value;
    } else {
      grid.base[key] = value;
    }
  }

  for (const auto& [key, value] : grid.eval)
    if (kReservedKeys.count(key) || key == "seed")
      throw Error(fmt::format("{}: '{}' cannot be set in [eval]: piade compare sets it for each run", file, key));

  // Overrides apply to the base, before anything is checked.
  for (const std::string& assignment : overrides.set) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("--set: expects KEY=VALUE, got '{}'", assignment));
    const std::string key = assignment.substr(0, eq);
    if (axis_text.count(key))
      throw Error(fmt::format("--set {}: '{}' is an axis of the grid; edit the grid file to change its values",
                              assignment, key));
    grid.base[key] = assignment.substr(eq + 1);
  }

  for (const auto& [key, value] : grid.base) {
    if (key == "device" || key == "plugin-dir")
      throw Error(fmt::format("{}: '{}' says where runs execute, not what they compute; give --{} to piade compare",
                              file, key, key));
    if (kReservedKeys.count(key))
      throw Error(fmt::format("{}: '{}' cannot be set in a grid: piade compare sets it for each run", file, key));
    if (key == "seed" || key == "normal-class" || key == "category")
      throw Error(fmt::format("{}: '{}' is set per run; list it in [compare] {} instead", file, key,
                              key == "seed" ? "seeds" : "classes"));
    if (!is_setting_key(key, train_keys))
      throw Error(fmt::format("{}: unknown key '{}'{}", file, key, did_you_mean(key, train_keys)));
  }

  for (const std::string& name : axis_order) {
    Axis axis;
    axis.name = name;
    const bool named = !is_setting_key(name, train_keys);
    if (named && !named_values.count(name))
      throw Error(fmt::format("{}: axis '{}' is neither a setting of `piade train`{} nor a named set (sections "
                              "[{}.VALUE])",
                              file, name, did_you_mean(name, train_keys), name));
    if (kReservedKeys.count(name) || name == "seed" || name == "normal-class" || name == "category")
      throw Error(fmt::format("{}: '{}' cannot be an axis; classes and seeds go in [compare]", file, name));
    for (const std::string& value : split_list(axis_text[name])) {
      if (value.empty()) throw Error(fmt::format("{}: axis '{}' has an empty value in '{}'", file, name, axis_text[name]));
      for (const AxisValue& earlier : axis.values) {
        if (earlier.name == value) throw Error(fmt::format("{}: axis '{}' lists '{}' twice", file, name, value));
        if (!named && same_setting(earlier.name, value))
          throw Error(fmt::format("{}: axis '{}' lists '{}' and '{}', the same value written twice (the runs would "
                                  "repeat); keep one",
                                  file, name, earlier.name, value));
      }
      AxisValue axis_value;
      axis_value.name = value;
      if (named) {
        const auto found = named_values[name].find(value);
        if (found == named_values[name].end())
          throw Error(fmt::format("{}: value '{}' of axis '{}' has no section [{}.{}]", file, value, name, name, value));
        axis_value.settings = found->second;
      } else {
        std::string setting = value;
        if (name == "loss") std::replace(setting.begin(), setting.end(), '+', ',');
        axis_value.settings[name] = setting;
      }
      axis.values.push_back(axis_value);
    }
    if (named)
      for (const auto& [value, settings] : named_values[name]) {
        // A plain reference to capture: a lambda may not capture a structured binding before C++20 (clang refuses).
        const std::string& wanted = value;
        const bool listed = std::any_of(axis.values.begin(), axis.values.end(),
                                        [&](const AxisValue& v) { return v.name == wanted; });
        if (!listed)
          throw Error(fmt::format("{}: section [{}.{}] is not a value of axis '{}' ({})", file, name, value, name,
                                  axis_text[name]));
      }
    grid.axes.push_back(axis);
  }
  // No setting may be decided by two axes: the later would silently win.
  std::map<std::string, std::string> owner;
  for (const Axis& axis : grid.axes)
    for (const AxisValue& value : axis.values)
      for (const auto& [key, setting] : value.settings) {
        if (owner.count(key) && owner[key] != axis.name)
          throw Error(fmt::format("{}: '{}' is set by both axis '{}' and axis '{}'", file, key, owner[key], axis.name));
        owner[key] = axis.name;
      }

  if (std::find(std::begin(kMetrics), std::end(kMetrics), grid.metric) == std::end(kMetrics))
    throw Error(fmt::format("{}: metric '{}' is not one piade eval writes{}", file, grid.metric,
                            did_you_mean(grid.metric, {std::begin(kMetrics), std::end(kMetrics)})));

  const std::string classes_from = overrides.classes.empty() ? classes_text : overrides.classes;
  const std::string dataset = grid.base.count("dataset") ? grid.base.at("dataset") : "fmnist";
  if (classes_from.empty()) {
    if (dataset == "folder") {
      grid.classes = {""};
    } else {
      throw Error(fmt::format("{}: no classes: list the normal classes in [compare] classes (or 'all')", file));
    }
  } else {
    grid.classes = resolve_classes(classes_from, grid.base,
                                   overrides.classes.empty() ? file + ": classes" : "--classes");
  }
  if (!overrides.seeds.empty()) {
    grid.seeds = parse_seeds(overrides.seeds, "--seeds", true);
  } else if (!seeds_text.empty()) {
    grid.seeds = parse_seeds(seeds_text, file + ": seeds", false);
  } else {
    grid.seeds = {0};
  }
  check_grid_size(grid, file);

  if (!grid.reference_file.empty()) {
    const fs::path reference(grid.reference_file);
    // Relative to the grid, and below its folder: compare copies the file
    // beside its copy of the grid (DIR/grid.ini) for --status and Slurm.
    for (const fs::path& part : reference)
      if (part == "..")
        throw Error(fmt::format("{}: reference '{}': give a path below the grid's folder or an absolute one", file,
                                grid.reference_file));
    const fs::path path = reference.is_absolute() ? reference : fs::path(file).parent_path() / reference;
    grid.reference = read_reference(path, dataset_classes(grid.base, grid.classes),
                                    {std::begin(kMetrics), std::end(kMetrics)});
  }
  return grid;
}

std::vector<RunSpec> expand_grid(const Grid& grid, const PluginRegistry& registry, const CommandTables& commands) {
  check_grid_size(grid, "grid '" + grid.title + "'");
  // The configurations: the cartesian product of the axes, first axis slowest.
  struct Config {
    std::string label;
    std::vector<std::pair<std::string, std::string>> axis_values;
    Settings settings;
  };
  std::vector<Config> configs(1);
  for (const Axis& axis : grid.axes) {
    std::vector<Config> next;
    for (const Config& config : configs)
      for (const AxisValue& value : axis.values) {
        Config extended = config;
        extended.label += (extended.label.empty() ? "" : " ") + axis.name + "=" + value.name;
        extended.axis_values.emplace_back(axis.name, value.name);
        for (const auto& [key, setting] : value.settings) extended.settings[key] = setting;
        next.push_back(extended);
      }
    configs = next;
  }
  for (Config& config : configs) {
    if (config.label.empty()) config.label = "base";
    Settings merged = grid.base;
    for (const auto& [key, value] : config.settings) merged[key] = value;
    config.settings = merged;
    check_settings(config.settings, grid.eval, config.label, registry, commands);
  }

  std::vector<RunSpec> runs;
  for (const std::string& normal_class : grid.classes)
    for (uint64_t seed : grid.seeds)
      for (const Config& config : configs) {
        RunSpec run;
        run.index = runs.size();
        run.config = config.label;
        run.axis_values = config.axis_values;
        run.normal_class = normal_class;
        run.seed = seed;
        run.train = config.settings;
        if (!normal_class.empty()) run.train[class_key(run.train)] = normal_class;
        run.train["seed"] = std::to_string(seed);
        run.eval = grid.eval;
        // Where the data lies is no part of what a run computes: shards on
        // machines with the dataset elsewhere still share their runs' hashes.
        Settings hashed = run.train;
        hashed.erase("data-root");
        run.hash = stable_hash(settings_text(hashed) + "[eval]\n" + settings_text(run.eval));
        run.run_id = fmt::format("{}s{}_{}_{}", normal_class.empty() ? "" : "c" + safe_name(normal_class) + "_",
                                 seed, safe_name(config.label), run.hash.substr(0, 8));
        runs.push_back(run);
      }
  return runs;
}

Comparison comparison_of(const Grid& grid, const std::vector<RunSpec>& runs) {
  Comparison comparison;
  comparison.title = grid.title;
  for (const Axis& axis : grid.axes) comparison.axes.push_back(axis.name);
  for (const RunSpec& run : runs)
    if (std::find(comparison.configs.begin(), comparison.configs.end(), run.config) == comparison.configs.end())
      comparison.configs.push_back(run.config);
  comparison.classes = grid.classes;
  comparison.seeds = grid.seeds;
  comparison.metric = grid.metric;
  comparison.reference = grid.reference;
  comparison.reference_file = grid.reference_file;
  return comparison;
}

std::string grid_hash(const Grid& grid, const std::vector<RunSpec>& runs) {
  std::string text = "metric=" + grid.metric + "\n";
  for (const RunSpec& run : runs) text += run.hash + "\n";
  return stable_hash(text);
}

std::vector<RunSpec> shard_of(const std::vector<RunSpec>& runs, int k, int n) {
  std::vector<RunSpec> shard;
  for (std::size_t i = static_cast<std::size_t>(k - 1); i < runs.size(); i += static_cast<std::size_t>(n))
    shard.push_back(runs[i]);
  return shard;
}

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int k = 0, n = 0;
  std::size_t used_k = 0, used_n = 0;
  try {
    if (slash != std::string::npos) {
      k = std::stoi(text.substr(0, slash), &used_k);
      n = std::stoi(text.substr(slash + 1), &used_n);
    }
  } catch (const std::exception&) {
    used_k = 0;
  }
  if (slash == std::string::npos || used_k != slash || used_n != text.size() - slash - 1 || n < 1 || k < 1 || k > n)
    throw Error(fmt::format("--shard: expects k/n with 1 <= k <= n, e.g. 2/4, got '{}'", text));
  return {k, n};
}

}  // namespace piade::compare
