// piade compare's statistics (benchmarks/compare/summary): the exact sign
// test, the paired difference with its Student-t interval, summarize() on a
// small grid with a missing run, its errors, and summary.md. Every expected
// number is worked out by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "piade/compare/report.h"
#include "piade/compare/results.h"
#include "piade/compare/summary.h"
#include "tests/support/files.h"
#include "tests/support/scratch_dir.h"
#include "piade/core/error.h"

namespace piade::compare {
namespace {

constexpr double kTol = 1e-9;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The message of the piade::Error that `f` throws ("" and a failure if none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no piade::Error thrown";
  return "";
}

// ---------------------------------------------------------------------------
// sign_test_p

TEST(SignTest, AllWins) {
  // n = 5, P(X <= 0) = 1/32, two-sided: 2/32 = 0.0625.
  EXPECT_NEAR(sign_test_p(5, 0), 0.0625, kTol);
  EXPECT_NEAR(sign_test_p(0, 5), 0.0625, kTol);
}

TEST(SignTest, NineToOne) {
  // n = 10, P(X <= 1) = (C(10,0) + C(10,1)) / 1024 = 11/1024; p = 22/1024.
  EXPECT_NEAR(sign_test_p(9, 1), 2.0 * 11 / 1024, kTol);
  EXPECT_NEAR(sign_test_p(1, 9), 2.0 * 11 / 1024, kTol);
}

TEST(SignTest, TwoToFive) {
  // n = 7, P(X <= 2) = (1 + 7 + 21) / 128 = 29/128; p = 58/128 = 0.453125.
  EXPECT_NEAR(sign_test_p(2, 5), 58.0 / 128, kTol);
}

TEST(SignTest, NoPairsOrBalancedIsOne) {
  EXPECT_EQ(sign_test_p(0, 0), 1.0);
  // n = 6, 2 * P(X <= 3) = 2 * (1 + 6 + 15 + 20) / 64 = 84/64 > 1: capped.
  EXPECT_EQ(sign_test_p(3, 3), 1.0);
  EXPECT_EQ(sign_test_p(1500, 1500), 1.0);
}

TEST(SignTest, ThousandsOfPairsNeitherOverflowNorUnderflow) {
  // References from exact integer arithmetic (Python: 2 * sum(comb(n, i)
  // for i <= k) / 2**n as a Fraction): C(3000, i) and 2^3000 overflow a
  // double, so only a log-space sum gets these.
  EXPECT_NEAR(sign_test_p(1600, 1400) / 2.785639610392337e-4, 1.0, 1e-9);
  EXPECT_NEAR(sign_test_p(1450, 1550) / 0.07066904481175774, 1.0, 1e-9);
  EXPECT_NEAR(sign_test_p(2000, 1000) / 1.0090148627941341e-75, 1.0, 1e-8);
  double p = sign_test_p(3000, 0);  // 2^-2999: below the smallest double
  EXPECT_TRUE(std::isfinite(p));
  EXPECT_GE(p, 0.0);
  EXPECT_LT(p, 1e-300);
}

TEST(SignTest, NegativeCountIsAnError) {
  EXPECT_TRUE(contains(error_of([] { sign_test_p(-1, 3); }), "-1"));
}

// ---------------------------------------------------------------------------
// paired_difference

TEST(PairedDifference, FourIncreasingDifferences) {
  // d = {0.01, 0.02, 0.03, 0.04}: mean 0.025; squared deviations
  // 0.000225 + 0.000025 + 0.000025 + 0.000225 = 0.0005, sd = sqrt(0.0005/3)
  // = 0.0129099; se = sd/2 = 0.00645497; t(0.975, 3) = 3.182446;
  // half width 3.182446 * 0.00645497 = 0.0205426: CI [0.0044574, 0.0455426].
  // 4 wins: sign test 2 * 1/16 = 0.125.
  PairedDifference d = paired_difference({0.81, 0.72, 0.93, 0.64}, {0.80, 0.70, 0.90, 0.60});
  EXPECT_EQ(d.n, 4);
  EXPECT_NEAR(d.mean, 0.025, 1e-12);
  EXPECT_NEAR(d.ci_low, 0.025 - 0.0205426, 1e-6);
  EXPECT_NEAR(d.ci_high, 0.025 + 0.0205426, 1e-6);
  EXPECT_NEAR((d.ci_high - d.ci_low) / 2, 3.182446305 * std::sqrt(0.0005 / 3) / 2, 1e-9);
  EXPECT_EQ(d.wins, 4);
  EXPECT_EQ(d.losses, 0);
  EXPECT_EQ(d.ties, 0);
  EXPECT_NEAR(d.sign_p, 0.125, kTol);
}

TEST(PairedDifference, TiesAreCountedAndDroppedFromTheSignTest) {
  // d = {0, +0.1, -0.1}: mean 0, one of each; sign test on 1 win, 1 loss:
  // 2 * P(X <= 1 | n = 2) = 2 * 3/4 > 1, capped at 1. The interval is
  // symmetric around 0.
  PairedDifference d = paired_difference({0.5, 0.6, 0.7}, {0.5, 0.5, 0.8});
  EXPECT_EQ(d.n, 3);
  EXPECT_NEAR(d.mean, 0.0, 1e-12);
  EXPECT_EQ(d.wins, 1);
  EXPECT_EQ(d.losses, 1);
  EXPECT_EQ(d.ties, 1);
  EXPECT_EQ(d.sign_p, 1.0);
  EXPECT_NEAR(d.ci_low, -d.ci_high, 1e-12);
  EXPECT_LT(d.ci_low, 0.0);
}

TEST(PairedDifference, FewerThanTwoPairsHaveNoInterval) {
  PairedDifference one = paired_difference({0.9}, {0.8});
  EXPECT_EQ(one.n, 1);
  EXPECT_NEAR(one.mean, 0.1, 1e-12);
  EXPECT_TRUE(std::isnan(one.ci_low));
  EXPECT_TRUE(std::isnan(one.ci_high));
  EXPECT_NEAR(one.sign_p, 1.0, kTol);  // n = 1: 2 * P(X <= 0) = 2 * 1/2

  PairedDifference none = paired_difference({}, {});
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.mean));
  EXPECT_TRUE(std::isnan(none.ci_low));
  EXPECT_EQ(none.sign_p, 1.0);
}

TEST(PairedDifference, MismatchedLengthsAreAnError) {
  std::string message = error_of([] { paired_difference({0.1, 0.2}, {0.1}); });
  EXPECT_TRUE(contains(message, "2 and 1")) << message;
}

// ---------------------------------------------------------------------------
// summarize: 2 configurations x 2 classes x 2 seeds, big/cable/seed 2 missing.
//
//              bottle s1  bottle s2  cable s1  cable s2
//   base        0.80       0.90       0.60      0.70
//   big         0.85       0.97       0.62      (none)

RunResult run(const std::string& config, const std::string& cls, uint64_t seed, double auroc,
              double ips = 100, double seconds = 10) {
  RunResult r;
  r.run_id = config + "-" + cls + "-" + std::to_string(seed);
  r.config = config;
  r.normal_class = cls;
  r.seed = seed;
  r.metrics = {{"image_auroc", auroc}, {"aupr", 0.5}};
  r.train_images_per_second = ips;
  r.train_seconds = seconds;
  return r;
}

Comparison grid() {
  Comparison c;
  c.title = "ablation.toml";
  c.axes = {"size"};
  c.configs = {"base", "big"};
  c.classes = {"bottle", "cable"};
  c.seeds = {1, 2};
  return c;
}

std::vector<RunResult> grid_results() {
  return {run("base", "bottle", 1, 0.80, 100, 10), run("base", "bottle", 2, 0.90, 110, 10),
          run("base", "cable", 1, 0.60, 120, 10),  run("base", "cable", 2, 0.70, 130, 10),
          run("big", "bottle", 1, 0.85, 50, 20),   run("big", "bottle", 2, 0.97, 60, 20),
          run("big", "cable", 1, 0.62, 70, 21)};
}

TEST(Summarize, PerClassOverallBestAndPairing) {
  Summary s = summarize(grid(), grid_results());
  EXPECT_EQ(s.metric, "image_auroc");
  EXPECT_EQ(s.baseline, "base");
  EXPECT_EQ(s.runs_expected, 8);
  EXPECT_EQ(s.runs_found, 7);
  ASSERT_EQ(s.configs.size(), 2u);
  const ConfigSummary& base = s.configs[0];
  const ConfigSummary& big = s.configs[1];
  EXPECT_EQ(base.config, "base");
  EXPECT_EQ(big.config, "big");

  // base bottle {0.80, 0.90}: mean 0.85, sd = 0.1/sqrt(2) = 0.0707107.
  EXPECT_NEAR(base.per_class.at("bottle").mean, 0.85, 1e-12);
  EXPECT_NEAR(base.per_class.at("bottle").std, 0.1 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(base.per_class.at("bottle").n, 2);
  // base cable {0.60, 0.70}: mean 0.65, sd 0.0707107.
  EXPECT_NEAR(base.per_class.at("cable").mean, 0.65, 1e-12);
  EXPECT_NEAR(base.per_class.at("cable").std, 0.1 / std::sqrt(2.0), 1e-12);
  // base overall: (0.8 + 0.9 + 0.6 + 0.7)/4 = 0.75; per-seed means over
  // classes 0.70 (s1), 0.80 (s2): sd 0.1/sqrt(2).
  EXPECT_NEAR(base.overall.mean, 0.75, 1e-12);
  EXPECT_NEAR(base.overall.std, 0.1 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(base.overall.n, 4);

  // big bottle {0.85, 0.97}: mean 0.91, sd 0.12/sqrt(2) = 0.0848528.
  EXPECT_NEAR(big.per_class.at("bottle").mean, 0.91, 1e-12);
  EXPECT_NEAR(big.per_class.at("bottle").std, 0.12 / std::sqrt(2.0), 1e-12);
  // big cable {0.62}: one seed, no std.
  EXPECT_NEAR(big.per_class.at("cable").mean, 0.62, 1e-12);
  EXPECT_TRUE(std::isnan(big.per_class.at("cable").std));
  EXPECT_EQ(big.per_class.at("cable").n, 1);
  // big overall: (0.85 + 0.97 + 0.62)/3 = 0.813333; per-seed means
  // s1 (0.85 + 0.62)/2 = 0.735, s2 0.97 (its only class): sd
  // 0.235/sqrt(2) = 0.1661701.
  EXPECT_NEAR(big.overall.mean, 2.44 / 3, 1e-12);
  EXPECT_NEAR(big.overall.std, 0.235 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(big.overall.n, 3);

  // Best: bottle big (0.91 > 0.85), cable base (0.65 > 0.62), overall big.
  EXPECT_EQ(s.best.at("bottle"), "big");
  EXPECT_EQ(s.best.at("cable"), "base");
  EXPECT_EQ(s.best.at(""), "big");

  // The baseline is not paired with itself.
  EXPECT_EQ(base.vs_baseline.n, 0);
  // big vs base, pairs (bottle,1) +0.05, (bottle,2) +0.07, (cable,1) +0.02;
  // (cable,2) has no big run. mean 0.14/3 = 0.0466667; deviations
  // +0.003333, +0.023333, -0.026667, squares sum 0.00126667, sd =
  // sqrt(0.00126667/2) = 0.0251661, se = sd/sqrt(3) = 0.0145297,
  // t(0.975, 2) = 4.302653: half width 0.0625161, CI [-0.0158494, 0.1091828].
  // 3 wins: sign test 2/8 = 0.25.
  const PairedDifference& d = big.vs_baseline;
  EXPECT_EQ(d.n, 3);
  EXPECT_NEAR(d.mean, 0.14 / 3, 1e-12);
  EXPECT_NEAR(d.ci_low, 0.14 / 3 - 0.0625161, 1e-6);
  EXPECT_NEAR(d.ci_high, 0.14 / 3 + 0.0625161, 1e-6);
  EXPECT_EQ(d.wins, 3);
  EXPECT_EQ(d.losses, 0);
  EXPECT_EQ(d.ties, 0);
  EXPECT_NEAR(d.sign_p, 0.25, kTol);

  // Throughput: base (100 + 110 + 120 + 130)/4 = 115 img/s, 4 x 10 = 40 s;
  // big (50 + 60 + 70)/3 = 60 img/s, 20 + 20 + 21 = 61 s.
  EXPECT_NEAR(base.train_images_per_second, 115, 1e-12);
  EXPECT_NEAR(base.train_seconds, 40, 1e-12);
  EXPECT_NEAR(big.train_images_per_second, 60, 1e-12);
  EXPECT_NEAR(big.train_seconds, 61, 1e-12);
}

TEST(Summarize, TiesGoToTheEarlierConfiguration) {
  Comparison c = grid();
  c.classes = {"bottle"};
  c.seeds = {1};
  Summary s = summarize(c, {run("base", "bottle", 1, 0.9), run("big", "bottle", 1, 0.9)});
  EXPECT_EQ(s.best.at("bottle"), "base");
  EXPECT_EQ(s.best.at(""), "base");
  EXPECT_EQ(s.configs[1].vs_baseline.ties, 1);
}

TEST(Summarize, OtherMetricAndNoRuns) {
  Comparison c = grid();
  c.metric = "aupr";
  Summary s = summarize(c, grid_results());
  EXPECT_NEAR(s.configs[0].overall.mean, 0.5, 1e-12);
  EXPECT_NEAR(s.configs[0].overall.std, 0.0, 1e-12);

  Summary empty = summarize(grid(), {});
  EXPECT_EQ(empty.runs_found, 0);
  EXPECT_EQ(empty.configs[1].per_class.at("bottle").n, 0);
  EXPECT_TRUE(std::isnan(empty.configs[1].overall.mean));
  EXPECT_TRUE(std::isnan(empty.configs[1].train_seconds));
  EXPECT_TRUE(empty.best.empty());
}

TEST(Summarize, NotANumberCountsAsMissing) {
  // base bottle s1 is NaN: bottle has only 0.90 left; pairs drop (bottle,1)
  // too, leaving (bottle,2) +0.07 and (cable,1) +0.02: mean 0.045.
  auto results = grid_results();
  results[0].metrics["image_auroc"] = std::nan("");
  Summary s = summarize(grid(), results);
  EXPECT_EQ(s.runs_found, 7);
  EXPECT_EQ(s.configs[0].per_class.at("bottle").n, 1);
  EXPECT_NEAR(s.configs[0].per_class.at("bottle").mean, 0.90, 1e-12);
  EXPECT_EQ(s.configs[0].overall.n, 3);
  EXPECT_EQ(s.configs[1].vs_baseline.n, 2);
  EXPECT_NEAR(s.configs[1].vs_baseline.mean, 0.045, 1e-12);
  EXPECT_NEAR(s.configs[0].train_seconds, 40, 1e-12);  // still a run
}

TEST(Summarize, UnknownConfigurationClassOrSeedIsAnError) {
  auto results = grid_results();
  results.push_back(run("huge", "bottle", 1, 0.9));
  std::string message = error_of([&] { summarize(grid(), results); });
  EXPECT_TRUE(contains(message, "huge-bottle-1")) << message;
  EXPECT_TRUE(contains(message, "'huge'")) << message;

  results = grid_results();
  results.push_back(run("big", "screw", 2, 0.9));
  message = error_of([&] { summarize(grid(), results); });
  EXPECT_TRUE(contains(message, "big-screw-2")) << message;
  EXPECT_TRUE(contains(message, "screw")) << message;

  results = grid_results();
  results.push_back(run("big", "cable", 7, 0.9));
  message = error_of([&] { summarize(grid(), results); });
  EXPECT_TRUE(contains(message, "big-cable-7")) << message;
  EXPECT_TRUE(contains(message, "seed 7")) << message;
}

TEST(Summarize, DuplicateRunIsAnError) {
  auto results = grid_results();
  RunResult again = run("base", "cable", 2, 0.71);
  again.run_id = "base-cable-2-again";
  results.push_back(again);
  std::string message = error_of([&] { summarize(grid(), results); });
  EXPECT_TRUE(contains(message, "'base-cable-2'")) << message;
  EXPECT_TRUE(contains(message, "'base-cable-2-again'")) << message;
}

TEST(Summarize, MissingMetricIsAnError) {
  auto results = grid_results();
  results[2].metrics.erase("image_auroc");
  std::string message = error_of([&] { summarize(grid(), results); });
  EXPECT_TRUE(contains(message, "base-cable-1")) << message;
  EXPECT_TRUE(contains(message, "image_auroc")) << message;
  EXPECT_TRUE(contains(message, "aupr")) << message;  // what it has
}

TEST(Summarize, EmptyGridIsAnError) {
  Comparison c = grid();
  c.configs.clear();
  EXPECT_FALSE(error_of([&] { summarize(c, {}); }).empty());
}

// ---------------------------------------------------------------------------
// summary_markdown

TEST(SummaryMarkdown, GridTables) {
  std::string md = summary_markdown(grid(), summarize(grid(), grid_results()));
  EXPECT_TRUE(contains(md, "# ablation.toml: image_auroc against the baseline base (7 of 8 runs)")) << md;
  EXPECT_TRUE(contains(md, "1 missing")) << md;
  EXPECT_TRUE(contains(md, "| configuration | bottle | cable | overall |")) << md;
  // Best per column in bold: big bottle 0.91 ± 0.0849, base cable
  // 0.65 ± 0.0707, big overall 0.8133 ± 0.1662.
  EXPECT_TRUE(contains(md, "| base (baseline) | 0.8500 ± 0.0707 | **0.6500 ± 0.0707** | 0.7500 ± 0.0707 |")) << md;
  EXPECT_TRUE(contains(md, "| big | **0.9100 ± 0.0849** | 0.6200 | **0.8133 ± 0.1662** |")) << md;
  // Difference: +0.0467, CI [-0.0158, +0.1092], 3 / 0 / 0, p 0.250.
  EXPECT_TRUE(contains(md, "| big | 3 | +0.0467 | [-0.0158, +0.1092] | 3 / 0 / 0 | 0.250 | no clear difference |"))
      << md;
  // Training: 115.0 img/s, 40.0 s; 60.0 img/s, 61 s = 1 min 01 s.
  EXPECT_TRUE(contains(md, "| base | 115.0 | 40.0 s |")) << md;
  EXPECT_TRUE(contains(md, "| big | 60.0 | 1 min 01 s |")) << md;
  EXPECT_TRUE(contains(md, "Student-t")) << md;
  EXPECT_TRUE(contains(md, "exact")) << md;
  EXPECT_EQ(md, summary_markdown(grid(), summarize(grid(), grid_results())));  // deterministic
}

TEST(SummaryMarkdown, ReadingsAndEscaping) {
  Comparison c;
  c.title = "grid";
  c.configs = {"base", "a|b", "worse", "lone"};
  c.classes = {""};
  c.seeds = {1, 2, 3};
  // One class-less dataset, three seeds. "a|b" is +0.10 on every seed, so
  // its d's are all 0.1 (sd 0, CI [0.1, 0.1]): better. "worse" is -0.05,
  // -0.06, -0.04: mean -0.05, sd 0.01, half width 4.302653 * 0.01/sqrt(3) =
  // 0.0248414, CI [-0.0748, -0.0252]: worse. "lone" has one run: too few
  // pairs.
  std::vector<RunResult> results = {run("base", "", 1, 0.70), run("base", "", 2, 0.70), run("base", "", 3, 0.70),
                                    run("a|b", "", 1, 0.80),  run("a|b", "", 2, 0.80),  run("a|b", "", 3, 0.80),
                                    run("worse", "", 1, 0.65), run("worse", "", 2, 0.64), run("worse", "", 3, 0.66),
                                    run("lone", "", 1, 0.75)};
  Summary s = summarize(c, results);
  std::string md = summary_markdown(c, s);
  EXPECT_TRUE(contains(md, "| configuration | overall |")) << md;  // no class column
  EXPECT_TRUE(contains(md, "| a\\|b | **0.8000 ± 0.0000** |")) << md;
  EXPECT_FALSE(contains(md, "| a|b |")) << md;
  EXPECT_TRUE(contains(md, "better than baseline")) << md;
  EXPECT_TRUE(contains(md, "| worse | 3 | -0.0500 | [-0.0748, -0.0252] | 0 / 0 / 3 | 0.250 | worse than baseline |"))
      << md;
  EXPECT_TRUE(contains(md, "| lone | 1 | +0.0500 | — | 1 / 0 / 0 | 1.00 | too few pairs |")) << md;
  EXPECT_TRUE(contains(md, "(10 of 12 runs)")) << md;
}

// summary.md, report.html and results.json render one computed summary: for
// every configuration they show the same verdict, the one-pair case included
// (where report.html once said "no clear difference" and summary.md "too few
// pairs").
TEST(OneSummary, EveryRenderingShowsTheSameVerdict) {
  Comparison c;
  c.title = "grid";
  c.configs = {"base", "better", "worse", "unclear", "lone", "none"};
  c.classes = {""};
  c.seeds = {1, 2, 3};
  std::vector<RunResult> results = {run("base", "", 1, 0.70),    run("base", "", 2, 0.70),    run("base", "", 3, 0.70),
                                    run("better", "", 1, 0.80),  run("better", "", 2, 0.81),  run("better", "", 3, 0.82),
                                    run("worse", "", 1, 0.65),   run("worse", "", 2, 0.64),   run("worse", "", 3, 0.66),
                                    run("unclear", "", 1, 0.60), run("unclear", "", 2, 0.80), run("unclear", "", 3, 0.71),
                                    run("lone", "", 1, 0.75)};
  const Summary s = summarize(c, results);
  const std::map<std::string, Verdict> expected = {
      {"base", Verdict::baseline}, {"better", Verdict::better},      {"worse", Verdict::worse},
      {"unclear", Verdict::no_clear_difference}, {"lone", Verdict::too_few_pairs}, {"none", Verdict::no_pairs}};
  piade::test::ScratchDir dir;
  const std::string md = summary_markdown(c, s);
  const std::string html = report_html(c, s, results, dir.path());
  const nlohmann::json json = summary_to_json(s);
  ASSERT_EQ(json.at("configs").size(), c.configs.size());
  for (std::size_t i = 0; i < c.configs.size(); ++i) {
    const ConfigSummary& config = s.configs[i];
    const std::string text = verdict_text(expected.at(config.config));
    EXPECT_EQ(config.vs_baseline.verdict, expected.at(config.config)) << config.config;
    EXPECT_EQ(json["configs"][i]["config"], config.config);
    EXPECT_EQ(json["configs"][i]["vs_baseline"]["verdict"], text) << config.config;
    // The difference table's row of the configuration ends with its verdict.
    const auto html_row = html.find("<tr><td>" + config.config + "</td>", html.find("95% CI"));
    ASSERT_NE(html_row, std::string::npos) << config.config;
    EXPECT_EQ(html.substr(html_row, html.find("</tr>", html_row) - html_row).rfind("<td>" + text + "</td>") !=
                  std::string::npos,
              true)
        << config.config << " in report.html";
    if (config.config == "base") continue;  // summary.md lists the others against it
    const auto md_row = md.find("| " + config.config + " | ", md.find("95% CI"));
    ASSERT_NE(md_row, std::string::npos) << config.config;
    const std::string row = md.substr(md_row, md.find('\n', md_row) - md_row);
    EXPECT_EQ(row.substr(row.size() - text.size() - 2), text + " |") << row;
  }
  EXPECT_EQ(json["best"]["overall"], "better");
  EXPECT_EQ(json["configs"][4]["vs_baseline"]["ci_low"], nullptr);  // one pair: no interval
}

TEST(SummaryMarkdown, NoRunMissing) {
  auto results = grid_results();
  results.push_back(run("big", "cable", 2, 0.72));
  std::string md = summary_markdown(grid(), summarize(grid(), results));
  EXPECT_TRUE(contains(md, "8 of 8 runs found, none missing")) << md;
}

}  // namespace
}  // namespace piade::compare

namespace piade::compare {
namespace {

// ---------------------------------------------------------------------------
// A reference file's published numbers beside the runs' (grid(): base and
// big over bottle and cable). Published image AUROC: bottle 0.80, cable
// 0.70, a stated mean 0.72; aupr: a mean only, 0.40, listed first in the
// file so that the grid's metric is seen to come first anyway.
Comparison with_reference() {
  Comparison c = grid();
  c.reference_file = "paper.csv";
  c.reference = {{"mean", "aupr", 0.40, "Table 3"},
                 {"bottle", "image_auroc", 0.80, "Table 2"},
                 {"cable", "image_auroc", 0.70, "Table 2"},
                 {"mean", "image_auroc", 0.72, "Table 2"}};
  return c;
}

TEST(SummarizeReference, PublishedValuesDifferencesAndTheMeanOverTheSameClasses) {
  const Summary s = summarize(with_reference(), grid_results());
  ASSERT_EQ(s.reference.size(), 2u);
  const ReferenceSummary& auroc = s.reference[0];
  EXPECT_EQ(auroc.metric, "image_auroc");
  EXPECT_EQ(auroc.file, "paper.csv");
  EXPECT_EQ(auroc.classes, (std::vector<std::string>{"bottle", "cable"}));
  // The mean row is over the classes with a published value: (0.80 + 0.70)/2;
  // the stated 0.72 is kept apart.
  EXPECT_FALSE(auroc.mean_is_stated);
  EXPECT_NEAR(auroc.published_mean, 0.75, 1e-12);
  EXPECT_NEAR(auroc.stated_mean, 0.72, 1e-12);
  ASSERT_EQ(auroc.configs.size(), 2u);
  // base: bottle 0.85, cable 0.65, mean 0.75; big: bottle 0.91, cable 0.62
  // (one seed), mean 0.765.
  EXPECT_NEAR(auroc.configs[0].per_class.at("bottle").mean, 0.85, 1e-12);
  EXPECT_NEAR(auroc.configs[0].mean, 0.75, 1e-12);
  EXPECT_NEAR(auroc.configs[1].per_class.at("cable").mean, 0.62, 1e-12);
  EXPECT_EQ(auroc.configs[1].per_class.at("cable").n, 1);
  EXPECT_NEAR(auroc.configs[1].mean, 0.765, 1e-12);

  // aupr has only a mean: it stands beside each configuration's mean over
  // all the grid's classes (every run's aupr is 0.5).
  const ReferenceSummary& aupr = s.reference[1];
  EXPECT_EQ(aupr.metric, "aupr");
  EXPECT_TRUE(aupr.classes.empty());
  EXPECT_TRUE(aupr.mean_is_stated);
  EXPECT_NEAR(aupr.published_mean, 0.40, 1e-12);
  EXPECT_EQ(aupr.mean_classes, (std::vector<std::string>{"bottle", "cable"}));
  EXPECT_NEAR(aupr.configs[1].mean, 0.5, 1e-12);

  // A class without a run leaves the configuration's mean out rather than
  // average other classes than the published mean does.
  std::vector<RunResult> no_big_cable = grid_results();
  no_big_cable.pop_back();
  EXPECT_TRUE(std::isnan(summarize(with_reference(), no_big_cable).reference[0].configs[1].mean));
  // No reference file: no reference tables, and the JSON has no key.
  EXPECT_TRUE(summarize(grid(), grid_results()).reference.empty());
  EXPECT_FALSE(summary_to_json(summarize(grid(), grid_results())).contains("reference"));
}

TEST(SummarizeReference, ReferenceClassesOutsideTheGridAreLeftOut) {
  Comparison c = with_reference();
  c.reference.push_back({"zipper", "image_auroc", 0.9, ""});
  const Summary s = summarize(c, grid_results());
  EXPECT_EQ(s.reference[0].classes, (std::vector<std::string>{"bottle", "cable"}));
  EXPECT_NEAR(s.reference[0].published_mean, 0.75, 1e-12);
}

TEST(SummaryMarkdown, ShowsThePublishedColumnAndTheDifferencePerClassAndOnAverage) {
  const Summary s = summarize(with_reference(), grid_results());
  const std::string md = summary_markdown(with_reference(), s);
  EXPECT_TRUE(contains(md, "## image_auroc against the published numbers (paper.csv)")) << md;
  EXPECT_TRUE(contains(md, "| class | published | base | base − published | big | big − published |")) << md;
  // bottle: base 0.85 - 0.80 = +0.05, big 0.91 - 0.80 = +0.11.
  EXPECT_TRUE(contains(md, "| bottle | 0.8000 | 0.8500 ± 0.0707 | +0.0500 | 0.9100 ± 0.0849 | +0.1100 |")) << md;
  // cable: base 0.65 - 0.70 = -0.05, big 0.62 - 0.70 = -0.08.
  EXPECT_TRUE(contains(md, "| cable | 0.7000 | 0.6500 ± 0.0707 | -0.0500 | 0.6200 | -0.0800 |")) << md;
  // mean: 0.75; big 0.765, +0.015.
  EXPECT_TRUE(contains(md, "| **mean** | 0.7500 |")) << md;
  EXPECT_TRUE(contains(md, "| 0.7650 | +0.0150 |")) << md;
  EXPECT_TRUE(contains(md, "states a published mean of 0.7200")) << md;
  // aupr: mean only, 0.40 against 0.50: +0.10.
  EXPECT_TRUE(contains(md, "## aupr against the published numbers (paper.csv)")) << md;
  EXPECT_TRUE(contains(md, "| **mean** | 0.4000 | 0.5000 | +0.1000 | 0.5000 | +0.1000 |")) << md;
  EXPECT_TRUE(contains(md, "only the published mean over classes (Table 3)")) << md;
  // Before the paired differences, after the configurations' own table.
  EXPECT_LT(md.find("## Table 1"), md.find("against the published numbers"));
  EXPECT_LT(md.find("against the published numbers"), md.find("## Table 2"));

  const nlohmann::json json = summary_to_json(s);
  ASSERT_EQ(json.at("reference").size(), 2u);
  EXPECT_NEAR(json.at("reference")[0].at("configs")[1].at("per_class").at("bottle").at("difference").get<double>(),
              0.11, 1e-12);
  EXPECT_NEAR(json.at("reference")[0].at("configs")[1].at("mean_difference").get<double>(), 0.015, 1e-12);

  // report.html shows the same table.
  test::ScratchDir dir;
  const std::string html = report_html(with_reference(), s, grid_results(), dir.path());
  EXPECT_TRUE(contains(html, "<h2>image_auroc against the published numbers (paper.csv)</h2>")) << html;
  EXPECT_TRUE(contains(html, "<th>big &minus; published</th>")) << html;
  EXPECT_TRUE(contains(html, "<td>bottle</td><td>0.8000</td><td>0.8500 &plusmn; 0.0707</td><td>+0.0500</td>")) << html;
  EXPECT_TRUE(contains(html, "<td><b>0.7650</b></td><td><b>+0.0150</b></td>")) << html;
}

// results.json keeps the reference, so that `compare merge` and a later
// `--tables-only` show the published column without the grid's file.
TEST(SummarizeReference, ResultsJsonKeepsTheReferenceForMerge) {
  test::ScratchDir dir;
  ResultsFile results;
  results.comparison = with_reference();
  results.runs = grid_results();
  write_results(dir.path(), results);
  const ResultsFile back = read_results(dir.path());
  ASSERT_EQ(back.comparison.reference.size(), 4u);
  EXPECT_EQ(back.comparison.reference_file, "paper.csv");
  EXPECT_EQ(back.comparison.reference[1].normal_class, "bottle");
  EXPECT_EQ(back.comparison.reference[1].metric, "image_auroc");
  EXPECT_DOUBLE_EQ(back.comparison.reference[1].value, 0.80);
  EXPECT_EQ(back.comparison.reference[1].source, "Table 2");
  EXPECT_EQ(summary_markdown(back.comparison, summarize(back.comparison, back.runs)),
            summary_markdown(results.comparison, summarize(results.comparison, results.runs)));
  // A grid without one writes no reference key (older results read alike).
  results.comparison = grid();
  write_results(dir.path(), results);
  EXPECT_TRUE(read_results(dir.path()).comparison.reference.empty());
  EXPECT_FALSE(contains(test::read_text(dir.path() / "results.json"), "\"reference\""));
}

// Shards of one grid read its reference file when each ran; if it was
// edited in between, merge used to keep the first shard's values silently.
TEST(SummarizeReference, MergingShardsThatReadDifferentReferenceValuesIsRefused) {
  test::ScratchDir dir;
  ResultsFile results;
  results.comparison = with_reference();
  results.runs = grid_results();
  namespace fs = std::filesystem;
  const fs::path first = dir.path() / "shard0", second = dir.path() / "shard1";
  fs::create_directories(first);
  fs::create_directories(second);
  write_results(first, results);
  write_results(second, results);
  // Merged into the first shard's folder (these runs have no run folders to copy).
  EXPECT_EQ(merge_results({first, second}, first).comparison.reference.size(), 4u);
  results.comparison.reference[1].value = 0.81;
  write_results(second, results);
  std::string message;
  try {
    merge_results({first, second}, first);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("merge: " + second.string() + " shows other published values (4 rows from 'paper.csv') "
                         "than " + first.string()),
            std::string::npos)
      << message;
  EXPECT_DOUBLE_EQ(read_results(first).comparison.reference[1].value, 0.80);
}

}  // namespace
}  // namespace piade::compare
