#include "piade/compare/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "piade/core/error.h"
#include "piade/eval/report_html.h"
#include "piade/eval/roc_svg.h"

namespace piade::compare {
namespace {

namespace fs = std::filesystem;

// What only this page adds to report_base_style().
constexpr const char* kStyle = R"(
.note { color: #9a5b00; }
)";

// A dataset without classes has the one class "".
std::string class_name(const std::string& name) { return name.empty() ? "all images" : "normal class " + name; }

std::string number(double value, int decimals) {
  return std::isfinite(value) ? fmt::format("{:.{}f}", value, decimals) : "n/a";
}

std::string signed_number(double value) { return std::isfinite(value) ? fmt::format("{:+.4f}", value) : "n/a"; }

std::string cell(const std::string& html, bool bold = false) {
  return bold ? "<td><b>" + html + "</b></td>" : "<td>" + html + "</td>";
}

std::string note(const std::string& text) { return "<p class=\"note\">" + xml_escape(text) + "</p>\n"; }

// ---- Tables ----

std::string mean_std(const MeanStd& value) {
  if (!std::isfinite(value.mean)) return "n/a";
  if (!std::isfinite(value.std)) return number(value.mean, 4);  // one seed: no spread
  return number(value.mean, 4) + " &plusmn; " + number(value.std, 4);
}

bool is_best(const Summary& summary, const std::string& column, const ConfigSummary& config, double mean) {
  const auto best = summary.best.find(column);
  return best != summary.best.end() && best->second == config.config && std::isfinite(mean);
}

// Per-class columns are left out when the dataset has no classes: they
// would repeat the overall one.
std::vector<std::string> class_columns(const Summary& summary) {
  if (summary.classes.size() == 1 && summary.classes[0].empty()) return {};
  return summary.classes;
}

std::string means_table(const Summary& summary) {
  const std::vector<std::string> classes = class_columns(summary);
  std::string html = fmt::format("<h2>{}: mean &plusmn; std over seeds</h2>\n<table>\n<tr><th>configuration</th>",
                                 xml_escape(summary.metric));
  for (const std::string& name : classes) html += "<th>" + xml_escape(name) + "</th>";
  html += "<th>overall</th></tr>\n";
  for (const ConfigSummary& config : summary.configs) {
    html += "<tr>" + cell(xml_escape(config.config));
    for (const std::string& name : classes) {
      const auto found = config.per_class.find(name);
      const MeanStd value = found == config.per_class.end() ? MeanStd{} : found->second;
      html += cell(mean_std(value), is_best(summary, name, config, value.mean));
    }
    html += cell(mean_std(config.overall), is_best(summary, "", config, config.overall.mean)) + "</tr>\n";
  }
  return html + "</table>\n";
}

// Per metric of the reference file: published value, each configuration's
// and the difference (piade − published) per class, and the mean row.
std::string reference_tables(const Summary& summary) {
  std::string html;
  for (const ReferenceSummary& table : summary.reference) {
    html += fmt::format("<h2>{} against the published numbers ({})</h2>\n<table>\n<tr><th>class</th><th>published</th>",
                        xml_escape(table.metric), xml_escape(table.file));
    for (const ConfigVsReference& config : table.configs)
      html += "<th>" + xml_escape(config.config) + "</th><th>" + xml_escape(config.config) + " &minus; published</th>";
    html += "</tr>\n";
    for (const std::string& name : table.classes) {
      const double published = table.published.at(name);
      html += "<tr>" + cell(xml_escape(name.empty() ? "all images" : name)) + cell(number(published, 4));
      for (const ConfigVsReference& config : table.configs) {
        const MeanStd& m = config.per_class.at(name);
        html += cell(mean_std(m)) + cell(signed_number(m.n > 0 ? m.mean - published : kNotAvailable));
      }
      html += "</tr>\n";
    }
    html += "<tr>" + cell("mean", true) + cell(number(table.published_mean, 4), true);
    for (const ConfigVsReference& config : table.configs)
      html += cell(number(config.mean, 4), true) + cell(signed_number(config.mean - table.published_mean), true);
    html += "</tr>\n</table>\n";
    html += note(table.mean_is_stated
                     ? fmt::format("the file gives only the published mean; it stands beside each configuration's "
                                   "mean over the grid's {} classes",
                                   table.mean_classes.size())
                     : fmt::format("the mean row is over the {} classes of the grid with a published value",
                                   table.mean_classes.size()));
  }
  return html;
}

std::string difference_row(const Summary& summary, const ConfigSummary& config) {
  const PairedDifference& d = config.vs_baseline;
  std::string html = "<tr>" + cell(xml_escape(config.config));
  if (d.verdict == Verdict::baseline || d.verdict == Verdict::no_pairs) {
    for (int i = 0; i < 5; ++i) html += cell("&mdash;");
    return html + cell(verdict_text(d.verdict)) + "</tr>\n";
  }
  const std::string interval = std::isfinite(d.ci_low) && std::isfinite(d.ci_high)
                                   ? "[" + signed_number(d.ci_low) + ", " + signed_number(d.ci_high) + "]"
                                   : "n/a";
  html += cell(std::to_string(d.n)) + cell(signed_number(d.mean)) + cell(interval) +
          cell(fmt::format("{} / {} / {}", d.wins, d.ties, d.losses)) +
          cell(std::isfinite(d.sign_p) ? fmt::format("{:.3g}", d.sign_p) : "n/a") + cell(verdict_text(d.verdict));
  return html + "</tr>\n";
}

std::string difference_table(const Summary& summary) {
  std::string html = fmt::format(
      "<h2>Paired difference against the baseline ({})</h2>\n<table>\n<tr><th>configuration</th><th>pairs</th>"
      "<th>mean difference</th><th>95% CI</th><th>wins / ties / losses</th><th>sign test p</th><th>reading</th>"
      "</tr>\n",
      xml_escape(summary.baseline));
  for (const ConfigSummary& config : summary.configs) html += difference_row(summary, config);
  return html + "</table>\n";
}

std::string speed_table(const Summary& summary) {
  std::string html =
      "<h2>Training speed</h2>\n<table>\n<tr><th>configuration</th><th>images / s</th>"
      "<th>total training time (s)</th></tr>\n";
  for (const ConfigSummary& config : summary.configs)
    html += "<tr>" + cell(xml_escape(config.config)) + cell(number(config.train_images_per_second, 1)) +
            cell(number(config.train_seconds, 0)) + "</tr>\n";
  return html + "</table>\n";
}

// ---- Run outputs ----

// The run shown for (config, class): the one of the first seed that has
// one, so that every chart and strip of a class comes from comparable runs.
const RunResult* shown_run(const Comparison& comparison, const std::vector<RunResult>& results,
                           const std::string& config, const std::string& normal_class) {
  for (uint64_t seed : comparison.seeds)
    for (const RunResult& run : results)
      if (run.config == config && run.normal_class == normal_class && run.seed == seed) return &run;
  return nullptr;
}

std::optional<std::string> read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return bytes;
}

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(trimmed(line.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

// A rate: a whole field that parses as a number in [0, 1]. from_chars,
// unlike strtod, ignores the locale.
std::optional<double> rate_of(std::string_view field) {
  double value = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (error != std::errc() || end != field.data() + field.size() || !(value >= 0 && value <= 1)) return std::nullopt;
  return value;
}

// roc.csv (header naming the fpr and tpr columns, one point a line) into
// `curve`; "" or why it cannot be used. Columns are found by name so that
// an added column does not break old reports.
std::string read_roc(const fs::path& file, RocCurve& curve) {
  const std::optional<std::string> text = read_bytes(file);
  if (!text) return "missing";
  std::istringstream lines(*text);
  std::string line;
  std::optional<std::size_t> fpr_column, tpr_column;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (trimmed(line).empty()) continue;
    const std::vector<std::string_view> fields = fields_of(line);
    if (!fpr_column) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i] == "fpr") fpr_column = i;
        if (fields[i] == "tpr") tpr_column = i;
      }
      if (!fpr_column || !tpr_column) return "malformed: its header has no fpr and tpr columns";
      continue;
    }
    const auto fpr = *fpr_column < fields.size() ? rate_of(fields[*fpr_column]) : std::nullopt;
    const auto tpr = *tpr_column < fields.size() ? rate_of(fields[*tpr_column]) : std::nullopt;
    if (!fpr || !tpr) return fmt::format("malformed: line {} has no rates in [0, 1]", number);
    curve.fpr.push_back(*fpr);
    curve.tpr.push_back(*tpr);
  }
  return curve.fpr.empty() ? "malformed: no points" : "";
}

std::string roc_chart(const Comparison& comparison, const std::vector<RunResult>& results, const fs::path& out_dir,
                      const std::string& normal_class) {
  std::vector<RocCurve> curves;
  std::string notes;
  for (std::size_t i = 0; i < comparison.configs.size(); ++i) {
    const std::string& config = comparison.configs[i];
    const RunResult* run = shown_run(comparison, results, config, normal_class);
    if (!run) {
      notes += note(config + ": no run, no ROC curve");
      continue;
    }
    const auto auroc = run->metrics.find("image_auroc");
    // The colour follows the configuration, not the curve's position, so
    // that it stays the same in every class's chart.
    RocCurve curve{config, {}, {}, auroc == run->metrics.end() ? kNotAvailable : auroc->second, static_cast<int>(i)};
    const fs::path file = fs::path(run->folder) / "eval" / "roc.csv";
    const std::string problem = read_roc(out_dir / file, curve);
    if (problem.empty())
      curves.push_back(std::move(curve));
    else
      notes += note(fmt::format("{}: ROC curve omitted, {} is {}", config, file.generic_string(), problem));
  }
  std::string html = "<div class=\"chart\">\n<h3>" + xml_escape(class_name(normal_class)) + "</h3>\n";
  if (!curves.empty()) {
    const std::string svg = roc_svg(curves, class_name(normal_class));
    html += svg.substr(svg.find("<svg"));  // the XML declaration is not HTML
  }
  return html + notes + "</div>\n";
}

std::string roc_section(const Comparison& comparison, const std::vector<RunResult>& results,
                        const fs::path& out_dir) {
  std::string html = "<h2>ROC curves (image level, first seed)</h2>\n<div class=\"charts\">\n";
  for (const std::string& normal_class : comparison.classes)
    html += roc_chart(comparison, results, out_dir, normal_class);
  return html + "</div>\n";
}

// The PNG files of `folder` whose names start with `prefix`, sorted; none
// when the folder cannot be read.
std::vector<fs::path> pictures_named(const fs::path& folder, const std::string& prefix) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0 && it->path().extension() == ".png") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The pictures of `folder` whose names start with either prefix: `first`'s,
// then `second`'s.
std::vector<fs::path> pictures_named(const fs::path& folder, const std::string& first, const std::string& second) {
  std::vector<fs::path> files = pictures_named(folder, first);
  const std::vector<fs::path> more = pictures_named(folder, second);
  files.insert(files.end(), more.begin(), more.end());
  return files;
}

// Up to `count` pictures, normal and anomalous in turn so that both kinds
// are shown; one kind running out leaves the rest to the other. eval names
// them by outcome (gallery.h): the errors come first of each kind.
std::vector<fs::path> chosen_pictures(const fs::path& folder, int count) {
  const std::vector<fs::path> normal = pictures_named(folder, "false_positive_", "true_negative_");
  const std::vector<fs::path> anomalous = pictures_named(folder, "false_negative_", "true_positive_");
  std::vector<fs::path> chosen;
  for (std::size_t i = 0; chosen.size() < std::size_t(count) && i < std::max(normal.size(), anomalous.size()); ++i) {
    if (i < normal.size()) chosen.push_back(normal[i]);
    if (i < anomalous.size() && chosen.size() < std::size_t(count)) chosen.push_back(anomalous[i]);
  }
  return chosen;
}

std::string figure(const fs::path& file) {
  const std::optional<std::string> bytes = read_bytes(file);
  const std::string name = xml_escape(file.filename().string());
  if (!bytes) return note(file.filename().string() + ": cannot be read");
  return fmt::format("<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
                     base64(*bytes), name, name);
}

std::string pictures_of_run(const Comparison& comparison, const std::vector<RunResult>& results,
                            const fs::path& out_dir, const std::string& config, const std::string& normal_class,
                            int count) {
  std::string html = "<h4>" + xml_escape(config) + "</h4>\n";
  const RunResult* run = shown_run(comparison, results, config, normal_class);
  if (!run) return html + note("no run");
  const fs::path folder = fs::path(run->folder) / "eval" / "pictures";
  const std::vector<fs::path> files = chosen_pictures(out_dir / folder, count);
  if (files.empty()) return html + note("no pictures in " + folder.generic_string());
  html += "<div>\n";
  for (const fs::path& file : files) html += figure(file);
  return html + "</div>\n";
}

std::string pictures_section(const Comparison& comparison, const std::vector<RunResult>& results,
                             const fs::path& out_dir, int count) {
  std::string html = "<h2>Pictures: input | reconstruction | anomaly map (first seed)</h2>\n";
  for (const std::string& normal_class : comparison.classes) {
    html += "<h3>" + xml_escape(class_name(normal_class)) + "</h3>\n";
    for (const std::string& config : comparison.configs)
      html += pictures_of_run(comparison, results, out_dir, config, normal_class, count);
  }
  return html;
}

std::string heading(const Comparison& comparison, const Summary& summary) {
  return fmt::format(
      "<h1>{0}</h1>\n<p>Metric: <b>{1}</b> (higher is better). Baseline: <b>{2}</b>. "
      "Runs found: {3} of {4} expected.</p>\n",
      xml_escape(comparison.title), xml_escape(summary.metric), xml_escape(summary.baseline), summary.runs_found,
      summary.runs_expected);
}

}  // namespace

std::string report_html(const Comparison& comparison, const Summary& summary, const std::vector<RunResult>& results,
                        const fs::path& out_dir, const ReportOptions& options) {
  if (options.pictures_per_config < 0)
    throw Error(fmt::format("report: pictures_per_config must be 0 or more, got {}", options.pictures_per_config));
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{}</style>\n"
      "</head>\n<body>\n",
      xml_escape(comparison.title), std::string(report_base_style()) + kStyle);
  html += heading(comparison, summary) + means_table(summary) + reference_tables(summary) +
          difference_table(summary) + speed_table(summary);
  html += roc_section(comparison, results, out_dir);
  if (options.pictures_per_config > 0)
    html += pictures_section(comparison, results, out_dir, options.pictures_per_config);
  return html + "</body>\n</html>\n";
}

}  // namespace piade::compare
