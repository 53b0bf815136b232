#include "cli/options.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/data_options.h"
#include "piade/core/error.h"
#include "piade/core/ini.h"
#include "piade/core/trainer.h"
#include "piade/datasets/limits.h"

namespace piade {
namespace {

const std::set<std::string> kSingleParts = {"backbone", "pooling", "routing", "decoder"};
const std::set<std::string> kMetaKeys = {"help", "config", "set", "show-config", "positional-words"};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

// Keeps the options of `all` named in `names` (every one when empty).
po::options_description pick(const po::options_description& all, const std::vector<std::string>& names) {
  if (names.empty()) return all;
  po::options_description picked;
  for (const std::string& name : names) {
    const auto& options = all.options();
    const auto it = std::find_if(options.begin(), options.end(),
                                 [&](const auto& option) { return option->long_name() == name; });
    if (it == options.end()) throw std::logic_error("no option '" + name + "' to pick");
    picked.add(*it);
  }
  return picked;
}

po::options_description meta_options() {
  po::options_description options;
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE"),
       "read keys from an INI file (what `piade config` prints); the command line wins")
      ("set", po::value<std::vector<std::string>>()->composing()->value_name("KEY=VALUE"),
       "set any key or plugin parameter: --set epochs=5, --set routing.vectors=1, "
       "--set eval.out=DIR")
      ("show-config", "print the configuration this command would use, each value with its source, and exit");
  return options;
}

// A plugin parameter's key: KIND.PARAM or loss.NAME.PARAM -> (owner, param).
std::optional<std::pair<std::string, std::string>> plugin_key(const std::string& key) {
  const std::vector<std::string> parts = split(key, '.');
  if (parts.size() == 2 && kSingleParts.count(parts[0]) && !parts[1].empty()) return std::pair(parts[0], parts[1]);
  if (parts.size() == 3 && parts[0] == "loss" && !parts[1].empty() && !parts[2].empty())
    return std::pair("loss." + parts[1], parts[2]);
  return std::nullopt;
}

// Every key of every command: which are shared and which commands own the
// others. Built once from the commands' specs.
struct Catalogue {
  std::set<std::string> shared;
  std::map<std::string, std::vector<std::string>> owners;  // own key -> commands
  std::vector<std::string> spellings;                      // for suggestions: shared, "cmd.key"
};

const Catalogue& catalogue() {
  static const Catalogue all = [] {
    Catalogue c;
    for (const po::options_description& group : {general_options(), pipeline_options(), dataset_options(),
                                                   training_options(), evaluation_options()})
      for (const auto& option : group.options()) {
        c.shared.insert(option->long_name());
        c.spellings.push_back(option->long_name());
      }
    for (const std::string& command : command_names())
      for (const std::string& key : command_spec(command).own_keys()) {
        c.owners[key].push_back(command);
        c.spellings.push_back(command + "." + key);
        if (!c.shared.count(key)) c.spellings.push_back(key);
      }
    return c;
  }();
  return all;
}

// What a key means to the command parsing it.
struct Resolved {
  enum Kind { mine, plugin, foreign } kind = foreign;
  std::string key;             // mine: the option's name
  std::string owner, param;    // plugin
};

// `in_file`: the key is at the top of a file, where a key that is both
// shared and one command's own (bench's `batch-size`) has its shared
// meaning; the command's own is written in its section.
Resolved resolve_key(const std::string& key, const CommandSpec& spec, const po::options_description& options,
                     const std::string& where, bool in_file = false) {
  // An empty key ("= x" in a file) matches every option in boost's lookup,
  // which throws its own ambiguous_option (found by tests/fuzz/fuzz_ini).
  if (key.empty()) throw Error(fmt::format("{}a line has a value but no key", where));
  const Catalogue& known = catalogue();
  if (!kMetaKeys.count(key) && options.find_nothrow(key, false) != nullptr) {
    if (in_file && known.shared.count(key) && spec.own_keys().count(key)) return {};
    return {Resolved::mine, key, {}, {}};
  }
  const auto unknown = [&](const std::vector<std::string>& candidates) {
    return Error(fmt::format("{}unknown key '{}'{}", where, key, did_you_mean(key, candidates)));
  };
  const auto dot = key.find('.');
  if (dot != std::string::npos) {
    const std::string prefix = key.substr(0, dot), rest = key.substr(dot + 1);
    const std::vector<std::string> commands = command_names();
    if (std::find(commands.begin(), commands.end(), prefix) != commands.end()) {
      const std::set<std::string> own = command_spec(prefix).own_keys();
      if (!own.count(rest)) {
        if (known.shared.count(rest))
          throw Error(fmt::format("{}'{}': '{}' means the same to every command; write it without [{}]", where, key,
                                  rest, prefix));
        std::vector<std::string> spellings;
        for (const std::string& k : own) spellings.push_back(prefix + "." + k);
        throw unknown(spellings);
      }
      if (prefix == spec.name) return {Resolved::mine, rest, {}, {}};
      return {};
    }
    if (const auto plugin = plugin_key(key)) {
      if (!spec.plugin_params) return {};
      return {Resolved::plugin, key, plugin->first, plugin->second};
    }
    throw unknown(known.spellings);
  }
  const auto owners = known.owners.find(key);
  if (spec.name == "config" && owners != known.owners.end() && !known.shared.count(key)) {
    // `piade config` shows every command's keys, so a command's own key
    // must say whose it is unless only one command has it.
    if (owners->second.size() == 1) return {Resolved::mine, owners->second[0] + "." + key, {}, {}};
    std::vector<std::string> spellings;
    for (const std::string& command : owners->second) spellings.push_back(command + "." + key);
    throw Error(fmt::format("{}'{}' is a key of several commands; write one of {}", where, key,
                            fmt::join(spellings, ", ")));
  }
  if (known.shared.count(key) || owners != known.owners.end()) return {};
  throw unknown(known.spellings);
}

// `--set KEY=VALUE` (or --set=KEY=VALUE) assignments, taken out of the words.
std::vector<std::pair<std::string, std::string>> take_set(std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> assignments;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string assignment;
    if (args[i] == "--set") {
      if (i + 1 >= args.size()) throw Error("--set: expects KEY=VALUE, got nothing");
      assignment = args[++i];
    } else if (args[i].rfind("--set=", 0) == 0) {
      assignment = args[i].substr(6);
    } else {
      rest.push_back(args[i]);
      continue;
    }
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("--set: expects KEY=VALUE, got '{}'", assignment));
    assignments.emplace_back(assignment.substr(0, eq), assignment.substr(eq + 1));
  }
  args = rest;
  return assignments;
}

// A bool option with an implicit value (`--skip-bad`) would take the next
// word as its value, so `--skip-bad images/` read "images/" as a bool: such
// a switch only takes a value written `--switch=VALUE`.
bool is_switch(const po::option_description& option) {
  return option.semantic()->min_tokens() == 0 &&
         dynamic_cast<const po::typed_value<bool>*>(option.semantic().get()) != nullptr;
}

std::vector<std::string> bind_switches(std::vector<std::string> args, const po::options_description& options) {
  for (std::string& arg : args) {
    if (arg.rfind("--", 0) != 0 || arg.find('=') != std::string::npos) continue;
    const po::option_description* option = options.find_nothrow(arg.substr(2), false);
    if (option != nullptr && is_switch(*option)) arg += "=true";
  }
  return args;
}

// One place values come from, in the order given.
struct Layer {
  Source source;
  std::vector<std::pair<std::string, std::vector<std::string>>> values;  // key, tokens
};

std::string shown_key(const Source& source, const std::string& key) {
  return source.kind == Source::command_line ? "--" + key : key;
}

// The prefix of an error about a value from `source`.
std::string where_of(const Source& source) {
  switch (source.kind) {
    case Source::command_line: return "";
    case Source::file: return source.where + ": ";
    case Source::set: return "--set: ";
    default: return source.text() + ": ";
  }
}

}  // namespace

std::string Source::text() const {
  switch (kind) {
    case default_value: return "default";
    case checkpoint: return "checkpoint " + where;
    case file: return "file " + where;
    case set: return "--set";
    case command_line: return "command line";
  }
  return "";
}

Source CommandLine::source(const std::string& name) const {
  const auto it = sources.find(name);
  return it == sources.end() ? Source{} : it->second;
}

bool CommandLine::given_by_user(const std::string& name) const {
  const Source::Kind kind = source(name).kind;
  return kind == Source::file || kind == Source::set || kind == Source::command_line;
}

std::set<std::string> CommandSpec::own_keys() const {
  std::set<std::string> keys;
  for (const KeyGroup& group : groups)
    if (group.caption == name)
      for (const auto& option : group.options.options()) keys.insert(option->long_name());
  return keys;
}

po::options_description CommandSpec::all_options() const {
  po::options_description all = meta_options();
  for (const KeyGroup& group : groups) all.add(group.options);
  return all;
}

po::options_description general_options(const std::vector<std::string>& names) {
  po::options_description options;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.add_options()
      ("plugin-dir", po::value<std::vector<std::string>>()->composing()->value_name("DIR"),
       "search this directory for plugins first")
      ("threads", po::value<int>()->default_value(cores)->value_name("N"),
       "CPU threads for LibTorch, all cores unless given (`compare` shares them among its runs)")
      ("device", po::value<std::string>()->default_value("cpu")->value_name("DEVICE"), "cpu, cuda, cuda:N or auto")
      ("amp", po::value<std::string>()->default_value("off")->value_name("MODE"),
       "mixed precision: off, or bf16 (convolutions and matrix products in bfloat16; the loss terms stay fp32)")
      ("progress", po::value<bool>()->default_value(true)->implicit_value(true),
       "a progress bar on a terminal; otherwise, and with --progress=false, one line per epoch or step of work")
      ("log-level", po::value<std::string>()->default_value("info")->value_name("LEVEL"),
       "messages shown and logged: trace, debug, info, warning, error or off")
      ("log-file", po::value<std::string>()->value_name("FILE"),
       "also append every message, with its time, to FILE (and every file --skip-bad skipped)")
      ("quiet,q", po::value<bool>()->default_value(false)->implicit_value(true),
       "show only warnings and errors on the screen (the log file keeps --log-level)");
  return pick(options, names);
}

po::options_description except(const po::options_description& all, const std::set<std::string>& dropped) {
  po::options_description kept;
  for (const auto& option : all.options())
    if (!dropped.count(option->long_name())) kept.add(option);
  return kept;
}

po::options_description pipeline_options() {
  const PipelineSelection paper;  // the defaults live there, once
  po::options_description options;
  options.add_options()
      ("backbone", po::value<std::string>()->default_value(paper.backbone)->value_name("NAME"), "feature extractor")
      ("pooling", po::value<std::string>()->default_value(paper.pooling)->value_name("NAME"), "features to capsules")
      ("routing", po::value<std::string>()->default_value(paper.routing)->value_name("NAME"), "capsules to vectors")
      ("decoder", po::value<std::string>()->default_value(paper.decoder)->value_name("NAME"), "vector to image")
      ("loss", po::value<std::vector<std::string>>()
                   ->composing()
                   ->default_value(paper.losses, fmt::format("{}", fmt::join(paper.losses, ",")))
                   ->value_name("NAMES"),
       "loss terms (repeatable or comma-separated)");
  return options;
}

po::options_description training_options(const std::vector<std::string>& names) {
  const TrainSettings defaults;
  po::options_description options;
  options.add_options()
      ("epochs", po::value<int64_t>()->default_value(defaults.epochs)->value_name("N"), "training epochs")
      ("batch-size", po::value<int64_t>()->default_value(defaults.batch_size)->value_name("N"),
       "images per step (and per forward pass in eval and score)")
      ("lr", po::value<double>()->default_value(defaults.lr)->value_name("X"), "Adam learning rate")
      ("weight-decay", po::value<double>()->default_value(defaults.weight_decay)->value_name("X"), "Adam weight decay")
      ("seed", po::value<uint64_t>()->default_value(defaults.seed)->value_name("N"),
       "seed for the initial weights, the data order, the validation hold-out and every subset (--max-*, pictures)")
      ("checkpoint-every", po::value<int64_t>()->default_value(defaults.checkpoint_every)->value_name("N"),
       "epochs between checkpoints (0 = at the end only)")
      ("val-fraction", po::value<double>()->default_value(defaults.val_fraction)->value_name("F"),
       "hold out this seeded fraction of the normal training images; their loss is logged each epoch (0 = none)")
      ("early-stop", po::value<int64_t>()->default_value(defaults.early_stop)->value_name("N"),
       "stop after N epochs without improvement of the validation loss (the training loss without "
       "--val-fraction) and keep the best epoch's model (0 = never)");
  return pick(options, names);
}

po::options_description evaluation_options(const std::vector<std::string>& names) {
  po::options_description options;
  options.add_options()
      ("checkpoint", po::value<std::string>()->value_name("DIR"),
       "checkpoint directory or file from `piade train`, or a model file from `piade export --format model`")
      ("pictures", po::value<int64_t>()->default_value(8)->value_name("N"),
       "eval: pictures per label (normal, anomalous), the worst errors first; 0 = none")
      ("max-fpr", po::value<double>()->default_value(0.3)->value_name("X"),
       "eval: PRO integration limit (false positive rate)");
  return pick(options, names);
}

std::string value_text(const boost::any& value) {
  if (value.empty()) return "";
  if (const auto* v = boost::any_cast<std::string>(&value)) return *v;
  if (const auto* v = boost::any_cast<bool>(&value)) return *v ? "true" : "false";
  if (const auto* v = boost::any_cast<int>(&value)) return std::to_string(*v);
  if (const auto* v = boost::any_cast<int64_t>(&value)) return std::to_string(*v);
  if (const auto* v = boost::any_cast<uint64_t>(&value)) return std::to_string(*v);
  // The shortest text that reads back to the same double: 0.3, 1e-05.
  if (const auto* v = boost::any_cast<double>(&value)) return fmt::format("{}", *v);
  if (const auto* v = boost::any_cast<std::vector<std::string>>(&value)) return fmt::format("{}", fmt::join(*v, ","));
  return "?";
}

std::vector<std::string> value_texts(const po::variable_value& value) {
  if (value.empty()) return {};
  if (const auto* list = boost::any_cast<std::vector<std::string>>(&value.value())) return *list;
  return {value_text(value.value())};
}

CommandLine parse_options(const std::vector<std::string>& raw_args, const CommandSpec& spec,
                          const CheckpointLayer& checkpoint_layer) {
  CommandLine out;
  out.command = spec.name;
  std::vector<std::string> args = raw_args;
  const auto set_assignments = take_set(args);
  po::options_description options = spec.all_options();
  po::options_description with_words = options;
  with_words.add_options()("positional-words", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("positional-words", -1);

  // Layers, highest priority first.
  std::vector<Layer> layers;
  Layer command_line{{Source::command_line, ""}, {}};
  po::parsed_options parsed(&with_words);
  try {
    parsed = po::command_line_parser(bind_switches(args, options))
                 .options(with_words)
                 .positional(positional)
                 .allow_unregistered()
                 .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                 .run();
  } catch (const po::error& e) {
    throw Error(e.what());
  }
  std::optional<std::string> config_file;
  for (const po::option& option : parsed.options) {
    const std::string& key = option.string_key;
    if (key == "positional-words") {
      out.positional.insert(out.positional.end(), option.value.begin(), option.value.end());
    } else if (key == "help" || key == "show-config") {
      out.values.insert({key, po::variable_value(boost::any(true), false)});
    } else if (key == "config") {
      if (config_file) throw Error("--config: given twice; give one file");
      if (option.value.empty()) throw Error("--config: expects a FILE");
      config_file = option.value.back();
    } else if (!option.unregistered) {
      command_line.values.emplace_back(key, option.value);
    } else if (const auto plugin = plugin_key(key); plugin && spec.plugin_params) {
      if (option.value.empty())
        throw Error(fmt::format("option '{}' needs a value: write --set {}=VALUE", key, key));
      command_line.values.emplace_back(key, option.value);
    } else {
      std::vector<std::string> users;
      for (const std::string& command : command_names())
        if (command != spec.name && command_spec(command).all_options().find_nothrow(key, false))
          users.push_back(command);
      if (!users.empty())
        throw Error(fmt::format("unknown option '--{}': it is a key of {}, not of {} (in a --config file or a "
                                "--set, {} ignores it)",
                                key, fmt::join(users, ", "), spec.name, spec.name));
      std::vector<std::string> names;
      for (const auto& o : options.options()) names.push_back(o->long_name());
      const auto match = closest_match(key, names);
      throw Error(fmt::format("unknown option '--{}'{}", key, match ? fmt::format(", did you mean '--{}'?", *match) : ""));
    }
  }
  layers.push_back(std::move(command_line));

  Layer set_layer{{Source::set, ""}, {}};
  for (const auto& [key, value] : set_assignments) {
    const Resolved resolved = resolve_key(key, spec, options, "--set: ");
    if (resolved.kind == Resolved::foreign) out.foreign_set.push_back(key + "=" + value);
    else set_layer.values.push_back({resolved.key, {value}});
  }
  layers.push_back(std::move(set_layer));

  if (config_file) {
    // Named before opening: opening a FIFO blocks until something writes to it.
    // A missing file is reported below, by the open that fails.
    std::error_code missing;
    if (const std::string problem = regular_file_problem(*config_file);
        !problem.empty() && std::filesystem::exists(*config_file, missing))
      throw Error(fmt::format("--config: '{}' {}", *config_file, problem));
    std::ifstream file(*config_file, std::ios::binary);
    if (!file) throw Error(fmt::format("--config: cannot read '{}'", *config_file));
    std::ostringstream contents;
    contents << file.rdbuf();
    // Repeating a key is a mistake, unless its option collects every value.
    std::istringstream in(ini_text(*config_file, std::move(contents).str(), [&](const std::string& key) {
      // find_nothrow still throws on an ambiguous name (tests/fuzz/fuzz_ini).
      try {
        const po::option_description* option = options.find_nothrow(key.substr(key.rfind('.') + 1), false);
        return option != nullptr && option->semantic()->is_composing();
      } catch (const po::error&) {
        return false;
      }
    }));
    Layer file_layer{{Source::file, *config_file}, {}};
    po::options_description nothing;
    po::parsed_options from_file(&nothing);
    try {
      from_file = po::parse_config_file(in, nothing, true);
    } catch (const po::invalid_config_file_syntax&) {
      // Not its what(): boost's placeholder substitution loops forever on a
      // line that holds "%invalid_line%" (ini_text names such lines first).
      throw Error(fmt::format("{}: a line is not 'key = value', a [section] or a # comment", *config_file));
    } catch (const po::error& e) {
      throw Error(fmt::format("{}: {}", *config_file, e.what()));
    }
    for (const po::option& option : from_file.options) {
      const Resolved resolved = resolve_key(option.string_key, spec, options, *config_file + ": ", true);
      if (resolved.kind == Resolved::foreign) continue;
      // An empty value is a value (`weights =`, as `piade config` prints a
      // plugin's empty default); the schema judges it.
      if (option.value.empty())
        throw Error(fmt::format("{}: '{}' needs a value", *config_file, option.string_key));
      file_layer.values.push_back({resolved.key, option.value});
    }
    layers.push_back(std::move(file_layer));
  }

  // What the user gave, key by key, from the highest layer that has it.
  const auto merged = [&](const std::vector<Layer>& from) {
    std::map<std::string, std::pair<const Layer*, std::vector<std::vector<std::string>>>> chosen;
    for (const Layer& layer : from)
      for (const auto& [key, tokens] : layer.values) {
        auto& entry = chosen[key];
        if (entry.first != nullptr && entry.first != &layer) continue;
        entry.first = &layer;
        entry.second.push_back(tokens);
      }
    return chosen;
  };
  if (spec.checkpoint_defaults && checkpoint_layer) {
    KeyTexts given;
    for (const auto& [key, entry] : merged(layers))
      for (const auto& tokens : entry.second) given[key].insert(given[key].end(), tokens.begin(), tokens.end());
    if (given.count("checkpoint") && !out.values.count("help")) {
      const std::string checkpoint = given.at("checkpoint").back();
      Layer stored{{Source::checkpoint, checkpoint}, {}};
      for (const auto& [key, texts] : checkpoint_layer(checkpoint, given)) {
        const bool mine = options.find_nothrow(key, false) != nullptr && !kMetaKeys.count(key);
        const bool plugin = spec.plugin_params && plugin_key(key).has_value();
        if (!mine && !plugin) continue;
        if (mine && options.find(key, false).semantic()->is_composing()) {
          stored.values.push_back({key, texts});
        } else {
          for (const std::string& text : texts) stored.values.push_back({key, {text}});
        }
      }
      layers.push_back(std::move(stored));
    }
  }

  // Stored key by key so that a bad value names where it came from.
  for (const auto& [key, entry] : merged(layers)) {
    const Layer& layer = *entry.first;
    if (const auto plugin = plugin_key(key); plugin && options.find_nothrow(key, false) == nullptr) {
      if (entry.second.size() > 1)
        throw Error(fmt::format("{}'{}' is given twice", where_of(layer.source), shown_key(layer.source, key)));
      out.plugin_params[plugin->first][plugin->second] = entry.second.front().back();
      out.sources[key] = layer.source;
      continue;
    }
    const po::option_description& description = options.find(key, false);
    std::vector<std::vector<std::string>> given = entry.second;
    if (given.size() > 1 && !description.semantic()->is_composing()) {
      // On the command line the last one wins, as scripts that append a
      // flag expect; in a file or --set a second value is a mistake.
      if (layer.source.kind != Source::command_line)
        throw Error(fmt::format("{}'{}' is given twice", where_of(layer.source), shown_key(layer.source, key)));
      given.erase(given.begin(), given.end() - 1);
    }
    po::parsed_options one(&options);
    for (const auto& tokens : given) {
      po::option option(key, tokens);
      one.options.push_back(option);
    }
    try {
      po::store(one, out.values);
    } catch (const po::error& e) {
      throw Error(fmt::format("{}{}", where_of(layer.source), e.what()));
    }
    out.sources[key] = layer.source;
  }
  po::parsed_options none(&options);
  po::store(none, out.values);  // the defaults
  try {
    po::notify(out.values);
  } catch (const po::error& e) {
    throw Error(e.what());
  }
  return out;
}

std::string help_text(const CommandSpec& spec) {
  std::string text = fmt::format("usage: {}\n", spec.usage);
  const auto line = [&](const po::option_description& option, const std::string& default_note) {
    std::string left = "  ";
    // format_name() is "-q [ --quiet ]" for an option with a short name.
    const std::string formatted = option.format_name();
    if (formatted.size() > 1 && formatted[0] == '-' && formatted[1] != '-') left += formatted.substr(0, 2) + ", ";
    left += "--" + option.long_name();
    std::string note;
    if (is_switch(option)) {
      boost::any on;
      option.semantic()->apply_default(on);
      note = !on.empty() && boost::any_cast<bool>(on) ? fmt::format("on; --{}=false turns it off", option.long_name())
                                                      : "a switch";
    } else {
      if (option.semantic()->max_tokens() > 0) {
        std::string name = option.semantic()->name();
        name = name.substr(0, name.find(' '));
        left += " " + (name == "arg" ? std::string("VALUE") : name);
      }
      boost::any value;
      if (!default_note.empty()) note = "default: " + default_note;
      else if (option.semantic()->apply_default(value)) note = "default: " + value_text(value);
      if (option.semantic()->is_composing()) note += note.empty() ? "repeatable" : ", repeatable";
    }
    std::string description = option.description();
    if (!note.empty()) description += " (" + note + ")";
    // Continuation lines (a list in the description) are indented below it.
    std::string indented;
    for (const char c : description) indented += c == '\n' ? std::string("\n") + std::string(32, ' ') : std::string(1, c);
    return left.size() < 30 ? fmt::format("{:<30}  {}\n", left, indented)
                            : fmt::format("{}\n{:<32}{}\n", left, "", indented);
  };
  for (const KeyGroup& group : spec.groups) {
    if (group.options.options().empty()) continue;
    const bool from_checkpoint = spec.checkpoint_defaults &&
                                 (group.caption == "Data" || group.caption == "Training" || group.caption == "Pipeline");
    text += fmt::format("\n{}:\n", group.caption == spec.name ? "Options of piade " + spec.name : group.caption);
    for (const auto& option : group.options.options()) {
      const bool geometry = option->long_name() == "image-size" || option->long_name() == "resize" ||
                            option->long_name() == "channels";
      text += line(*option, from_checkpoint ? (geometry ? "the checkpoint's (must match it)" : "the checkpoint's") : "");
    }
  }
  text += "\nConfiguration:\n";
  const po::options_description meta = meta_options();
  for (const auto& option : meta.options()) text += line(*option, "");
  return text;
}

std::string configuration_ini(const CommandLine& command_line, const CommandSpec& spec, bool sources) {
  const std::vector<std::string> commands = command_names();
  const auto is_command = [&](const std::string& caption) {
    return std::find(commands.begin(), commands.end(), caption) != commands.end();
  };
  const auto source_note = [&](const std::string& key) {
    return sources ? "  # " + command_line.source(key).text() : std::string();
  };
  const auto key_lines = [&](const KeyGroup& group, const std::string& prefix) {
    std::string text;
    for (const auto& option : group.options.options()) {
      const std::string& key = option->long_name();
      const std::string shown = key.substr(prefix.size());
      const std::vector<std::string> values =
          command_line.values.count(key) ? value_texts(command_line.values[key]) : std::vector<std::string>();
      if (values.empty()) {
        text += fmt::format("# {} =\n", shown);
      } else if (key == "loss") {
        text += fmt::format("{} = {}{}\n", shown, fmt::join(values, ","), source_note(key));
      } else {
        for (const std::string& value : values) text += fmt::format("{} = {}{}\n", shown, value, source_note(key));
      }
    }
    return text;
  };
  std::string text = spec.name == "config"
                         ? "# piade configuration: every command reads it with --config and uses the keys it needs.\n"
                         : fmt::format("# piade configuration of `piade {}`\n", spec.name);
  text += "# A key is also a flag (--KEY VALUE) and a --set KEY=VALUE; [COMMAND] sections hold one command's keys.\n";
  for (const KeyGroup& group : spec.groups)
    if (!is_command(group.caption) && !group.options.options().empty())
      text += fmt::format("\n# {}\n{}", group.caption, key_lines(group, ""));
  for (const auto& [owner, params] : command_line.plugin_params) {
    text += fmt::format("\n[{}]\n", owner);
    for (const auto& [param, value] : params) text += fmt::format("{} = {}{}\n", param, value, source_note(owner + "." + param));
  }
  for (const KeyGroup& group : spec.groups) {
    if (!is_command(group.caption) || group.options.options().empty()) continue;
    if (spec.name == "config" && group.caption == "config") continue;  // --json, --sources: how to print
    const std::string prefix = group.caption == spec.name ? "" : group.caption + ".";
    text += fmt::format("\n[{}]\n{}", group.caption, key_lines(group, prefix));
  }
  return text;
}

nlohmann::json configuration_json(const CommandLine& command_line, const CommandSpec& spec, bool sources) {
  const std::vector<std::string> commands = command_names();
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json source_of = nlohmann::json::object();
  for (const KeyGroup& group : spec.groups) {
    const bool command = std::find(commands.begin(), commands.end(), group.caption) != commands.end();
    if (spec.name == "config" && group.caption == "config") continue;
    std::string name = group.caption;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    nlohmann::json& section = command ? out["commands"][name] : out[name];
    section = nlohmann::json::object();
    const std::string prefix = command && group.caption != spec.name ? group.caption + "." : "";
    for (const auto& option : group.options.options()) {
      const std::string& key = option->long_name();
      const std::vector<std::string> values =
          command_line.values.count(key) ? value_texts(command_line.values[key]) : std::vector<std::string>();
      const std::string shown = key.substr(prefix.size());
      if (values.empty()) section[shown] = nullptr;
      else if (option->semantic()->is_composing()) section[shown] = values;
      else section[shown] = values.front();
      source_of[key] = command_line.source(key).text();
    }
  }
  if (!command_line.plugin_params.empty()) {
    for (const auto& [owner, params] : command_line.plugin_params)
      for (const auto& [param, value] : params) {
        out["params"][owner][param] = value;
        source_of[owner + "." + param] = command_line.source(owner + "." + param).text();
      }
  }
  if (sources) out["sources"] = source_of;
  return out;
}

std::vector<std::string> loss_names(const CommandLine& command_line) {
  std::vector<std::string> names;
  if (!command_line.values.count("loss")) return PipelineSelection().losses;
  for (const std::string& value : command_line.get<std::vector<std::string>>("loss"))
    for (const std::string& name : split(value, ','))
      if (!name.empty()) names.push_back(name);
  return names;
}

PipelineSelection pipeline_selection(const CommandLine& command_line) {
  PipelineSelection selection;
  selection.backbone = command_line.get<std::string>("backbone");
  selection.pooling = command_line.get<std::string>("pooling");
  selection.routing = command_line.get<std::string>("routing");
  selection.decoder = command_line.get<std::string>("decoder");
  selection.losses = loss_names(command_line);
  selection.params = command_line.plugin_params;
  return selection;
}

PipelineConfig resolve_pipeline(const PluginRegistry& registry, const CommandLine& command_line,
                                void (*warn)(const std::string&)) {
  return resolve_pipeline(registry, pipeline_selection(command_line), warn);
}

std::string count_of(int64_t n, const std::string& singular, const std::string& plural) {
  return fmt::format("{} {}", n, n == 1 ? singular : plural.empty() ? singular + "s" : plural);
}

}  // namespace piade
