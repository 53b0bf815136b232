#include "piade/eval/roc_svg.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace {

// A square plot of kSide pixels at (kLeft, kTop); rates map to y upwards.
// The legend goes below the axis caption, so curves are never hidden by it.
constexpr double kLeft = 70, kTop = 50, kSide = 380, kMinWidth = 480;
constexpr double kLegendTop = kTop + kSide + 52, kLegendRow = 20;
// A generous average glyph width at 12 px: an overestimate only leaves room.
constexpr double kCharWidth = 7;

double x_of(double rate) { return kLeft + rate * kSide; }
double y_of(double rate) { return kTop + (1.0 - rate) * kSide; }

// Matplotlib's "tab10" with black instead of its grey, which reads as the
// chance line.
constexpr std::array<const char*, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                  "#8c564b", "#e377c2", "#000000", "#bcbd22", "#17becf"};

// Colour and dash of curve i: past the palette, colours repeat dotted.
std::string stroke_of(std::size_t i) {
  return fmt::format("stroke=\"{}\" stroke-width=\"2\"{}", kPalette[i % kPalette.size()],
                     i < kPalette.size() ? "" : " stroke-dasharray=\"2 3\"");
}

std::size_t slot_of(const RocCurve& curve, std::size_t position) {
  return curve.colour >= 0 ? static_cast<std::size_t>(curve.colour) : position;
}

void validate(const RocCurve& curve) {
  const std::string context = fmt::format("roc_svg: curve '{}'", curve.label);
  if (curve.fpr.size() != curve.tpr.size())
    throw Error(fmt::format("{}: {} false positive rates but {} true positive rates", context, curve.fpr.size(),
                            curve.tpr.size()));
  if (curve.fpr.empty()) throw Error(context + ": the curve has no points");
  for (std::size_t i = 0; i < curve.fpr.size(); ++i)
    if (!(curve.fpr[i] >= 0 && curve.fpr[i] <= 1 && curve.tpr[i] >= 0 && curve.tpr[i] <= 1))
      throw Error(fmt::format("{}: point {} ({}, {}) is outside [0, 1]", context, i, curve.fpr[i], curve.tpr[i]));
}

std::string legend_text(const RocCurve& curve) {
  const std::string auroc = std::isfinite(curve.auroc) ? fmt::format("{:.4f}", curve.auroc) : "n/a";
  return fmt::format("{} (AUROC = {})", curve.label, auroc);
}

// Grid, ticks and tick labels every 0.2, the frame, the axis captions and
// the chance diagonal.
std::string axes() {
  std::string svg;
  for (int i = 0; i <= 5; ++i) {
    const double rate = i / 5.0;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n"
        "<line x1=\"{3:.1f}\" y1=\"{4:.1f}\" x2=\"{5:.1f}\" y2=\"{4:.1f}\" stroke=\"#e5e5e5\"/>\n"
        "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{0:.1f}\" y2=\"{6:.1f}\" stroke=\"black\"/>\n"
        "<line x1=\"{3:.1f}\" y1=\"{4:.1f}\" x2=\"{7:.1f}\" y2=\"{4:.1f}\" stroke=\"black\"/>\n"
        "<text x=\"{0:.1f}\" y=\"{8:.1f}\" text-anchor=\"middle\">{9:.1f}</text>\n"
        "<text x=\"{10:.1f}\" y=\"{11:.1f}\" text-anchor=\"end\">{9:.1f}</text>\n",
        x_of(rate), kTop, kTop + kSide, kLeft, y_of(rate), kLeft + kSide, kTop + kSide + 5, kLeft - 5,
        kTop + kSide + 19, rate, kLeft - 8, y_of(rate) + 4);
  }
  svg += fmt::format(
      "<rect x=\"{0:.1f}\" y=\"{1:.1f}\" width=\"{2:.1f}\" height=\"{2:.1f}\" fill=\"none\" stroke=\"black\"/>\n"
      "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"middle\">false positive rate</text>\n"
      "<text x=\"{5:.1f}\" y=\"{6:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 {5:.1f} {6:.1f})\">"
      "true positive rate</text>\n"
      "<line x1=\"{0:.1f}\" y1=\"{7:.1f}\" x2=\"{7:.1f}\" y2=\"{1:.1f}\" stroke=\"#888888\" "
      "stroke-dasharray=\"6 4\"/>\n",
      kLeft, kTop, kSide, kLeft + kSide / 2, kTop + kSide + 38, kLeft - 42, kTop + kSide / 2, kLeft + kSide);
  return svg;
}

std::string polyline(const RocCurve& curve, std::size_t index) {
  std::string points;
  for (std::size_t i = 0; i < curve.fpr.size(); ++i)
    points += fmt::format("{}{:.2f},{:.2f}", i ? " " : "", x_of(curve.fpr[i]), y_of(curve.tpr[i]));
  return fmt::format("<polyline points=\"{}\" fill=\"none\" {}/>\n", points, stroke_of(index));
}

// One legend row: a stroke sample and its text.
std::string legend_row(std::size_t row, const std::string& stroke, const std::string& text) {
  const double y = kLegendTop + row * kLegendRow;
  return fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" {3}/>\n"
      "<text x=\"{4:.1f}\" y=\"{5:.1f}\">{6}</text>\n",
      kLeft + 10, y + 16, kLeft + 34, stroke, kLeft + 42, y + 20, xml_escape(text));
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string roc_svg(const std::vector<RocCurve>& curves, const std::string& title) {
  for (const RocCurve& curve : curves) validate(curve);
  std::vector<std::string> texts;
  std::size_t longest = std::string("chance (AUROC = 0.5)").size();
  for (const RocCurve& curve : curves) {
    texts.push_back(legend_text(curve));
    longest = std::max(longest, texts.back().size());
  }
  const double legend_width = std::max(180.0, 52 + kCharWidth * static_cast<double>(longest));
  const double legend_height = 8 + kLegendRow * static_cast<double>(curves.size() + 1);
  const double width = std::max(kMinWidth, kLeft + legend_width + 10);
  const double height = kLegendTop + legend_height + 10;

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0:.0f}\" height=\"{1:.0f}\" fill=\"white\"/>\n"
      "<text x=\"{2:.1f}\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, height, kLeft + kSide / 2, xml_escape(title));
  svg += axes();
  for (std::size_t i = 0; i < curves.size(); ++i) svg += polyline(curves[i], slot_of(curves[i], i));
  svg += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" stroke=\"#bbbbbb\"/>\n",
      kLeft, kLegendTop, legend_width, legend_height);
  for (std::size_t i = 0; i < curves.size(); ++i) svg += legend_row(i, stroke_of(slot_of(curves[i], i)), texts[i]);
  svg += legend_row(curves.size(), "stroke=\"#888888\" stroke-dasharray=\"6 4\"", "chance (AUROC = 0.5)");
  return svg + "</svg>\n";
}

std::string roc_svg(const std::vector<double>& fpr, const std::vector<double>& tpr, double auroc,
                    const std::string& title) {
  return roc_svg({RocCurve{"ROC", fpr, tpr, auroc}}, title);
}

}  // namespace piade
