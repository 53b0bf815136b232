// ROC curves as standalone SVG documents: one curve (`piade eval`'s
// roc.svg) or several on one chart (a comparison's report.html). Kept apart
// from host/pictures.h, which needs LibTorch and OpenCV, so that code
// drawing only curves builds without them.
#pragma once

#include <string>
#include <vector>

namespace piade {

/// One curve of an ROC chart: its points (fpr[i], tpr[i]) in drawing order.
struct RocCurve {
  std::string label;
  std::vector<double> fpr, tpr;
  double auroc = 0;  ///< shown in the legend; "n/a" when not finite
  /// Palette slot; -1 = the curve's position. Lets a series keep its colour
  /// across charts where some curves are missing.
  int colour = -1;
};

/// A standalone SVG document of ROC curves: each curve's points joined in
/// order, in its own colour from a fixed palette (cycling, dotted after the
/// palette's first round), axes from 0 to 1 with ticks every 0.2, the chance
/// diagonal, `title` above and a legend below the plot with
/// "label (AUROC = x.xxxx)" per curve and the chance line; the picture grows
/// taller with the number of curves and wider with long labels. Throws
/// piade::Error when a curve's lists differ in length, are empty, or hold a
/// value outside [0, 1]. No curve at all gives the axes and chance only.
std::string roc_svg(const std::vector<RocCurve>& curves, const std::string& title);

/// `text` safe inside XML and HTML text and attribute values (& < > " ').
std::string xml_escape(const std::string& text);

/// roc_svg() of one curve labelled "ROC".
std::string roc_svg(const std::vector<double>& fpr, const std::vector<double>& tpr, double auroc,
                    const std::string& title);

}  // namespace piade
