// eval/report.html: one self-contained page (inline CSS, inline SVG charts,
// pictures as data: URIs; it loads nothing from anywhere) with an
// evaluation's metrics, curves, warnings and pictures grouped by outcome.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace piade {

/// One picture of the page: its PNG bytes and the caption under it.
struct ReportFigure {
  std::string caption;
  std::string png;
};

/// A titled group of pictures ("False positives", ...), with a line saying
/// what they are.
struct ReportGroup {
  std::string heading, note;
  std::vector<ReportFigure> figures;
};

struct EvalReport {
  std::string title;  ///< what was evaluated, e.g. "MVTec AD bottle"
  /// The metrics table: one row per key in order, numbers to 6 significant
  /// digits, strings as they are, anything else as JSON.
  nlohmann::ordered_json metrics;
  std::vector<std::string> warnings;
  std::vector<std::string> charts;  ///< standalone SVG documents (roc_svg.h)
  std::vector<ReportGroup> groups;  ///< groups without figures are left out
};

/// The page. At the end, a line "pictures loaded: <span id="images-loaded">
/// L</span> of <span id="images-total">T</span>" that a tiny inline script
/// fills in on the window's load event (L = images with complete &&
/// naturalWidth > 0, T = all <img>): a browser's check that every picture
/// decoded.
std::string eval_report_html(const EvalReport& report);

/// The CSS both of piade's HTML reports start from (eval/report.html and
/// compare's report.html): body, tables, charts, figures. Inline, as the
/// pages load nothing from anywhere.
const char* report_base_style();

/// `bytes` in standard Base64 (RFC 4648, "=" padding, no line breaks), as
/// the page embeds pictures.
std::string base64(std::string_view bytes);

}  // namespace piade
