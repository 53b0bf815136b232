#include "piade/core/param_schema.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::optional<int64_t> to_int(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(value);
}

std::optional<double> to_float(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(t.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) items.push_back(trim(item));
  if (!text.empty() && text.back() == ',') items.push_back("");
  return items;
}

std::string range_text(const ParamInfo& info) {
  auto bound = [](const std::optional<double>& b, const char* open) {
    return b ? fmt::format("{}", *b) : std::string(open);
  };
  return fmt::format("[{}, {}]", bound(info.min, "-inf"), bound(info.max, "inf"));
}

void check_range(const ParamInfo& info, double value, const std::string& text) {
  if ((info.min && value < *info.min) || (info.max && value > *info.max))
    throw Error(fmt::format("parameter '{}': {} is out of range {}", info.name, text,
                            range_text(info)));
}

int64_t parse_int(const ParamInfo& info, const std::string& text) {
  auto value = to_int(text);
  if (!value)
    throw Error(fmt::format("parameter '{}' expects an int, got '{}'", info.name, text));
  check_range(info, static_cast<double>(*value), trim(text));
  return *value;
}

double parse_float(const ParamInfo& info, const std::string& text) {
  auto value = to_float(text);
  if (!value)
    throw Error(fmt::format("parameter '{}' expects a float, got '{}'", info.name, text));
  check_range(info, *value, trim(text));
  return *value;
}

template <class T, class ParseOne>
std::vector<T> parse_list(const ParamInfo& info, const std::string& text, const char* what,
                          ParseOne parse_one) {
  std::vector<T> values;
  for (const std::string& item : split_list(text)) {
    if (item.empty())
      throw Error(fmt::format("parameter '{}' expects a comma-separated {} list, got '{}'",
                              info.name, what, text));
    values.push_back(parse_one(info, item));
  }
  if (values.empty())
    throw Error(fmt::format("parameter '{}' expects a non-empty {} list", info.name, what));
  return values;
}

}  // namespace

const char* param_type_name(PiadeParamType type) {
  switch (type) {
    case PIADE_PARAM_INT: return "int";
    case PIADE_PARAM_FLOAT: return "float";
    case PIADE_PARAM_BOOL: return "bool";
    case PIADE_PARAM_STRING: return "string";
    case PIADE_PARAM_CHOICE: return "choice";
    case PIADE_PARAM_INT_LIST: return "int-list";
    case PIADE_PARAM_FLOAT_LIST: return "float-list";
  }
  return "unknown";
}

ParamSet::Value parse_param_value(const ParamInfo& info, const std::string& text) {
  switch (info.type) {
    case PIADE_PARAM_INT: return parse_int(info, text);
    case PIADE_PARAM_FLOAT: return parse_float(info, text);
    case PIADE_PARAM_BOOL: {
      const std::string t = trim(text);
      if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
      if (t == "false" || t == "0" || t == "no" || t == "off") return false;
      throw Error(fmt::format("parameter '{}' expects true or false, got '{}'", info.name, text));
    }
    case PIADE_PARAM_STRING: return text;
    case PIADE_PARAM_CHOICE: {
      const std::string t = trim(text);
      for (const std::string& choice : info.choices)
        if (choice == t) return t;
      std::string list;
      for (const std::string& choice : info.choices) list += (list.empty() ? "" : ", ") + choice;
      throw Error(fmt::format("parameter '{}' must be one of {}; got '{}'{}", info.name, list,
                              text, did_you_mean(t, info.choices)));
    }
    case PIADE_PARAM_INT_LIST: return parse_list<int64_t>(info, text, "int", parse_int);
    case PIADE_PARAM_FLOAT_LIST: return parse_list<double>(info, text, "float", parse_float);
  }
  throw Error(fmt::format("parameter '{}' has an unknown type", info.name));
}

ParamInfo read_param_spec(const PiadeParamSpec& spec) {
  if (spec.name == nullptr || *spec.name == '\0') throw Error("a parameter has no name");
  ParamInfo info;
  info.name = spec.name;
  for (char c : info.name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      throw Error(fmt::format("parameter '{}': names use only a-z, 0-9 and _", info.name));
  if (spec.type < PIADE_PARAM_INT || spec.type > PIADE_PARAM_FLOAT_LIST)
    throw Error(fmt::format("parameter '{}': unknown type {}", info.name, spec.type));
  info.type = static_cast<PiadeParamType>(spec.type);
  info.doc = spec.doc ? spec.doc : "";
  if (spec.has_min) info.min = spec.min_value;
  if (spec.has_max) info.max = spec.max_value;
  if (info.type == PIADE_PARAM_CHOICE) {
    if (spec.choices == nullptr || spec.choice_count == 0)
      throw Error(fmt::format("parameter '{}': a choice without choices", info.name));
    for (uint32_t i = 0; i < spec.choice_count; ++i) {
      if (spec.choices[i] == nullptr)
        throw Error(fmt::format("parameter '{}': choice {} is null", info.name, i));
      info.choices.emplace_back(spec.choices[i]);
    }
  }
  if (spec.default_value != nullptr) {
    info.default_value = spec.default_value;
    try {
      parse_param_value(info, *info.default_value);
    } catch (const Error& e) {
      throw Error(fmt::format("default value is invalid: {}", e.what()));
    }
  }
  return info;
}

ParamSet resolve_params(const std::string& owner, const std::vector<ParamInfo>& schema,
                        const std::map<std::string, std::string>& user_values) {
  std::vector<std::string> names;
  for (const ParamInfo& info : schema) names.push_back(info.name);
  for (const auto& [key, value] : user_values) {
    bool known = false;
    for (const std::string& name : names) known = known || name == key;
    if (!known) {
      std::string hint = did_you_mean(key, names);
      if (hint.empty())
        hint = names.empty() ? " (it takes no parameters)"
                             : fmt::format(" (it takes: {})", fmt::join(names, ", "));
      throw Error(fmt::format("{}: unknown parameter '{}'{}", owner, key, hint));
    }
  }
  ParamSet params;
  for (const ParamInfo& info : schema) {
    auto given = user_values.find(info.name);
    try {
      if (given != user_values.end()) {
        params.set(info.name, parse_param_value(info, given->second));
      } else if (info.default_value) {
        params.set(info.name, parse_param_value(info, *info.default_value));
      } else {
        throw Error(fmt::format("missing required parameter '{}' ({})", info.name, info.doc));
      }
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", owner, e.what()));
    }
  }
  return params;
}

}  // namespace piade
