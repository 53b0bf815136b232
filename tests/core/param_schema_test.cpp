// The parameter schema (piade/core/param_schema.h): malformed plugin specs,
// every kind of bad user value, defaults, and typed values that read back as
// the text a user would type.
#include <gtest/gtest.h>

#include "piade/core/error.h"
#include "piade/core/param_schema.h"
#include "piade/sdk/plugin.h"

namespace piade {
namespace {

using param::Range;

const char* const kModes[] = {"tanh", "relu", "none"};

std::string spec_error(const PiadeParamSpec& spec) {
  try {
    read_param_spec(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string value_error(const ParamInfo& info, const std::string& text) {
  try {
    parse_param_value(info, text);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string resolve_error(const std::vector<ParamInfo>& schema,
                          const std::map<std::string, std::string>& values) {
  try {
    resolve_params("routing/tiny", schema, values);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

// The schema of an imaginary routing component with one parameter of each type.
std::vector<ParamInfo> schema() {
  return {
      read_param_spec(param::integer("vectors", "2", "routed vectors", Range::between(1, 8))),
      read_param_spec(param::real("scale", "0.5", "a scale", Range::between(0, 1))),
      read_param_spec(param::boolean("squash", "true", "squash the vectors")),
      read_param_spec(param::text("label", "capsules", "a name")),
      read_param_spec(param::choice("activation", "tanh", kModes, "activation")),
      read_param_spec(param::int_list("sizes", "8,4,2,1", "pyramid sizes", Range::between(1, 8))),
      read_param_spec(param::real_list("mix", "0.25,0.75", "weights", Range::at_least(0))),
      read_param_spec(param::integer("iterations", param::kRequired, "routing iterations")),
  };
}

const ParamInfo& info(const std::string& name) {
  static const std::vector<ParamInfo> all = schema();
  for (const ParamInfo& p : all)
    if (p.name == name) return p;
  throw std::logic_error("no parameter " + name);
}

TEST(ParamSpecTest, CopiesAWellFormedSpec) {
  const ParamInfo& vectors = info("vectors");
  EXPECT_EQ(vectors.type, PIADE_PARAM_INT);
  EXPECT_EQ(vectors.doc, "routed vectors");
  EXPECT_EQ(vectors.default_value, "2");
  EXPECT_EQ(vectors.min, 1.0);
  EXPECT_EQ(vectors.max, 8.0);
  EXPECT_EQ(info("activation").choices, (std::vector<std::string>{"tanh", "relu", "none"}));
  EXPECT_FALSE(info("iterations").default_value);
  EXPECT_FALSE(info("label").min);
  EXPECT_FALSE(info("mix").max);
}

TEST(ParamSpecTest, TypeNames) {
  EXPECT_STREQ(param_type_name(PIADE_PARAM_INT), "int");
  EXPECT_STREQ(param_type_name(PIADE_PARAM_FLOAT), "float");
  EXPECT_STREQ(param_type_name(PIADE_PARAM_BOOL), "bool");
  EXPECT_STREQ(param_type_name(PIADE_PARAM_STRING), "string");
  EXPECT_STREQ(param_type_name(PIADE_PARAM_CHOICE), "choice");
  EXPECT_STREQ(param_type_name(PIADE_PARAM_INT_LIST), "int-list");
  EXPECT_STREQ(param_type_name(PIADE_PARAM_FLOAT_LIST), "float-list");
}

TEST(ParamSpecTest, RejectsMalformedSpecs) {
  EXPECT_EQ(spec_error(param::integer(nullptr, "1", "doc")), "a parameter has no name");
  EXPECT_EQ(spec_error(param::integer("", "1", "doc")), "a parameter has no name");
  EXPECT_EQ(spec_error(param::integer("Bad-Name", "1", "doc")),
            "parameter 'Bad-Name': names use only a-z, 0-9 and _");
  PiadeParamSpec unknown_type = param::integer("n", "1", "doc");
  unknown_type.type = 42;
  EXPECT_EQ(spec_error(unknown_type), "parameter 'n': unknown type 42");

  PiadeParamSpec no_choices = param::choice("mode", "tanh", kModes, "doc");
  no_choices.choice_count = 0;
  EXPECT_EQ(spec_error(no_choices), "parameter 'mode': a choice without choices");
  no_choices.choice_count = 3;
  no_choices.choices = nullptr;
  EXPECT_EQ(spec_error(no_choices), "parameter 'mode': a choice without choices");
  const char* const with_null[] = {"a", nullptr};
  EXPECT_EQ(spec_error(param::choice("mode", "a", with_null, "doc")),
            "parameter 'mode': choice 1 is null");
}

TEST(ParamSpecTest, RejectsADefaultThatFailsItsOwnSpec) {
  EXPECT_EQ(spec_error(param::integer("n", "four", "doc")),
            "default value is invalid: parameter 'n' expects an int, got 'four'");
  EXPECT_EQ(spec_error(param::integer("n", "0", "doc", Range::at_least(1))),
            "default value is invalid: parameter 'n': 0 is out of range [1, inf]");
  EXPECT_EQ(spec_error(param::real("x", "2.5", "doc", Range::at_most(1))),
            "default value is invalid: parameter 'x': 2.5 is out of range [-inf, 1]");
  EXPECT_EQ(spec_error(param::boolean("b", "maybe", "doc")),
            "default value is invalid: parameter 'b' expects true or false, got 'maybe'");
  EXPECT_EQ(spec_error(param::choice("mode", "sigmoid", kModes, "doc")),
            "default value is invalid: parameter 'mode' must be one of tanh, relu, none; got "
            "'sigmoid'");
  EXPECT_EQ(spec_error(param::int_list("sizes", "8,16", "doc", Range::between(1, 8))),
            "default value is invalid: parameter 'sizes': 16 is out of range [1, 8]");
}

TEST(ParamValueTest, WrongTypes) {
  EXPECT_EQ(value_error(info("vectors"), "2.5"), "parameter 'vectors' expects an int, got '2.5'");
  EXPECT_EQ(value_error(info("vectors"), ""), "parameter 'vectors' expects an int, got ''");
  EXPECT_EQ(value_error(info("vectors"), "99999999999999999999"),
            "parameter 'vectors' expects an int, got '99999999999999999999'");
  EXPECT_EQ(value_error(info("scale"), "half"), "parameter 'scale' expects a float, got 'half'");
  EXPECT_EQ(value_error(info("scale"), "nan"), "parameter 'scale' expects a float, got 'nan'");
  EXPECT_EQ(value_error(info("squash"), "maybe"),
            "parameter 'squash' expects true or false, got 'maybe'");
  EXPECT_EQ(value_error(info("sizes"), "8,x"), "parameter 'sizes' expects an int, got 'x'");
  EXPECT_EQ(value_error(info("sizes"), "8,,2"),
            "parameter 'sizes' expects a comma-separated int list, got '8,,2'");
  EXPECT_EQ(value_error(info("sizes"), "8,4,"),
            "parameter 'sizes' expects a comma-separated int list, got '8,4,'");
  EXPECT_EQ(value_error(info("sizes"), ""), "parameter 'sizes' expects a non-empty int list");
  EXPECT_EQ(value_error(info("mix"), "0.5,abc"), "parameter 'mix' expects a float, got 'abc'");
}

TEST(ParamValueTest, OutOfRange) {
  EXPECT_EQ(value_error(info("vectors"), "0"), "parameter 'vectors': 0 is out of range [1, 8]");
  EXPECT_EQ(value_error(info("vectors"), "9"), "parameter 'vectors': 9 is out of range [1, 8]");
  EXPECT_EQ(value_error(info("scale"), "-0.1"), "parameter 'scale': -0.1 is out of range [0, 1]");
  EXPECT_EQ(value_error(info("scale"), "1.5"), "parameter 'scale': 1.5 is out of range [0, 1]");
  EXPECT_EQ(value_error(info("sizes"), "8,4,0"), "parameter 'sizes': 0 is out of range [1, 8]");
  EXPECT_EQ(value_error(info("sizes"), "16,4"), "parameter 'sizes': 16 is out of range [1, 8]");
  EXPECT_EQ(value_error(info("mix"), "0.5,-1"), "parameter 'mix': -1 is out of range [0, inf]");
  // Bounds are inclusive.
  EXPECT_EQ(value_error(info("vectors"), "8"), "(accepted)");
  EXPECT_EQ(value_error(info("scale"), "0"), "(accepted)");
}

TEST(ParamValueTest, BadChoiceGetsASuggestion) {
  EXPECT_EQ(value_error(info("activation"), "rleu"),
            "parameter 'activation' must be one of tanh, relu, none; got 'rleu', did you mean "
            "'relu'?");
  EXPECT_EQ(value_error(info("activation"), "sigmoid"),
            "parameter 'activation' must be one of tanh, relu, none; got 'sigmoid'");
}

TEST(ParamValueTest, ParsesEveryType) {
  EXPECT_EQ(std::get<int64_t>(parse_param_value(info("vectors"), " 3 ")), 3);
  EXPECT_EQ(std::get<double>(parse_param_value(info("scale"), "0.25")), 0.25);
  for (const char* yes : {"true", "1", "yes", "on"})
    EXPECT_TRUE(std::get<bool>(parse_param_value(info("squash"), yes))) << yes;
  for (const char* no : {"false", "0", "no", "off"})
    EXPECT_FALSE(std::get<bool>(parse_param_value(info("squash"), no))) << no;
  EXPECT_EQ(std::get<std::string>(parse_param_value(info("label"), "a b, c")), "a b, c");
  EXPECT_EQ(std::get<std::string>(parse_param_value(info("activation"), "relu")), "relu");
  EXPECT_EQ(std::get<std::vector<int64_t>>(parse_param_value(info("sizes"), "4, 2,1")),
            (std::vector<int64_t>{4, 2, 1}));
  EXPECT_EQ(std::get<std::vector<double>>(parse_param_value(info("mix"), "0.5,2")),
            (std::vector<double>{0.5, 2.0}));
}

TEST(ResolveParamsTest, UnknownKeyGetsASuggestion) {
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"vectorz", "2"}}),
            "routing/tiny: unknown parameter 'vectorz', did you mean 'vectors'?");
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"zzz", "2"}}),
            "routing/tiny: unknown parameter 'zzz' (it takes: vectors, scale, squash, label, "
            "activation, sizes, mix, iterations)");
  EXPECT_EQ(resolve_error({}, {{"vectors", "2"}}),
            "routing/tiny: unknown parameter 'vectors' (it takes no parameters)");
}

TEST(ResolveParamsTest, BadValuesNameTheComponent) {
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"vectors", "two"}}),
            "routing/tiny: parameter 'vectors' expects an int, got 'two'");
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"scale", "1.5"}}),
            "routing/tiny: parameter 'scale': 1.5 is out of range [0, 1]");
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"squash", "maybe"}}),
            "routing/tiny: parameter 'squash' expects true or false, got 'maybe'");
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"sizes", "4,x"}}),
            "routing/tiny: parameter 'sizes' expects an int, got 'x'");
  EXPECT_EQ(resolve_error(schema(), {{"iterations", "3"}, {"activation", "tahn"}}),
            "routing/tiny: parameter 'activation' must be one of tanh, relu, none; got 'tahn', "
            "did you mean 'tanh'?");
}

TEST(ResolveParamsTest, MissingRequired) {
  EXPECT_EQ(resolve_error(schema(), {}),
            "routing/tiny: missing required parameter 'iterations' (routing iterations)");
}

TEST(ResolveParamsTest, FillsDefaultsAndTypesEverything) {
  const ParamSet set = resolve_params("routing/tiny", schema(), {{"iterations", "3"}, {"vectors", "4"}});
  EXPECT_EQ(set.values().size(), 8u);
  EXPECT_EQ(set.get_int("iterations"), 3);
  EXPECT_EQ(set.get_int("vectors"), 4);
  EXPECT_EQ(set.get_float("scale"), 0.5);
  EXPECT_TRUE(set.get_bool("squash"));
  EXPECT_EQ(set.get_string("label"), "capsules");
  EXPECT_EQ(set.get_string("activation"), "tanh");
  EXPECT_EQ(set.get_int_list("sizes"), (std::vector<int64_t>{8, 4, 2, 1}));
  EXPECT_EQ(set.get_float_list("mix"), (std::vector<double>{0.25, 0.75}));
  EXPECT_THROW(set.get_float_list("sizes"), std::invalid_argument);
}

TEST(ResolveParamsTest, TextRoundTrips) {
  const std::map<std::string, std::string> given = {
      {"iterations", "3"}, {"vectors", "4"},      {"scale", "0.1"},
      {"squash", "off"},   {"label", "a,b"},      {"activation", "none"},
      {"sizes", "4,2"},    {"mix", "0.3,1e-3,2"},
  };
  const ParamSet set = resolve_params("routing/tiny", schema(), given);
  std::map<std::string, std::string> as_text;
  for (const auto& [name, value] : set.values()) as_text[name] = set.text(name);
  // What a user would type, and typed values that survive a second pass.
  EXPECT_EQ(as_text, (std::map<std::string, std::string>{
                         {"iterations", "3"}, {"vectors", "4"},         {"scale", "0.1"},
                         {"squash", "false"}, {"label", "a,b"},         {"activation", "none"},
                         {"sizes", "4,2"},    {"mix", "0.3,0.001,2"}}));
  const ParamSet again = resolve_params("routing/tiny", schema(), as_text);
  EXPECT_EQ(again.values(), set.values());
}

}  // namespace
}  // namespace piade

namespace piade {
namespace {

TEST(DidYouMeanTest, SuggestsCloseTyposOnly) {
  const std::vector<std::string> names = {"tiny", "dynamic", "transposed"};
  EXPECT_EQ(did_you_mean("tiyn", names), ", did you mean 'tiny'?");      // swapped letters
  EXPECT_EQ(did_you_mean("tin", names), ", did you mean 'tiny'?");       // one missing
  EXPECT_EQ(did_you_mean("dynamc", names), ", did you mean 'dynamic'?");
  EXPECT_EQ(did_you_mean("transpsoed", names), ", did you mean 'transposed'?");
  EXPECT_EQ(did_you_mean("huge", names), "");
  EXPECT_EQ(did_you_mean("tiny", {}), "");
  EXPECT_EQ(closest_match("dynamik", names), "dynamic");
}

}  // namespace
}  // namespace piade
