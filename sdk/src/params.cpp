#include "piade/sdk/params.h"

#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace piade {
namespace {

const char* type_name(const ParamSet::Value& value) {
  switch (value.index()) {
    case 0: return "an int";
    case 1: return "a float";
    case 2: return "a bool";
    case 3: return "a string";
    case 4: return "an int list";
    default: return "a float list";
  }
}

// The shortest text (15 to 17 significant digits) that reads back as exactly
// `value`: "0.1" as a user types it, not 17 digits' "0.10000000000000001".
std::string float_text(double value) {
  std::ostringstream out;
  for (int precision = 15; precision <= 17; ++precision) {
    out.str("");
    out.precision(precision);
    out << value;
    if (std::strtod(out.str().c_str(), nullptr) == value) break;
  }
  return out.str();
}

std::string item_text(int64_t value) { return std::to_string(value); }
std::string item_text(double value) { return float_text(value); }

template <class T>
std::string join(const std::vector<T>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + item_text(values[i]);
  return out;
}

}  // namespace

void ParamSet::set(const std::string& name, Value value) { values_[name] = std::move(value); }

bool ParamSet::contains(const std::string& name) const { return values_.count(name) != 0; }

const ParamSet::Value& ParamSet::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw std::invalid_argument("parameter '" + name + "' is not set");
  return it->second;
}

template <class T>
static const T& get_as(const ParamSet::Value& value, const std::string& name, const char* wanted) {
  if (const T* v = std::get_if<T>(&value)) return *v;
  throw std::invalid_argument("parameter '" + name + "' is " + type_name(value) + ", not " + wanted);
}

int64_t ParamSet::get_int(const std::string& name) const { return get_as<int64_t>(at(name), name, "an int"); }

double ParamSet::get_float(const std::string& name) const {
  const Value& value = at(name);
  if (const int64_t* v = std::get_if<int64_t>(&value)) return static_cast<double>(*v);
  return get_as<double>(value, name, "a float");
}

bool ParamSet::get_bool(const std::string& name) const { return get_as<bool>(at(name), name, "a bool"); }

const std::string& ParamSet::get_string(const std::string& name) const {
  return get_as<std::string>(at(name), name, "a string");
}

const std::vector<int64_t>& ParamSet::get_int_list(const std::string& name) const {
  return get_as<std::vector<int64_t>>(at(name), name, "an int list");
}

const std::vector<double>& ParamSet::get_float_list(const std::string& name) const {
  return get_as<std::vector<double>>(at(name), name, "a float list");
}

std::string ParamSet::text(const std::string& name) const { return to_text(at(name)); }

std::string to_text(const ParamSet::Value& value) {
  switch (value.index()) {
    case 0: return std::to_string(std::get<int64_t>(value));
    case 1: return float_text(std::get<double>(value));
    case 2: return std::get<bool>(value) ? "true" : "false";
    case 3: return std::get<std::string>(value);
    case 4: return join(std::get<std::vector<int64_t>>(value));
    default: return join(std::get<std::vector<double>>(value));
  }
}

}  // namespace piade
