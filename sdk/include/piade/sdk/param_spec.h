// Parameter specs: the rows of a component's parameter table in the
// manifest (plugin_abi.h's PiadeParamSpec). A plugin normally derives them
// from its Options struct (options.h); these are the building blocks, and
// the way to write a table by hand (e.g. a parameter without a default).
#pragma once

#include <cstddef>
#include <cstdint>

#include "piade/sdk/plugin_abi.h"

namespace piade {

/// Parameter declarations for a component's schema. Defaults are written as
/// a user would type them; pass param::kRequired for a parameter without one.
namespace param {

inline constexpr const char* kRequired = nullptr;

/// Bounds for a number or every element of a list; both ends inclusive.
struct Range {
  bool has_min = false;
  bool has_max = false;
  double min = 0;
  double max = 0;
  static constexpr Range at_least(double lo) { return {true, false, lo, 0}; }
  static constexpr Range at_most(double hi) { return {false, true, 0, hi}; }
  static constexpr Range between(double lo, double hi) { return {true, true, lo, hi}; }
};

constexpr PiadeParamSpec make(PiadeParamType type, const char* name, const char* default_value,
                              const char* doc, Range range = {}) {
  return PiadeParamSpec{sizeof(PiadeParamSpec), type, name, doc, default_value,
                        range.has_min, range.has_max, range.min, range.max, nullptr, 0};
}
constexpr PiadeParamSpec integer(const char* name, const char* default_value, const char* doc,
                                 Range range = {}) {
  return make(PIADE_PARAM_INT, name, default_value, doc, range);
}
constexpr PiadeParamSpec real(const char* name, const char* default_value, const char* doc,
                              Range range = {}) {
  return make(PIADE_PARAM_FLOAT, name, default_value, doc, range);
}
constexpr PiadeParamSpec boolean(const char* name, const char* default_value, const char* doc) {
  return make(PIADE_PARAM_BOOL, name, default_value, doc);
}
constexpr PiadeParamSpec text(const char* name, const char* default_value, const char* doc) {
  return make(PIADE_PARAM_STRING, name, default_value, doc);
}
constexpr PiadeParamSpec int_list(const char* name, const char* default_value, const char* doc,
                                  Range range = {}) {
  return make(PIADE_PARAM_INT_LIST, name, default_value, doc, range);
}
constexpr PiadeParamSpec real_list(const char* name, const char* default_value, const char* doc,
                                   Range range = {}) {
  return make(PIADE_PARAM_FLOAT_LIST, name, default_value, doc, range);
}
/// A value from a fixed table, declared once: `const char* const kModes[] = {"a", "b"};`
template <std::size_t N>
constexpr PiadeParamSpec choice(const char* name, const char* default_value,
                                const char* const (&choices)[N], const char* doc) {
  PiadeParamSpec spec = make(PIADE_PARAM_CHOICE, name, default_value, doc);
  spec.choices = choices;
  spec.choice_count = static_cast<uint32_t>(N);
  return spec;
}

}  // namespace param

}  // namespace piade
