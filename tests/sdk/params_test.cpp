// piade::ParamSet (sdk/include/piade/sdk/params.h): typed getters, their
// errors, and text() that reads as a user would type the value.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>

#include "piade/sdk/params.h"

namespace piade {
namespace {

ParamSet sample() {
  ParamSet set;
  set.set("count", int64_t{4});
  set.set("rate", 0.5);
  set.set("flag", true);
  set.set("mode", std::string("tanh"));
  set.set("sizes", std::vector<int64_t>{8, 4, 2, 1});
  set.set("mix", std::vector<double>{0.25, 0.75});
  return set;
}

std::string getter_error(const std::function<void()>& get) {
  try {
    get();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ParamSetTest, TypedGetters) {
  const ParamSet set = sample();
  EXPECT_TRUE(set.contains("count"));
  EXPECT_FALSE(set.contains("missing"));
  EXPECT_EQ(set.get_int("count"), 4);
  EXPECT_EQ(set.get_float("rate"), 0.5);
  EXPECT_TRUE(set.get_bool("flag"));
  EXPECT_EQ(set.get_string("mode"), "tanh");
  EXPECT_EQ(set.get_int_list("sizes"), (std::vector<int64_t>{8, 4, 2, 1}));
  EXPECT_EQ(set.get_float_list("mix"), (std::vector<double>{0.25, 0.75}));
  // An int reads as a float, not the other way round.
  EXPECT_EQ(set.get_float("count"), 4.0);
  EXPECT_EQ(set.values().size(), 6u);
}

TEST(ParamSetTest, SetReplaces) {
  ParamSet set = sample();
  set.set("count", int64_t{7});
  EXPECT_EQ(set.get_int("count"), 7);
  set.set("count", std::string("seven"));
  EXPECT_EQ(set.get_string("count"), "seven");
}

TEST(ParamSetTest, GetterErrorsNameTheParameter) {
  const ParamSet set = sample();
  EXPECT_EQ(getter_error([&] { set.get_int("missing"); }), "parameter 'missing' is not set");
  EXPECT_EQ(getter_error([&] { set.text("missing"); }), "parameter 'missing' is not set");
  EXPECT_EQ(getter_error([&] { set.get_int("rate"); }), "parameter 'rate' is a float, not an int");
  EXPECT_EQ(getter_error([&] { set.get_bool("count"); }), "parameter 'count' is an int, not a bool");
  EXPECT_EQ(getter_error([&] { set.get_float("flag"); }), "parameter 'flag' is a bool, not a float");
  EXPECT_EQ(getter_error([&] { set.get_string("sizes"); }),
            "parameter 'sizes' is an int list, not a string");
  EXPECT_EQ(getter_error([&] { set.get_int_list("mix"); }),
            "parameter 'mix' is a float list, not an int list");
  EXPECT_EQ(getter_error([&] { set.get_float_list("mode"); }),
            "parameter 'mode' is a string, not a float list");
}

TEST(ParamSetTest, TextIsWhatAUserWouldType) {
  const ParamSet set = sample();
  EXPECT_EQ(set.text("count"), "4");
  EXPECT_EQ(set.text("rate"), "0.5");
  EXPECT_EQ(set.text("flag"), "true");
  EXPECT_EQ(set.text("mode"), "tanh");
  EXPECT_EQ(set.text("sizes"), "8,4,2,1");
  EXPECT_EQ(set.text("mix"), "0.25,0.75");
  ParamSet more;
  more.set("off", false);
  more.set("negative", int64_t{-3});
  more.set("tenth", 0.1);
  more.set("small", 1e-4);
  more.set("whole", 2.0);
  more.set("list", std::vector<double>{0.1, 0.2, 0.3});
  EXPECT_EQ(more.text("off"), "false");
  EXPECT_EQ(more.text("negative"), "-3");
  EXPECT_EQ(more.text("tenth"), "0.1");
  EXPECT_EQ(more.text("small"), "0.0001");
  EXPECT_EQ(more.text("whole"), "2");
  EXPECT_EQ(more.text("list"), "0.1,0.2,0.3");
}

TEST(ParamSetTest, FloatTextRoundTripsExactly) {
  // Shortest text, but never at the cost of changing the value.
  for (double value : {0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-300, 123456789.123456789, 0.1 + 0.2,
                       std::numeric_limits<double>::max(), -std::numeric_limits<double>::min()}) {
    ParamSet set;
    set.set("x", value);
    EXPECT_EQ(std::strtod(set.text("x").c_str(), nullptr), value) << set.text("x");
  }
  ParamSet sum;
  sum.set("x", 0.1 + 0.2);
  EXPECT_EQ(sum.text("x"), "0.30000000000000004");
}

}  // namespace
}  // namespace piade
