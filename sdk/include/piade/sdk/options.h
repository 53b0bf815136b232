// Plugin options declared once. A component's Options struct holds each
// option's type and default (TORCH_ARG, as torch/nn/options/conv.h); one
// PIADE_OPTION line per field adds what users see: the one-line doc and the
// range or choices. Everything else is derived from that declaration by the
// templates below, which you can step through in a debugger:
//
//  - param_table<Options>(): the component's parameter table in the
//    manifest, with each default written from a default-constructed Options
//    exactly as the host parses it ("8,4,2,1", "true", "1.5", a choice's name);
//  - parse<Options>(params): the ParamSet the host validated, read into a
//    typed Options (a choice into its C++ enum);
//  - print_options(stream, id, options): pretty_print() in the one format of
//    every piade component, `<kind>/<name>(<option>=<value>, ...)`, listing
//    only options that differ from the defaults (torch's ConvNdImpl does the
//    same); values as a user types them, text in single quotes.
//
// Example:
//
//   enum class Order { l1, l2 };
//   /// The names users type, declared once (LLVM's cl::values).
//   const piade::Choice<Order> kOrders[] = {{Order::l1, "l1"}, {Order::l2, "l2"}};
//
//   struct GradientLossOptions {
//     /// |d| (robust to a few large errors) or d^2.
//     TORCH_ARG(Order, order) = Order::l1;
//     /// Pixel distance of the finite differences.
//     TORCH_ARG(int64_t, step) = 1;
//
//     PIADE_OPTIONS(
//         PIADE_OPTION(order, "penalty on the gradient difference", kOrders),
//         PIADE_OPTION(step, "pixel distance of the finite differences",
//                      piade::param::Range::between(1, 64)))
//   };
//
//   class GradientLossImpl : ... {
//    public:
//     using Options = GradientLossOptions;  // piade::component<> lists its table
//     explicit GradientLossImpl(const piade::ComponentContext& context)
//         : options_(piade::parse<Options>(context.params)) { reset(); }
//     void pretty_print(std::ostream& stream) const override {
//       piade::print_options(stream, "loss/gradient", options_);  // loss/gradient(step=2)
//     }
//     ...
//   };
//
// Supported field types: int64_t (int), double (float), bool, std::string
// (string), std::vector<int64_t> (int list), std::vector<double> (float
// list) and an enum with a Choice table (choice). Every option has a
// default; a required parameter (no default) is written with the param::
// builders of param_spec.h instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <ostream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <torch/arg.h>

#include "piade/sdk/param_spec.h"
#include "piade/sdk/params.h"
#include "piade/sdk/plugin_abi.h"

namespace piade {

/// One value of a choice option: its C++ enum value and the name users type.
/// A choice option's table is an array of these, declared once.
template <class E>
struct Choice {
  static_assert(std::is_enum_v<E>, "piade::Choice<E> maps the values of an enum to names");
  E value;
  const char* name;
};

/// How one field of an Options struct appears as a parameter; PIADE_OPTION
/// writes it. `access(options)` returns the field (const or not); `extra` is
/// a param::Range, or a ChoiceTable for an enum field.
template <class Access, class Extra>
struct OptionField {
  const char* name;
  const char* doc;
  Access access;
  Extra extra;
};

/// The Choice array of an enum field, as a pointer and a count.
template <class E>
struct ChoiceTable {
  const Choice<E>* entries;
  std::size_t count;
};

template <class Access>
constexpr OptionField<Access, param::Range> option(const char* name, Access access, const char* doc,
                                                   param::Range range = {}) {
  return {name, doc, access, range};
}
template <class Access, class E, std::size_t N>
constexpr OptionField<Access, ChoiceTable<E>> option(const char* name, Access access, const char* doc,
                                                     const Choice<E> (&choices)[N]) {
  return {name, doc, access, ChoiceTable<E>{choices, N}};
}

namespace detail {

template <class T>
inline constexpr bool kAlwaysFalse = false;

/// What each supported field type is as a parameter: its type in the
/// manifest and its getter in a ParamSet.
template <class T>
struct OptionType {
  static_assert(kAlwaysFalse<T>,
                "an option is int64_t, double, bool, std::string, std::vector<int64_t>, "
                "std::vector<double>, or an enum with a piade::Choice table");
};
template <>
struct OptionType<int64_t> {
  static constexpr PiadeParamType type = PIADE_PARAM_INT;
  static int64_t read(const ParamSet& params, const std::string& name) { return params.get_int(name); }
};
template <>
struct OptionType<double> {
  static constexpr PiadeParamType type = PIADE_PARAM_FLOAT;
  static double read(const ParamSet& params, const std::string& name) { return params.get_float(name); }
};
template <>
struct OptionType<bool> {
  static constexpr PiadeParamType type = PIADE_PARAM_BOOL;
  static bool read(const ParamSet& params, const std::string& name) { return params.get_bool(name); }
};
template <>
struct OptionType<std::string> {
  static constexpr PiadeParamType type = PIADE_PARAM_STRING;
  static std::string read(const ParamSet& params, const std::string& name) {
    return params.get_string(name);
  }
};
template <>
struct OptionType<std::vector<int64_t>> {
  static constexpr PiadeParamType type = PIADE_PARAM_INT_LIST;
  static std::vector<int64_t> read(const ParamSet& params, const std::string& name) {
    return params.get_int_list(name);
  }
};
template <>
struct OptionType<std::vector<double>> {
  static constexpr PiadeParamType type = PIADE_PARAM_FLOAT_LIST;
  static std::vector<double> read(const ParamSet& params, const std::string& name) {
    return params.get_float_list(name);
  }
};

/// The field's type, without const and reference.
template <class Field, class Options>
using FieldType = std::decay_t<decltype(std::declval<Field>().access(std::declval<Options&>()))>;

/// The name of `value` in its choice table; nullptr if it has none (a
/// default missing from its table, which the host reports as an invalid
/// default when it loads the plugin).
template <class E>
const char* choice_name(const ChoiceTable<E>& table, E value) {
  for (std::size_t i = 0; i < table.count; ++i)
    if (table.entries[i].value == value) return table.entries[i].name;
  return nullptr;
}

/// A field's value as the host parses it.
template <class T, class Extra>
std::string value_text(const T& value, const Extra& extra) {
  if constexpr (std::is_enum_v<T>) {
    static_assert(std::is_same_v<Extra, ChoiceTable<T>>,
                  "an enum option takes its piade::Choice table in PIADE_OPTION");
    const char* name = choice_name(extra, value);
    return name ? name : "";
  } else {
    static_assert(std::is_same_v<Extra, param::Range>,
                  "a piade::Choice table goes with an enum option, a Range with a number");
    (void)extra;
    (void)OptionType<T>::type;  // an unsupported type fails here, with its message
    return to_text(ParamSet::Value(value));
  }
}

/// Calls fn(field) for each PIADE_OPTION of Options, in declaration order.
template <class Options, class Fn>
void for_each_option(Fn&& fn) {
  std::apply([&](const auto&... field) { (fn(field), ...); }, Options::piade_options());
}

template <class T, class = void>
struct HasOptions : std::false_type {};
template <class T>
struct HasOptions<T, std::void_t<decltype(T::piade_options())>> : std::true_type {};

}  // namespace detail

/// An Options struct that declares its parameters with PIADE_OPTIONS.
template <class T>
inline constexpr bool is_options_v = detail::HasOptions<T>::value;

/// The parameter table of one Options type, in static storage (the manifest
/// points into it for as long as the plugin is loaded). Not copyable: the
/// specs point at the default texts and choice names it owns.
class ParamTable {
 public:
  template <class Options>
  struct Of {};

  template <class Options>
  explicit ParamTable(Of<Options>) {
    static_assert(is_options_v<Options>, "Options declares its fields with PIADE_OPTIONS(...)");
    const Options defaults;
    detail::for_each_option<Options>([&](const auto& field) { add(defaults, field); });
  }
  ParamTable(const ParamTable&) = delete;
  ParamTable& operator=(const ParamTable&) = delete;

  const PiadeParamSpec* data() const { return specs_.empty() ? nullptr : specs_.data(); }
  uint32_t size() const { return static_cast<uint32_t>(specs_.size()); }
  const std::vector<PiadeParamSpec>& specs() const { return specs_; }

 private:
  template <class Options, class Field>
  void add(const Options& defaults, const Field& field) {
    using T = detail::FieldType<Field, Options>;
    texts_.push_back(detail::value_text(field.access(defaults), field.extra));
    if constexpr (std::is_enum_v<T>) {
      std::vector<const char*>& names = choices_.emplace_back();
      for (std::size_t i = 0; i < field.extra.count; ++i) names.push_back(field.extra.entries[i].name);
      PiadeParamSpec spec = param::make(PIADE_PARAM_CHOICE, field.name, texts_.back().c_str(), field.doc);
      spec.choices = names.data();
      spec.choice_count = static_cast<uint32_t>(names.size());
      specs_.push_back(spec);
    } else {
      specs_.push_back(param::make(detail::OptionType<T>::type, field.name, texts_.back().c_str(),
                                   field.doc, field.extra));
    }
  }

  std::vector<PiadeParamSpec> specs_;
  std::deque<std::string> texts_;                  // deque: elements never move
  std::deque<std::vector<const char*>> choices_;
};

/// The parameter table derived from Options, built on first use.
template <class Options>
const ParamTable& param_table() {
  static const ParamTable table{ParamTable::Of<Options>{}};
  return table;
}

/// Reads the ParamSet the host validated against param_table<Options>()
/// into a typed Options. Throws std::invalid_argument naming the parameter
/// if one is absent or of another type (a ParamSet not built from this
/// table), or if a choice is not in the table.
template <class Options>
Options parse(const ParamSet& params) {
  static_assert(is_options_v<Options>, "Options declares its fields with PIADE_OPTIONS(...)");
  Options options;
  detail::for_each_option<Options>([&](const auto& field) {
    using T = detail::FieldType<decltype(field), Options>;
    if constexpr (std::is_enum_v<T>) {
      const std::string& text = params.get_string(field.name);
      for (std::size_t i = 0; i < field.extra.count; ++i) {
        if (text == field.extra.entries[i].name) {
          field.access(options) = field.extra.entries[i].value;
          return;
        }
      }
      std::string names;
      for (std::size_t i = 0; i < field.extra.count; ++i)
        names += std::string(i ? ", " : "") + field.extra.entries[i].name;
      throw std::invalid_argument(std::string("parameter '") + field.name + "' must be one of " + names +
                                  "; got '" + text + "'");
    } else {
      field.access(options) = detail::OptionType<T>::read(params, field.name);
    }
  });
  return options;
}

/// The options of `options` as the host would parse them back: the inverse
/// of parse(), e.g. to build a sub-component from the same options.
template <class Options>
ParamSet to_params(const Options& options) {
  static_assert(is_options_v<Options>, "Options declares its fields with PIADE_OPTIONS(...)");
  ParamSet params;
  detail::for_each_option<Options>([&](const auto& field) {
    using T = detail::FieldType<decltype(field), Options>;
    if constexpr (std::is_enum_v<T>) {
      const char* name = detail::choice_name(field.extra, field.access(options));
      params.set(field.name, std::string(name ? name : ""));
    } else {
      params.set(field.name, ParamSet::Value(field.access(options)));
    }
  });
  return params;
}

/// The names of the options whose values differ between `options` and
/// `reference` (by default, the defaults), in declaration order.
template <class Options>
std::vector<std::string> differing_options(const Options& options, const Options& reference = Options()) {
  static_assert(is_options_v<Options>, "Options declares its fields with PIADE_OPTIONS(...)");
  std::vector<std::string> names;
  detail::for_each_option<Options>([&](const auto& field) {
    if (!(field.access(options) == field.access(reference))) names.emplace_back(field.name);
  });
  return names;
}

/// pretty_print() for every piade component: `id(name=value, ...)` with
/// only the options that differ from the defaults, each value as a user
/// types it (`--set owner.name=value`), text options in single quotes:
/// `pooling/pyramid(levels=4,2, capsule_dim=4)`, `loss/ssim()`.
template <class Options>
void print_options(std::ostream& stream, const char* id, const Options& options) {
  static_assert(is_options_v<Options>, "Options declares its fields with PIADE_OPTIONS(...)");
  const Options defaults;
  stream << id << "(";
  const char* separator = "";
  detail::for_each_option<Options>([&](const auto& field) {
    using T = detail::FieldType<decltype(field), Options>;
    const T& value = field.access(options);
    if (value == field.access(defaults)) return;
    stream << separator << field.name << "=";
    if constexpr (std::is_same_v<T, std::string>)
      stream << "'" << value << "'";
    else
      stream << detail::value_text(value, field.extra);
    separator = ", ";
  });
  stream << ")";
}

}  // namespace piade

/// One option of an Options struct, inside PIADE_OPTIONS: the field NAME
/// (declared with TORCH_ARG; its name is the parameter's name), a one-line
/// doc, and optionally a piade::param::Range (numbers and number lists) or
/// the field's piade::Choice table (enums).
#define PIADE_OPTION(NAME, ...) \
  ::piade::option(#NAME, [](auto& options) -> auto& { return options.NAME(); }, __VA_ARGS__)

/// The list of PIADE_OPTIONs of an Options struct, at the end of its body.
/// Defines `static auto piade_options()`, which the templates of options.h
/// read; `PIADE_OPTIONS()` for a component without options.
#define PIADE_OPTIONS(...) \
 public:                   \
  static auto piade_options() { return std::make_tuple(__VA_ARGS__); }

/// PIADE_OPTIONS for an Options struct derived from another, BASE: the
/// base's options first, then these (backbone/se_resnet18 is resnet18's
/// options plus `reduction`).
#define PIADE_OPTIONS_EXTEND(BASE, ...)                                         \
 public:                                                                        \
  static auto piade_options() {                                                 \
    return std::tuple_cat(BASE::piade_options(), std::make_tuple(__VA_ARGS__)); \
  }
