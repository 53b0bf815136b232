// report.html of a comparison, on fake run folders (2 configurations x 2
// classes x 1 seed) and a Summary built by hand; and the multi-curve ROC
// SVG it embeds. Needs neither LibTorch nor a trained model.
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "piade/compare/report.h"
#include "piade/core/error.h"
#include "piade/eval/roc_svg.h"
#include "tests/support/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace piade::compare;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// An independent decoder, so that the round trip checks the encoder.
std::string decode_base64(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0, value = 0;
  for (char c : text) {
    if (c == '=') break;
    value = (value << 6) | static_cast<unsigned>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xFF);
    }
  }
  return out;
}

void write(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << bytes;
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const piade::Error& e) {
    return e.what();
  }
  return "no piade::Error";
}

// ---- base64 ----

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t length : {254, 255, 256}) {
    const std::string encoded = base64(bytes.substr(0, length));
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(decode_base64(encoded), bytes.substr(0, length));
  }
}

// ---- roc_svg with several curves ----

std::vector<piade::RocCurve> three_curves() {
  return {{"first", {0, 0, 1}, {0, 1, 1}, 1.0},
          {"a <b> & c", {0, 0.5, 1}, {0, 0.5, 1}, 0.5},
          {"no metric", {0, 1}, {0, 1}, std::nan("")}};
}

double svg_height(const std::string& svg) {
  std::smatch match;
  std::regex_search(svg, match, std::regex("<svg[^>]* height=\"([0-9.]+)\""));
  return std::stod(match[1]);
}

TEST(RocSvgCurves, DrawsEveryCurveInItsOwnColourWithALegendRow) {
  const std::string svg = piade::roc_svg(three_curves(), "class <0>");
  EXPECT_EQ(count(svg, "<polyline"), 3u);
  for (const char* colour : {"#1f77b4", "#ff7f0e", "#2ca02c"})
    EXPECT_EQ(count(svg, std::string("stroke=\"") + colour + "\""), 2u) << colour;  // curve + legend sample
  EXPECT_TRUE(has(svg, ">first (AUROC = 1.0000)<"));
  EXPECT_TRUE(has(svg, ">a &lt;b&gt; &amp; c (AUROC = 0.5000)<"));
  EXPECT_TRUE(has(svg, ">no metric (AUROC = n/a)<"));
  EXPECT_TRUE(has(svg, ">chance (AUROC = 0.5)<"));
  EXPECT_TRUE(has(svg, ">class &lt;0&gt;<"));
  EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
}

TEST(RocSvgCurves, TheLegendGrowsWithTheCurvesAndLongLabels) {
  std::vector<piade::RocCurve> curves = three_curves();
  const std::string one = piade::roc_svg({curves[0]}, "t");
  EXPECT_DOUBLE_EQ(svg_height(piade::roc_svg(curves, "t")), svg_height(one) + 40);
  EXPECT_TRUE(has(one, "width=\"480\""));
  curves[0].label = std::string(100, 'x');
  EXPECT_FALSE(has(piade::roc_svg(curves, "t"), "width=\"480\""));
}

TEST(RocSvgCurves, AColourSlotKeepsASeriesColourAndThePaletteCyclesDotted) {
  piade::RocCurve curve = three_curves()[0];
  curve.colour = 2;
  EXPECT_TRUE(has(piade::roc_svg({curve}, "t"), "stroke=\"#2ca02c\""));
  curve.colour = 11;
  EXPECT_TRUE(has(piade::roc_svg({curve}, "t"), "stroke=\"#ff7f0e\" stroke-width=\"2\" stroke-dasharray=\"2 3\""));
}

TEST(RocSvgCurves, TheSingleCurveFormKeepsItsLabelAndPlot) {
  const std::string svg = piade::roc_svg({0.0, 0.0, 0.5, 0.5, 1.0}, {0.0, 0.5, 0.5, 1.0, 1.0}, 0.75, "t");
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_TRUE(has(svg, ">ROC (AUROC = 0.7500)<"));
  EXPECT_TRUE(has(svg, "points=\"70.00,430.00 70.00,240.00 ")) << svg;
  EXPECT_TRUE(has(svg, " 450.00,50.00\"")) << svg;
}

TEST(RocSvgCurves, RefusesCurvesThatAreNotRatesNamingTheCurve) {
  EXPECT_TRUE(has(message_of([] { piade::roc_svg({{"c1", {0, 1}, {0}, 0.5}}, "t"); }),
                  "curve 'c1': 2 false positive rates but 1 true"));
  EXPECT_TRUE(has(message_of([] { piade::roc_svg({{"c2", {}, {}, 0.5}}, "t"); }), "curve 'c2': the curve has no points"));
  EXPECT_TRUE(has(message_of([] { piade::roc_svg({{"c3", {0, 1.5}, {0, 1}, 0.5}}, "t"); }),
                  "point 1 (1.5, 1) is outside [0, 1]"));
  EXPECT_EQ(count(piade::roc_svg(std::vector<piade::RocCurve>{}, "t"), "<polyline"), 0u);
}

// ---- report_html ----

const std::string kBase = "base";
const std::string kCandidate = "cand <x> & y";  // must come out escaped

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    comparison_.title = "grid <1>.toml";
    comparison_.axes = {"variant"};
    comparison_.configs = {kBase, kCandidate};
    comparison_.classes = {"a", "b"};
    comparison_.seeds = {7};
    const std::map<std::string, double> auroc = {{kBase + "a", 0.9}, {kBase + "b", 0.8},
                                                 {kCandidate + "a", 0.85}, {kCandidate + "b", 0.95}};
    int id = 0;
    for (const std::string& config : comparison_.configs)
      for (const std::string& normal_class : comparison_.classes) {
        RunResult run;
        run.run_id = "run" + std::to_string(id++);
        run.config = config;
        run.normal_class = normal_class;
        run.seed = 7;
        run.metrics = {{"image_auroc", auroc.at(config + normal_class)}, {"aupr", 0.5}};
        run.folder = "runs/" + run.run_id;
        write_run(run);
        results_.push_back(run);
      }
    summary_ = hand_summary();
  }

  // A (0,0) (fpr,tpr) start, one middle point, the (1,1) end; and strip
  // files of lengths 0, 1 and 2 mod 3 so that every padding is embedded.
  void write_run(const RunResult& run) {
    const fs::path eval = dir_.path() / run.folder / "eval";
    write(eval / "roc.csv", "threshold,fpr,tpr\ninf,0,0\n0.5,0.25,0.75\n0,1,1\n");
    int length = 10;
    for (const char* name : {"false_positive_good_x.png", "true_positive_crack_y.png", "true_negative_good_z.png"}) {
      const std::string bytes = std::string("\x89PNG\r\n\x1a\n", 8) + run.run_id + name + std::string(length++, '\0');
      write(eval / "pictures" / name, bytes);
      pictures_[run.folder + "/" + name] = bytes;
    }
  }

  Summary hand_summary() const {
    Summary s;
    s.metric = "image_auroc";
    s.baseline = kBase;
    s.classes = comparison_.classes;
    ConfigSummary base{kBase, {{"a", {0.9, 0.01, 1}}, {"b", {0.8, 0.02, 1}}}, {0.85, 0.03, 2}, {}, 120.5, 60};
    ConfigSummary candidate{kCandidate, {{"a", {0.85, 0.01, 1}}, {"b", {0.95, 0.02, 1}}}, {0.9, 0.04, 2}, {},
                            99.24, 70};
    base.vs_baseline.verdict = Verdict::baseline;
    candidate.vs_baseline = {2, 0.05, 0.01, 0.09, 1, 1, 0, 1.0, Verdict::better};
    s.configs = {base, candidate};
    s.best = {{"a", kBase}, {"b", kCandidate}, {"", kCandidate}};
    s.runs_expected = 4;
    s.runs_found = 4;
    return s;
  }

  std::string report(const ReportOptions& options = {}) const {
    return report_html(comparison_, summary_, results_, dir_.path(), options);
  }

  // The HTML of one class's chart.
  static std::string chart_of(const std::string& html, const std::string& normal_class) {
    const auto start = html.find("<div class=\"chart\">\n<h3>normal class " + normal_class + "</h3>");
    if (start == std::string::npos) return "";
    return html.substr(start, html.find("</div>", start) - start);
  }

  piade::test::ScratchDir dir_;
  Comparison comparison_;
  std::vector<RunResult> results_;
  Summary summary_;
  std::map<std::string, std::string> pictures_;  ///< by run folder/name: bytes
};

TEST_F(ReportTest, IsOneSelfContainedHtmlPage) {
  const std::string html = report();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(has(html, "<style>"));
  EXPECT_EQ(html.rfind("</html>\n"), html.size() - 8);
  EXPECT_FALSE(has(html, "https://"));
  EXPECT_FALSE(has(html, "<script"));
  EXPECT_FALSE(has(html, "<?xml"));
  // The only address is the SVG namespace, which is a name, not a fetch.
  EXPECT_EQ(count(html, "http://"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(count(html, "http://"), 2u);
}

TEST_F(ReportTest, StatesTheTitleMetricBaselineAndRuns) {
  const std::string html = report();
  EXPECT_TRUE(has(html, "<title>grid &lt;1&gt;.toml</title>"));
  EXPECT_TRUE(has(html, "<h1>grid &lt;1&gt;.toml</h1>"));
  EXPECT_TRUE(has(html, "Metric: <b>image_auroc</b>"));
  EXPECT_TRUE(has(html, "Baseline: <b>base</b>"));
  EXPECT_TRUE(has(html, "Runs found: 4 of 4 expected."));
}

TEST_F(ReportTest, EscapesEveryLabel) {
  const std::string html = report();
  EXPECT_FALSE(has(html, kCandidate));
  EXPECT_GE(count(html, "cand &lt;x&gt; &amp; y"), 3u + 2u + 2u);  // tables, legends, picture headings
}

TEST_F(ReportTest, BoldsTheBestMeanOfEachColumn) {
  const std::string html = report();
  EXPECT_TRUE(has(html, "<td><b>0.9000 &plusmn; 0.0100</b></td><td>0.8000 &plusmn; 0.0200</td>"
                        "<td>0.8500 &plusmn; 0.0300</td>"));
  EXPECT_TRUE(has(html, "<td>0.8500 &plusmn; 0.0100</td><td><b>0.9500 &plusmn; 0.0200</b></td>"
                        "<td><b>0.9000 &plusmn; 0.0400</b></td>"));
  EXPECT_EQ(count(html, "<b>0."), 3u);
}

TEST_F(ReportTest, ReadsThePairedDifferenceInPlainWords) {
  std::string html = report();
  EXPECT_TRUE(has(html, "<td>2</td><td>+0.0500</td><td>[+0.0100, +0.0900]</td><td>1 / 0 / 1</td><td>1</td>"
                        "<td>better than baseline</td>"));
  EXPECT_TRUE(has(html, "<td>baseline</td>"));
  // The page shows the summary's verdict; it never works one out itself
  // (summary_test checks that summary.md, report.html and results.json agree).
  summary_.configs[1].vs_baseline.ci_low = -0.01;
  summary_.configs[1].vs_baseline.verdict = Verdict::no_clear_difference;
  EXPECT_TRUE(has(report(), "<td>no clear difference</td>"));
  summary_.configs[1].vs_baseline.ci_high = -0.001;
  summary_.configs[1].vs_baseline.verdict = Verdict::worse;
  EXPECT_TRUE(has(report(), "<td>worse than baseline</td>"));
  summary_.configs[1].vs_baseline.ci_low = summary_.configs[1].vs_baseline.ci_high = kNotAvailable;
  summary_.configs[1].vs_baseline.verdict = Verdict::too_few_pairs;
  EXPECT_TRUE(has(report(), "<td>n/a</td><td>1 / 0 / 1</td><td>1</td><td>too few pairs</td>"));
}

TEST_F(ReportTest, ShowsTrainingSpeed) {
  const std::string html = report();
  EXPECT_TRUE(has(html, "<tr><td>base</td><td>120.5</td><td>60</td></tr>"));
  EXPECT_TRUE(has(html, "<td>99.2</td><td>70</td></tr>"));
}

TEST_F(ReportTest, DrawsOneChartPerClassWithACurvePerConfiguration) {
  const std::string html = report();
  EXPECT_EQ(count(html, "<svg"), 2u);
  for (const std::string normal_class : {"a", "b"}) {
    const std::string chart = chart_of(html, normal_class);
    EXPECT_EQ(count(chart, "<svg"), 1u) << normal_class;
    EXPECT_EQ(count(chart, "<polyline"), 2u) << normal_class;
    EXPECT_EQ(count(chart, "points=\"70.00,430.00 165.00,145.00 450.00,50.00\""), 2u) << chart;
    EXPECT_FALSE(has(chart, "class=\"note\"")) << chart;
  }
  EXPECT_TRUE(has(chart_of(html, "a"), ">base (AUROC = 0.9000)<"));
  EXPECT_TRUE(has(chart_of(html, "a"), ">cand &lt;x&gt; &amp; y (AUROC = 0.8500)<"));
  EXPECT_TRUE(has(chart_of(html, "b"), ">base (AUROC = 0.8000)<"));
  EXPECT_TRUE(has(chart_of(html, "b"), ">cand &lt;x&gt; &amp; y (AUROC = 0.9500)<"));
}

TEST_F(ReportTest, LeavesOutAMissingOrMalformedCurveWithANote) {
  fs::remove(dir_.path() / "runs/run3/eval/roc.csv");                           // candidate, class b
  write(dir_.path() / "runs/run0/eval/roc.csv", "threshold,fpr,tpr\n1,0,0\n0,abc,1\n");  // base, class a
  std::string html;
  ASSERT_NO_THROW(html = report());
  const std::string a = chart_of(html, "a"), b = chart_of(html, "b");
  EXPECT_EQ(count(a, "<polyline"), 1u);
  EXPECT_EQ(count(b, "<polyline"), 1u);
  EXPECT_TRUE(has(a, "base: ROC curve omitted, runs/run0/eval/roc.csv is malformed: line 3")) << a;
  EXPECT_TRUE(has(b, "cand &lt;x&gt; &amp; y: ROC curve omitted, runs/run3/eval/roc.csv is missing")) << b;
  EXPECT_FALSE(has(a, ">base (AUROC")) << a;
  EXPECT_TRUE(has(a, ">cand &lt;x&gt; &amp; y (AUROC = 0.8500)<")) << a;
}

TEST_F(ReportTest, ReadsCurvesWithOtherColumnOrdersSpacesAndCrlf) {
  write(dir_.path() / "runs/run0/eval/roc.csv", "tpr , threshold, fpr\r\n\r\n0,inf,0\r\n1 , 0.5, 0.5\r\n1,0,1\r\n");
  const std::string a = chart_of(report(), "a");
  EXPECT_TRUE(has(a, "points=\"70.00,430.00 260.00,50.00 450.00,50.00\"")) << a;
  EXPECT_FALSE(has(a, "class=\"note\"")) << a;
}

TEST_F(ReportTest, ToleratesAMissingRunAndAnEmptyChart) {
  results_.erase(results_.begin() + 1);  // base, class b
  fs::remove(dir_.path() / "runs/run3/eval/roc.csv");
  std::string html;
  ASSERT_NO_THROW(html = report());
  const std::string b = chart_of(html, "b");
  EXPECT_EQ(count(b, "<svg"), 0u);
  EXPECT_TRUE(has(b, "base: no run, no ROC curve")) << b;
  EXPECT_TRUE(has(html, "<h4>base</h4>\n<p class=\"note\">no run</p>"));
}

TEST_F(ReportTest, EmbedsStripsAlternatelyNormalAndAnomalousAsDataUris) {
  const std::string html = report();
  const std::regex uri("<img src=\"data:image/png;base64,([A-Za-z0-9+/]*=*)\" alt=\"([^\"]+)\">");
  std::vector<std::string> shown;
  for (std::sregex_iterator it(html.begin(), html.end(), uri), end; it != end; ++it) shown.push_back((*it)[2]);
  ASSERT_EQ(shown.size(), 8u);  // 2 per configuration and class
  // Class by class, configuration by configuration: run0 (base, a), run2,
  // run1, run3.
  const int run_of_pair[] = {0, 2, 1, 3};
  std::size_t i = 0;
  for (std::sregex_iterator it(html.begin(), html.end(), uri), end; it != end; ++it, ++i) {
    const std::string folder = "runs/run" + std::to_string(run_of_pair[i / 2]);
    const std::string name = i % 2 == 0 ? "false_positive_good_x.png" : "true_positive_crack_y.png";
    EXPECT_EQ((*it)[2], name);
    EXPECT_EQ(decode_base64((*it)[1]), pictures_.at(folder + "/" + name)) << folder << "/" << name;
  }
  EXPECT_TRUE(has(html, "<figcaption>true_positive_crack_y.png</figcaption>"));
  EXPECT_FALSE(has(html, "true_negative_good_z.png"));
}

TEST_F(ReportTest, ShowsAsManyStripsAsAskedAndNotesMissingOnes) {
  fs::remove_all(dir_.path() / "runs/run2/eval/pictures");
  ReportOptions options;
  options.pictures_per_config = 5;  // more than there are: all three
  std::string html = report(options);
  EXPECT_EQ(count(html, "data:image/png;base64,"), 9u);
  EXPECT_TRUE(has(html, "no pictures in runs/run2/eval/pictures"));
  options.pictures_per_config = 0;
  html = report(options);
  EXPECT_FALSE(has(html, "data:image"));
  EXPECT_FALSE(has(html, "<h2>Pictures"));
  options.pictures_per_config = -1;
  EXPECT_TRUE(has(message_of([&] { report(options); }), "pictures_per_config must be 0 or more, got -1"));
}

}  // namespace
