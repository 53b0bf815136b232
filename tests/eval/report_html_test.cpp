// piade/eval/report_html.h: eval's self-contained page (the browser test is
// in tests/cli/cli_eval_test.cpp) and its Base64.
#include <string>

#include <gtest/gtest.h>

#include "piade/eval/report_html.h"
#include "piade/eval/roc_svg.h"

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Base64, EncodesEveryPaddingAsRfc4648) {
  EXPECT_EQ(piade::base64(""), "");
  EXPECT_EQ(piade::base64("f"), "Zg==");
  EXPECT_EQ(piade::base64("fo"), "Zm8=");
  EXPECT_EQ(piade::base64("foo"), "Zm9v");
  EXPECT_EQ(piade::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(piade::base64(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(EvalReportHtml, HoldsTheMetricsChartsWarningsAndPicturesAndNothingFromOutside) {
  piade::EvalReport report;
  report.title = "MVTec AD <tile>";
  report.metrics = {{"image_auroc", 0.987654321}, {"n_normal", 4}, {"dataset", "mvtec"}};
  report.warnings = {"only 4 normal & 4 anomalous test images"};
  report.charts = {piade::roc_svg({0, 1}, {0, 1}, 0.5, "t")};
  report.groups = {{"False positives", "normal images judged anomalous", {{"fp <1>", "PNG1"}, {"fp 2", "PNG2"}}},
                   {"False negatives", "none here", {}},
                   {"True positives", "a sample", {{"tp", "PNG3"}}}};
  const std::string html = piade::eval_report_html(report);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<h1>piade eval: MVTec AD &lt;tile&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("<td>image_auroc</td><td>0.987654</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>n_normal</td><td>4</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>dataset</td><td>mvtec</td>"), std::string::npos);
  EXPECT_NE(html.find("warning: only 4 normal &amp; 4 anomalous test images"), std::string::npos);
  // The chart inline, without its XML declaration.
  EXPECT_EQ(count(html, "<svg"), 1u);
  EXPECT_EQ(html.find("<?xml"), std::string::npos);
  // Pictures as data: URIs, grouped; an empty group is left out.
  EXPECT_EQ(count(html, "<img "), 3u);
  EXPECT_NE(html.find("<h3>False positives (2)</h3>"), std::string::npos);
  EXPECT_EQ(html.find("False negatives"), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/png;base64," + piade::base64("PNG1") + "\""), std::string::npos);
  EXPECT_NE(html.find("<figcaption>fp &lt;1&gt;</figcaption>"), std::string::npos);
  // The browser check's placeholders and script.
  EXPECT_NE(html.find("<span id=\"images-loaded\">?</span>"), std::string::npos);
  EXPECT_NE(html.find("naturalWidth > 0"), std::string::npos);
  // Nothing fetched: no link, no external source, no URL but data: ones.
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find(" src=\"http"), std::string::npos);
  EXPECT_EQ(count(html, "src=\""), count(html, "src=\"data:"));
}

}  // namespace
