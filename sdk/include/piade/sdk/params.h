// Typed plugin parameters. The host turns the user's text into a ParamSet
// once, at the edge, against the component's schema (plugin_abi.h's
// PiadeParamSpec); a plugin reads typed values from it in its constructor,
// so nothing stringly-typed reaches forward().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "piade/sdk/export.h"

namespace piade {

class PIADE_SDK_API ParamSet {
 public:
  /// int, float, bool, string (also a choice), int list, float list.
  using Value = std::variant<int64_t, double, bool, std::string,
                             std::vector<int64_t>, std::vector<double>>;

  void set(const std::string& name, Value value);
  bool contains(const std::string& name) const;

  /// Each getter throws std::invalid_argument naming the parameter when it
  /// is absent or holds another type. A float parameter given as an int
  /// reads as a float.
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  const std::vector<int64_t>& get_int_list(const std::string& name) const;
  const std::vector<double>& get_float_list(const std::string& name) const;

  /// The value as a user would type it ("8,4,2,1", "true", "0.5").
  std::string text(const std::string& name) const;

  const std::map<std::string, Value>& values() const { return values_; }

 private:
  const Value& at(const std::string& name) const;
  std::map<std::string, Value> values_;
};

/// A value as a user would type it and as the host parses it: "8,4,2,1",
/// "true", "0.5" (floats in the shortest text that reads back exactly).
/// ParamSet::text(), the parameter tables derived from Options and
/// print_options() all use this one formatter (options.h).
PIADE_SDK_API std::string to_text(const ParamSet::Value& value);

}  // namespace piade
