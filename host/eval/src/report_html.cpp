#include "piade/eval/report_html.h"

#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <fmt/format.h>

#include "piade/eval/roc_svg.h"

namespace piade {
namespace {

// What only this page adds to report_base_style().
constexpr const char* kStyle = R"(
.warning { color: #9a5b00; }
figure img { image-rendering: pixelated; }
figcaption { max-width: 40em; }
.check { font-size: small; color: #777; }
)";

// Counts the pictures that decoded, once everything has loaded.
constexpr const char* kCheckScript = R"(
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; ++i)
    if (images[i].complete && images[i].naturalWidth > 0) ++loaded;
  document.getElementById("images-loaded").textContent = loaded;
  document.getElementById("images-total").textContent = images.length;
});
)";

std::string value_text(const nlohmann::ordered_json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number_float()) return fmt::format("{:.6g}", value.get<double>());
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string metrics_table(const nlohmann::ordered_json& metrics) {
  std::string html = "<table>\n<tr><th>measure</th><th>value</th></tr>\n";
  for (const auto& [key, value] : metrics.items())
    html += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", xml_escape(key), xml_escape(value_text(value)));
  return html + "</table>\n";
}

}  // namespace

const char* report_base_style() {
  // Self-contained: the page must open offline, so no stylesheet, font or
  // script is fetched from anywhere.
  return R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
.charts svg, .chart svg { max-width: 100%; height: auto; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; }
figcaption { font-size: small; color: #555; }
)";
}

std::string base64(std::string_view bytes) {
  using namespace boost::archive::iterators;
  using Encoder = base64_from_binary<transform_width<std::string::const_iterator, 6, 8>>;
  // transform_width reads whole 3-byte groups, past the end of a shorter
  // last one: encode a zero-padded copy, keep the characters that carry
  // input bits, then pad with '=' to whole 4-character groups.
  std::string padded(bytes);
  padded.append((3 - bytes.size() % 3) % 3, '\0');
  std::string out(Encoder(padded.cbegin()), Encoder(padded.cend()));
  out.resize((bytes.size() * 4 + 2) / 3);
  out.append((4 - out.size() % 4) % 4, '=');
  return out;
}

std::string eval_report_html(const EvalReport& report) {
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>piade eval: {0}</title>\n"
      "<style>{1}</style>\n</head>\n<body>\n<h1>piade eval: {0}</h1>\n",
      xml_escape(report.title), std::string(report_base_style()) + kStyle);
  for (const std::string& warning : report.warnings)
    html += "<p class=\"warning\">warning: " + xml_escape(warning) + "</p>\n";
  html += "<h2>Metrics</h2>\n" + metrics_table(report.metrics);
  if (!report.charts.empty()) {
    html += "<h2>Curves</h2>\n<div class=\"charts\">\n";
    for (const std::string& svg : report.charts) {
      const auto start = svg.find("<svg");  // the XML declaration is not HTML
      html += "<div>" + (start == std::string::npos ? svg : svg.substr(start)) + "</div>\n";
    }
    html += "</div>\n";
  }
  bool any = false;
  for (const ReportGroup& group : report.groups) {
    if (group.figures.empty()) continue;
    if (!any) html += "<h2>Pictures</h2>\n";
    any = true;
    html += fmt::format("<h3>{} ({})</h3>\n<p>{}</p>\n<div>\n", xml_escape(group.heading), group.figures.size(),
                        xml_escape(group.note));
    for (const ReportFigure& figure : group.figures)
      html += fmt::format("<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
                          base64(figure.png), xml_escape(figure.caption), xml_escape(figure.caption));
    html += "</div>\n";
  }
  html += "<p class=\"check\">pictures loaded: <span id=\"images-loaded\">?</span> of <span "
          "id=\"images-total\">?</span></p>\n";
  return html + "<script>" + kCheckScript + "</script>\n</body>\n</html>\n";
}

}  // namespace piade
