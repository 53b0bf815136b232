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

// Where a value lands: x in [0, x_max] and y in [0, 1] on the square plot.
struct Scale {
  double x_max = 1;
  double x_of(double x) const { return kLeft + x / x_max * kSide; }
  double y_of(double y) const { return kTop + (1.0 - y) * kSide; }
};

// Matplotlib's "tab10" with black instead of its grey, which reads as the
// chance line.
constexpr std::array<const char*, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                  "#8c564b", "#e377c2", "#000000", "#bcbd22", "#17becf"};
constexpr const char* kReferenceStroke = "stroke=\"#888888\" stroke-dasharray=\"6 4\"";

// Colour and dash of curve i: past the palette, colours repeat dotted.
std::string stroke_of(std::size_t i) {
  return fmt::format("stroke=\"{}\" stroke-width=\"2\"{}", kPalette[i % kPalette.size()],
                     i < kPalette.size() ? "" : " stroke-dasharray=\"2 3\"");
}

std::size_t slot_of(const PlotCurve& curve, std::size_t position) {
  return curve.colour >= 0 ? static_cast<std::size_t>(curve.colour) : position;
}

void validate(const PlotCurve& curve, double x_max, const std::string& context) {
  if (curve.x.size() != curve.y.size())
    throw Error(fmt::format("{}: {} x values but {} y values", context, curve.x.size(), curve.y.size()));
  if (curve.x.empty()) throw Error(context + ": the curve has no points");
  for (std::size_t i = 0; i < curve.x.size(); ++i)
    if (!(curve.x[i] >= 0 && curve.x[i] <= x_max && curve.y[i] >= 0 && curve.y[i] <= 1))
      throw Error(fmt::format("{}: point {} ({}, {}) is outside [0, {}] x [0, 1]", context, i, curve.x[i], curve.y[i],
                              x_max));
}

std::string legend_text(const PlotCurve& curve, const std::string& area_name) {
  const std::string area = std::isfinite(curve.area) ? fmt::format("{:.4f}", curve.area) : "n/a";
  return fmt::format("{} ({} = {})", curve.label, area_name, area);
}

// The fewest decimals (1 to 4) that write every multiple of `step` exactly.
int decimals_for(double step) {
  for (int d = 1; d < 4; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::abs(scaled - std::round(scaled)) < 1e-9) return d;
  }
  return 4;
}

// Grid, ticks and tick labels every fifth of each axis, the frame and the
// axis captions.
std::string axes(const Scale& scale, const PlotFrame& frame) {
  std::string svg;
  const int x_decimals = decimals_for(frame.x_max / 5);
  for (int i = 0; i <= 5; ++i) {
    const double y = i / 5.0, x = frame.x_max * i / 5.0;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n"
        "<line x1=\"{3:.1f}\" y1=\"{4:.1f}\" x2=\"{5:.1f}\" y2=\"{4:.1f}\" stroke=\"#e5e5e5\"/>\n"
        "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{0:.1f}\" y2=\"{6:.1f}\" stroke=\"black\"/>\n"
        "<line x1=\"{3:.1f}\" y1=\"{4:.1f}\" x2=\"{7:.1f}\" y2=\"{4:.1f}\" stroke=\"black\"/>\n"
        "<text x=\"{0:.1f}\" y=\"{8:.1f}\" text-anchor=\"middle\">{9:.{12}f}</text>\n"
        "<text x=\"{10:.1f}\" y=\"{11:.1f}\" text-anchor=\"end\">{13:.1f}</text>\n",
        scale.x_of(x), kTop, kTop + kSide, kLeft, scale.y_of(y), kLeft + kSide, kTop + kSide + 5, kLeft - 5,
        kTop + kSide + 19, x, kLeft - 8, scale.y_of(y) + 4, x_decimals, y);
  }
  svg += fmt::format(
      "<rect x=\"{0:.1f}\" y=\"{1:.1f}\" width=\"{2:.1f}\" height=\"{2:.1f}\" fill=\"none\" stroke=\"black\"/>\n"
      "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"middle\">{7}</text>\n"
      "<text x=\"{5:.1f}\" y=\"{6:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 {5:.1f} {6:.1f})\">"
      "{8}</text>\n",
      kLeft, kTop, kSide, kLeft + kSide / 2, kTop + kSide + 38, kLeft - 42, kTop + kSide / 2,
      xml_escape(frame.x_label), xml_escape(frame.y_label));
  if (frame.reference) {
    const ReferenceLine& line = *frame.reference;
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" {}/>\n", scale.x_of(line.x0),
                       scale.y_of(line.y0), scale.x_of(line.x1), scale.y_of(line.y1), kReferenceStroke);
  }
  return svg;
}

std::string polyline(const PlotCurve& curve, std::size_t index, const Scale& scale) {
  std::string points;
  for (std::size_t i = 0; i < curve.x.size(); ++i)
    points += fmt::format("{}{:.2f},{:.2f}", i ? " " : "", scale.x_of(curve.x[i]), scale.y_of(curve.y[i]));
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

std::string line_plot_svg(const std::vector<PlotCurve>& curves, const PlotFrame& frame) {
  if (!(frame.x_max > 0 && frame.x_max <= 1))
    throw Error(fmt::format("line plot '{}': the x axis must end in (0, 1], got {}", frame.title, frame.x_max));
  for (const PlotCurve& curve : curves) validate(curve, frame.x_max, fmt::format("line plot: curve '{}'", curve.label));
  const Scale scale{frame.x_max};
  std::vector<std::string> texts;
  std::size_t longest = frame.reference ? frame.reference->legend.size() : 0;
  for (const PlotCurve& curve : curves) {
    texts.push_back(legend_text(curve, frame.area_name));
    longest = std::max(longest, texts.back().size());
  }
  const std::size_t rows = curves.size() + (frame.reference ? 1 : 0);
  const double legend_width = std::max(180.0, 52 + kCharWidth * static_cast<double>(longest));
  const double legend_height = 8 + kLegendRow * static_cast<double>(rows);
  const double width = std::max(kMinWidth, kLeft + legend_width + 10);
  const double height = kLegendTop + legend_height + 10;

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0:.0f}\" height=\"{1:.0f}\" fill=\"white\"/>\n"
      "<text x=\"{2:.1f}\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, height, kLeft + kSide / 2, xml_escape(frame.title));
  svg += axes(scale, frame);
  for (std::size_t i = 0; i < curves.size(); ++i) svg += polyline(curves[i], slot_of(curves[i], i), scale);
  svg += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" stroke=\"#bbbbbb\"/>\n",
      kLeft, kLegendTop, legend_width, legend_height);
  for (std::size_t i = 0; i < curves.size(); ++i) svg += legend_row(i, stroke_of(slot_of(curves[i], i)), texts[i]);
  if (frame.reference) svg += legend_row(curves.size(), kReferenceStroke, frame.reference->legend);
  return svg + "</svg>\n";
}

std::string roc_svg(const std::vector<RocCurve>& curves, const std::string& title) {
  std::vector<PlotCurve> plotted;
  for (const RocCurve& curve : curves) {
    if (curve.fpr.size() != curve.tpr.size())
      throw Error(fmt::format("roc_svg: curve '{}': {} false positive rates but {} true positive rates", curve.label,
                              curve.fpr.size(), curve.tpr.size()));
    plotted.push_back({curve.label, curve.fpr, curve.tpr, curve.auroc, curve.colour});
  }
  PlotFrame frame;
  frame.title = title;
  frame.reference = ReferenceLine{0, 0, 1, 1, "chance (AUROC = 0.5)"};
  return line_plot_svg(plotted, frame);
}

std::string roc_svg(const std::vector<double>& fpr, const std::vector<double>& tpr, double auroc,
                    const std::string& title) {
  return roc_svg({RocCurve{"ROC", fpr, tpr, auroc}}, title);
}

}  // namespace piade
