// The Options binding (sdk/include/piade/sdk/options.h): one declaration per
// option gives the parameter table (defaults written as the host parses
// them), the typed parsing, choices as enums, and print_options(). The host
// side (param_schema.h) is used as the plugins meet it: the derived table is
// read and validated by the same code that reads a plugin's manifest.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/sdk/plugin.h"

namespace {

enum class Mode { fast, exact, lazy };
const piade::Choice<Mode> kModes[] = {{Mode::fast, "fast"}, {Mode::exact, "exact"}, {Mode::lazy, "lazy"}};

using piade::param::Range;

struct SampleOptions {
  TORCH_ARG(int64_t, count) = 4;
  TORCH_ARG(double, rate) = 0.1;
  TORCH_ARG(bool, flag) = true;
  TORCH_ARG(std::string, path) = "";
  TORCH_ARG(std::vector<int64_t>, sizes) = std::vector<int64_t>{8, 4, 2, 1};
  TORCH_ARG(std::vector<double>, mix) = std::vector<double>{0.5, 0.25};
  TORCH_ARG(Mode, mode) = Mode::exact;
  TORCH_ARG(double, tiny) = 1e-7;

  PIADE_OPTIONS(PIADE_OPTION(count, "how many", Range::between(1, 64)),
                PIADE_OPTION(rate, "a rate", Range::at_least(0)),
                PIADE_OPTION(flag, "a switch"),
                PIADE_OPTION(path, "a file"),
                PIADE_OPTION(sizes, "some sizes", Range::at_least(1)),
                PIADE_OPTION(mix, "a mixture", Range::at_most(1)),
                PIADE_OPTION(mode, "how", kModes),
                PIADE_OPTION(tiny, "a small number"))
};

struct DerivedOptions : SampleOptions {
  TORCH_ARG(int64_t, extra) = 7;
  PIADE_OPTIONS_EXTEND(SampleOptions, PIADE_OPTION(extra, "one more", Range::at_most(9)))
};

struct NoOptions {
  PIADE_OPTIONS()
};

std::vector<std::string> names(const piade::ParamTable& table) {
  std::vector<std::string> out;
  for (const PiadeParamSpec& spec : table.specs()) out.emplace_back(spec.name);
  return out;
}

TEST(OptionsTest, TableHasOneSpecPerOptionInDeclarationOrder) {
  const piade::ParamTable& table = piade::param_table<SampleOptions>();
  EXPECT_EQ(names(table), (std::vector<std::string>{"count", "rate", "flag", "path", "sizes", "mix",
                                                    "mode", "tiny"}));
  ASSERT_EQ(table.size(), 8u);
  for (const PiadeParamSpec& spec : table.specs()) EXPECT_EQ(spec.valid_size, sizeof(PiadeParamSpec));
  // Static storage: the same table every time, which the manifest points to.
  EXPECT_EQ(&piade::param_table<SampleOptions>(), &table);
  EXPECT_EQ(piade::param_table<SampleOptions>().data(), table.data());
}

TEST(OptionsTest, TableTypesDocsAndRanges) {
  const auto& specs = piade::param_table<SampleOptions>().specs();
  const PiadeParamType types[] = {PIADE_PARAM_INT,      PIADE_PARAM_FLOAT,      PIADE_PARAM_BOOL,
                                  PIADE_PARAM_STRING,   PIADE_PARAM_INT_LIST,   PIADE_PARAM_FLOAT_LIST,
                                  PIADE_PARAM_CHOICE,   PIADE_PARAM_FLOAT};
  for (std::size_t i = 0; i < specs.size(); ++i) EXPECT_EQ(specs[i].type, types[i]) << specs[i].name;
  EXPECT_STREQ(specs[0].doc, "how many");
  EXPECT_TRUE(specs[0].has_min && specs[0].has_max);
  EXPECT_EQ(specs[0].min_value, 1);
  EXPECT_EQ(specs[0].max_value, 64);
  EXPECT_TRUE(specs[1].has_min && !specs[1].has_max);
  EXPECT_FALSE(specs[2].has_min || specs[2].has_max);
  EXPECT_TRUE(!specs[5].has_min && specs[5].has_max);
  EXPECT_EQ(specs[5].max_value, 1);
  ASSERT_EQ(specs[6].choice_count, 3u);
  EXPECT_STREQ(specs[6].choices[0], "fast");
  EXPECT_STREQ(specs[6].choices[1], "exact");
  EXPECT_STREQ(specs[6].choices[2], "lazy");
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (i != 6) {
      EXPECT_EQ(specs[i].choices, nullptr) << specs[i].name;
    }
  }
}

TEST(OptionsTest, DefaultsAreWrittenAsTheHostParsesThem) {
  const auto& specs = piade::param_table<SampleOptions>().specs();
  std::vector<std::string> defaults;
  for (const PiadeParamSpec& spec : specs) defaults.emplace_back(spec.default_value);
  EXPECT_EQ(defaults, (std::vector<std::string>{"4", "0.1", "true", "", "8,4,2,1", "0.5,0.25", "exact",
                                                "1e-07"}));
  // Floats in the shortest text that reads back exactly.
  EXPECT_EQ(std::strtod(specs[7].default_value, nullptr), 1e-7);
  // The host accepts the table as it accepts a plugin's.
  for (const PiadeParamSpec& spec : specs) EXPECT_NO_THROW(piade::read_param_spec(spec)) << spec.name;
}

TEST(OptionsTest, SpecDefaultsParseBackToTheDefaults) {
  std::vector<piade::ParamInfo> schema;
  for (const PiadeParamSpec& spec : piade::param_table<SampleOptions>().specs())
    schema.push_back(piade::read_param_spec(spec));
  const piade::ParamSet params = piade::resolve_params("test/sample", schema, {});
  const SampleOptions parsed = piade::parse<SampleOptions>(params);
  EXPECT_TRUE(piade::differing_options(parsed).empty());
  EXPECT_EQ(parsed.mode(), Mode::exact);
  EXPECT_EQ(parsed.tiny(), 1e-7);
  EXPECT_EQ(parsed.sizes(), (std::vector<int64_t>{8, 4, 2, 1}));
}

TEST(OptionsTest, ParsesUserValuesIntoTypedFieldsAndEnums) {
  std::vector<piade::ParamInfo> schema;
  for (const PiadeParamSpec& spec : piade::param_table<SampleOptions>().specs())
    schema.push_back(piade::read_param_spec(spec));
  const piade::ParamSet params = piade::resolve_params(
      "test/sample", schema,
      {{"count", "9"}, {"rate", "2"}, {"flag", "false"}, {"path", "/w.pt"}, {"sizes", "3,1"},
       {"mix", "0.125"}, {"mode", "lazy"}});
  const SampleOptions o = piade::parse<SampleOptions>(params);
  EXPECT_EQ(o.count(), 9);
  EXPECT_EQ(o.rate(), 2.0);  // an int given for a float reads as a float
  EXPECT_FALSE(o.flag());
  EXPECT_EQ(o.path(), "/w.pt");
  EXPECT_EQ(o.sizes(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(o.mix(), (std::vector<double>{0.125}));
  EXPECT_EQ(o.mode(), Mode::lazy);
  EXPECT_EQ(piade::differing_options(o),
            (std::vector<std::string>{"count", "rate", "flag", "path", "sizes", "mix", "mode"}));
}

std::string host_error(const std::map<std::string, std::string>& values) {
  std::vector<piade::ParamInfo> schema;
  for (const PiadeParamSpec& spec : piade::param_table<SampleOptions>().specs())
    schema.push_back(piade::read_param_spec(spec));
  try {
    piade::resolve_params("test/sample", schema, values);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Ranges and choices stay the host's to check, with its messages.
TEST(OptionsTest, HostValidatesRangesAndChoicesOfTheDerivedTable) {
  EXPECT_NE(host_error({{"count", "0"}}).find("parameter 'count': 0 is out of range [1, 64]"),
            std::string::npos)
      << host_error({{"count", "0"}});
  EXPECT_NE(host_error({{"sizes", "4,0"}}).find("out of range"), std::string::npos);
  EXPECT_NE(host_error({{"mode", "slow"}}).find("must be one of fast, exact, lazy; got 'slow'"),
            std::string::npos)
      << host_error({{"mode", "slow"}});
  EXPECT_NE(host_error({{"cuont", "3"}}).find("did you mean 'count'?"), std::string::npos);
}

std::string parse_error(const piade::ParamSet& params) {
  try {
    piade::parse<SampleOptions>(params);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// A ParamSet the host did not build from the table: the errors name the parameter.
TEST(OptionsTest, ParseRefusesASetThatDoesNotMatchTheTable) {
  piade::ParamSet params = piade::to_params(SampleOptions());
  params.set("count", std::string("four"));
  EXPECT_EQ(parse_error(params), "parameter 'count' is a string, not an int");
  params = piade::to_params(SampleOptions());
  params.set("mode", std::string("slow"));
  EXPECT_EQ(parse_error(params), "parameter 'mode' must be one of fast, exact, lazy; got 'slow'");
  piade::ParamSet empty;
  EXPECT_EQ(parse_error(empty), "parameter 'count' is not set");
}

TEST(OptionsTest, ToParamsIsTheInverseOfParse) {
  SampleOptions o;
  o.count(2).mode(Mode::fast).mix({0.75}).path("a b");
  const piade::ParamSet params = piade::to_params(o);
  EXPECT_EQ(params.get_string("mode"), "fast");
  EXPECT_EQ(params.text("mix"), "0.75");
  EXPECT_TRUE(piade::differing_options(piade::parse<SampleOptions>(params), o).empty());
}

std::string printed(const SampleOptions& o) {
  std::ostringstream out;
  piade::print_options(out, "test/sample", o);
  return out.str();
}

TEST(OptionsTest, PrintShowsOnlyOptionsThatDifferFromTheDefaults) {
  EXPECT_EQ(printed(SampleOptions()), "test/sample()");
  EXPECT_EQ(printed(SampleOptions().sizes({4, 2})), "test/sample(sizes=4,2)");
  EXPECT_EQ(printed(SampleOptions().count(3).flag(false).path("/tmp/w.pt").mode(Mode::lazy).rate(0.3)),
            "test/sample(count=3, rate=0.3, flag=false, path='/tmp/w.pt', mode=lazy)");
  // A value set to its default is not shown.
  EXPECT_EQ(printed(SampleOptions().count(4).mix({0.5, 0.25})), "test/sample()");
}

TEST(OptionsTest, DerivedOptionsListTheBaseFirst) {
  EXPECT_EQ(names(piade::param_table<DerivedOptions>()),
            (std::vector<std::string>{"count", "rate", "flag", "path", "sizes", "mix", "mode", "tiny",
                                      "extra"}));
  EXPECT_STREQ(piade::param_table<DerivedOptions>().specs().back().default_value, "7");
  DerivedOptions o;
  o.extra(8);
  o.count(1);
  std::ostringstream out;
  piade::print_options(out, "test/derived", o);
  EXPECT_EQ(out.str(), "test/derived(count=1, extra=8)");
}

TEST(OptionsTest, EmptyOptions) {
  EXPECT_EQ(piade::param_table<NoOptions>().size(), 0u);
  EXPECT_EQ(piade::param_table<NoOptions>().data(), nullptr);
  EXPECT_NO_THROW(piade::parse<NoOptions>(piade::ParamSet()));
  std::ostringstream out;
  piade::print_options(out, "loss/none", NoOptions());
  EXPECT_EQ(out.str(), "loss/none()");
}

class SampleLossImpl : public torch::nn::Cloneable<SampleLossImpl>, public piade::Loss {
 public:
  using Options = SampleOptions;
  explicit SampleLossImpl(const piade::ComponentContext& context)
      : options(piade::parse<Options>(context.params)) {}
  void reset() override {}
  piade::LossTerm forward(const torch::Tensor& x, const torch::Tensor&) override { return {x, {}}; }
  Options options;
};

class PlainLossImpl : public torch::nn::Cloneable<PlainLossImpl>, public piade::Loss {
 public:
  explicit PlainLossImpl(const piade::ComponentContext&) {}
  void reset() override {}
  piade::LossTerm forward(const torch::Tensor& x, const torch::Tensor&) override { return {x, {}}; }
};

TEST(OptionsTest, ComponentListsTheTableOfImplOptions) {
  const PiadeComponentSpec spec = piade::component<SampleLossImpl>("sample", "a sample");
  EXPECT_EQ(spec.kind, PIADE_KIND_LOSS);
  EXPECT_EQ(spec.params, piade::param_table<SampleOptions>().data());
  EXPECT_EQ(spec.param_count, 8u);
  const PiadeComponentSpec plain = piade::component<PlainLossImpl>("plain", "no options");
  EXPECT_EQ(plain.params, nullptr);
  EXPECT_EQ(plain.param_count, 0u);

  // The factory parses what the host resolved.
  std::vector<piade::ParamInfo> schema;
  for (uint32_t i = 0; i < spec.param_count; ++i) schema.push_back(piade::read_param_spec(spec.params[i]));
  piade::ComponentContext context;
  context.params = piade::resolve_params("loss/sample", schema, {{"mode", "fast"}});
  char error[256] = "";
  void* made = spec.create(&context, error, sizeof error);
  ASSERT_NE(made, nullptr) << error;
  auto* module = static_cast<std::shared_ptr<torch::nn::Module>*>(made);
  EXPECT_EQ(std::dynamic_pointer_cast<SampleLossImpl>(*module)->options.mode(), Mode::fast);
  delete module;
}

}  // namespace
