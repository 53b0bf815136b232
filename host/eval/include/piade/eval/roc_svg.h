// Line plots of curves as standalone SVG documents: one generic plot
// (line_plot_svg: `piade eval`'s roc.svg, pr.svg, pixel_roc.svg and pro.svg)
// and its ROC form (roc_svg), one curve or several on one chart (a
// comparison's report.html). Kept apart from piade/eval/pictures.h, which
// needs LibTorch and OpenCV, so that code drawing only curves builds
// without them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace piade {

/// One curve of a chart: its points (x[i], y[i]) in drawing order.
struct PlotCurve {
  std::string label;
  std::vector<double> x, y;
  /// The area under the curve, shown in the legend as "label (AREA = x.xxxx)"
  /// with the chart's area name; "n/a" when not finite.
  double area = 0;
  /// Palette slot; -1 = the curve's position. Lets a series keep its colour
  /// across charts where some curves are missing.
  int colour = -1;
};

/// A dashed straight reference line, such as the chance diagonal of an ROC
/// chart, with its legend text.
struct ReferenceLine {
  double x0 = 0, y0 = 0, x1 = 1, y1 = 1;
  std::string legend;  ///< e.g. "chance (AUROC = 0.5)"
};

/// What a chart shows besides its curves.
struct PlotFrame {
  std::string title;
  std::string x_label = "false positive rate", y_label = "true positive rate";
  /// The x axis runs from 0 to x_max (the y axis from 0 to 1), with ticks
  /// every fifth of it; e.g. 0.3 for a PRO curve up to FPR 0.3.
  double x_max = 1;
  /// The legend's name of each curve's area: "AUROC", "AP", "PRO".
  std::string area_name = "AUROC";
  std::optional<ReferenceLine> reference;
};

/// A standalone SVG document of curves: each curve's points joined in order,
/// in its own colour from a fixed palette (cycling, dotted after the
/// palette's first round), a square plot with ticks every fifth of each
/// axis, `frame.title` above, the axis labels, the reference line dashed
/// gray, and a legend below the plot with a row per curve and one for the
/// reference; the picture grows taller with the number of curves and wider
/// with long labels. Throws piade::Error when a curve's lists differ in
/// length, are empty, or hold a point outside [0, x_max] x [0, 1], or when
/// x_max is not in (0, 1]. No curve at all gives the axes only.
std::string line_plot_svg(const std::vector<PlotCurve>& curves, const PlotFrame& frame);

/// One curve of an ROC chart: its points (fpr[i], tpr[i]) in drawing order.
struct RocCurve {
  std::string label;
  std::vector<double> fpr, tpr;
  double auroc = 0;  ///< shown in the legend; "n/a" when not finite
  /// Palette slot; -1 = the curve's position.
  int colour = -1;
};

/// line_plot_svg() as an ROC chart: false / true positive rates on 0..1,
/// "label (AUROC = x.xxxx)" per curve and the chance diagonal, "chance
/// (AUROC = 0.5)". Errors name the rates ("2 false positive rates but 1 true
/// positive rates").
std::string roc_svg(const std::vector<RocCurve>& curves, const std::string& title);

/// `text` safe inside XML and HTML text and attribute values (& < > " ').
std::string xml_escape(const std::string& text);

/// roc_svg() of one curve labelled "ROC".
std::string roc_svg(const std::vector<double>& fpr, const std::vector<double>& tpr, double auroc,
                    const std::string& title);

}  // namespace piade
