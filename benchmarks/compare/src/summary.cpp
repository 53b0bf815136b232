#include "piade/compare/summary.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <optional>
#include <set>
#include <utility>

#include <boost/math/distributions/students_t.hpp>
#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade::compare {
namespace {

/// Mean and sample standard deviation (two passes, n - 1).
MeanStd mean_std(const std::vector<double>& values) {
  MeanStd out;
  out.n = static_cast<int>(values.size());
  if (values.empty()) return out;
  double sum = 0;
  for (double v : values) sum += v;
  out.mean = sum / static_cast<double>(values.size());
  if (values.size() >= 2) {
    double squares = 0;
    for (double v : values) squares += (v - out.mean) * (v - out.mean);
    out.std = std::sqrt(squares / static_cast<double>(values.size() - 1));
  }
  return out;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) {
    if (!out.empty()) out += ", ";
    out += "'" + word + "'";
  }
  return out;
}

std::string joined(const std::vector<uint64_t>& seeds) {
  std::string out;
  for (uint64_t seed : seeds) {
    if (!out.empty()) out += ", ";
    out += std::to_string(seed);
  }
  return out;
}

std::optional<std::size_t> index_of(const std::vector<std::string>& list, const std::string& word) {
  auto it = std::find(list.begin(), list.end(), word);
  if (it == list.end()) return std::nullopt;
  return static_cast<std::size_t>(it - list.begin());
}

// ---------------------------------------------------------------------------
// Markdown.

/// A label fit for a table cell: '|' escaped, line breaks as spaces.
std::string cell_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string class_label(const std::string& name) { return name.empty() ? "(no class)" : cell_text(name); }

constexpr const char* kDash = "—";

/// "0.9123 ± 0.0100", "0.9123" when std is NaN, "—" with no value.
std::string mean_std_text(const MeanStd& value) {
  if (value.n == 0 || std::isnan(value.mean)) return kDash;
  if (std::isnan(value.std)) return fmt::format("{:.4f}", value.mean);
  return fmt::format("{:.4f} ± {:.4f}", value.mean, value.std);
}

std::string signed_text(double value) { return std::isnan(value) ? kDash : fmt::format("{:+.4f}", value); }

/// Three significant digits: 0.0625, 0.0215, 1.00, 1.86e-09.
std::string p_text(double p) { return std::isnan(p) ? kDash : fmt::format("{:#.3g}", p); }

std::string duration_text(double seconds) {
  if (std::isnan(seconds)) return kDash;
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  long long whole = std::llround(seconds);
  if (whole < 3600) return fmt::format("{} min {:02} s", whole / 60, whole % 60);
  return fmt::format("{} h {:02} min", whole / 3600, (whole % 3600) / 60);
}

/// The table's cell for one configuration in one column, bold when its mean
/// is the column's best.
std::string table1_cell(const MeanStd& value, std::optional<double> best_mean) {
  std::string text = mean_std_text(value);
  if (best_mean && value.n > 0 && value.mean == *best_mean) return "**" + text + "**";
  return text;
}

std::string value_text(double value) { return std::isnan(value) ? kDash : fmt::format("{:.4f}", value); }

/// The class of a reference table's row as a reader knows it.
std::string reference_class_label(const std::string& name) {
  return name.empty() ? "all images" : cell_text(name);
}

/// Per metric of the reference file: the published value per class, each
/// configuration's mean and its difference (piade − published), the mean.
std::string reference_markdown(const Summary& summary) {
  std::string md;
  for (const ReferenceSummary& table : summary.reference) {
    md += fmt::format("## {} against the published numbers ({})\n\n", table.metric, cell_text(table.file));
    md += "| class | published |";
    for (const ConfigVsReference& config : table.configs)
      md += fmt::format(" {} | {} − published |", cell_text(config.config), cell_text(config.config));
    md += "\n|---|---:|";
    for (std::size_t i = 0; i < table.configs.size(); ++i) md += "---:|---:|";
    md += "\n";
    for (const std::string& name : table.classes) {
      const double published = table.published.at(name);
      md += fmt::format("| {} | {:.4f} |", reference_class_label(name), published);
      for (const ConfigVsReference& config : table.configs) {
        const MeanStd& m = config.per_class.at(name);
        const double mean = m.n > 0 ? m.mean : kNotAvailable;
        md += fmt::format(" {} | {} |", mean_std_text(m), signed_text(mean - published));
      }
      md += "\n";
    }
    md += fmt::format("| **mean** | {} |", value_text(table.published_mean));
    for (const ConfigVsReference& config : table.configs)
      md += fmt::format(" {} | {} |", value_text(config.mean), signed_text(config.mean - table.published_mean));
    md += "\n\n";
    if (table.mean_is_stated) {
      md += fmt::format("The file gives only the published mean over classes{}; the mean row sets it beside "
                        "each configuration's mean over the grid's {} classes.",
                        table.sources.count(kReferenceMean) && !table.sources.at(kReferenceMean).empty()
                            ? " (" + table.sources.at(kReferenceMean) + ")"
                            : "",
                        table.mean_classes.size());
    } else {
      md += fmt::format("The mean row is over the {} classes of the grid with a published value.",
                        table.mean_classes.size());
      if (!std::isnan(table.stated_mean))
        md += fmt::format(" The file states a published mean of {:.4f} over its own classes.", table.stated_mean);
    }
    md += fmt::format(" Each configuration's value is its mean over seeds; {} where it has no run.\n\n", kDash);
  }
  return md;
}

}  // namespace

double sign_test_p(int wins, int losses) {
  if (wins < 0 || losses < 0)
    throw Error(fmt::format("sign test: counts must not be negative, got {} wins and {} losses; "
                            "count the pairs again",
                            wins, losses));
  const int n = wins + losses;
  if (n == 0) return 1.0;
  const int k = std::min(wins, losses);
  // P(X = i) = C(n, i) / 2^n in logs, so n in the thousands neither
  // overflows C(n, i) nor underflows 2^-n before the product is formed.
  const double log_half_n = static_cast<double>(n) * std::log(0.5);
  const double log_n_factorial = std::lgamma(static_cast<double>(n) + 1);
  double tail = 0;
  for (int i = 0; i <= k; ++i) {
    double log_term = log_n_factorial - std::lgamma(static_cast<double>(i) + 1) -
                      std::lgamma(static_cast<double>(n - i) + 1) + log_half_n;
    tail += std::exp(log_term);
  }
  return std::min(1.0, 2 * tail);
}

PairedDifference paired_difference(const std::vector<double>& values, const std::vector<double>& baseline) {
  if (values.size() != baseline.size())
    throw Error(fmt::format("paired difference: the values and the baseline differ in length ({} and {}); "
                            "give one baseline value per value, in the same order",
                            values.size(), baseline.size()));
  PairedDifference out;
  std::vector<double> d;
  d.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) || !std::isfinite(baseline[i]))
      throw Error(fmt::format("paired difference: pair {} is not a pair of finite numbers ({} and {}); "
                              "leave such pairs out",
                              i, values[i], baseline[i]));
    double di = values[i] - baseline[i];
    d.push_back(di);
    if (di > 0) {
      ++out.wins;
    } else if (di < 0) {
      ++out.losses;
    } else {
      ++out.ties;
    }
  }
  MeanStd m = mean_std(d);
  out.n = m.n;
  out.mean = m.mean;
  if (m.n >= 2) {
    boost::math::students_t_distribution<double> t(static_cast<double>(m.n - 1));
    const double half_width = boost::math::quantile(t, 0.975) * m.std / std::sqrt(static_cast<double>(m.n));
    out.ci_low = m.mean - half_width;
    out.ci_high = m.mean + half_width;
  }
  out.sign_p = sign_test_p(out.wins, out.losses);
  if (out.n == 0) out.verdict = Verdict::no_pairs;
  else if (out.n < 2) out.verdict = Verdict::too_few_pairs;
  else if (out.ci_low > 0) out.verdict = Verdict::better;
  else if (out.ci_high < 0) out.verdict = Verdict::worse;
  else out.verdict = Verdict::no_clear_difference;
  return out;
}

const char* verdict_text(Verdict verdict) {
  switch (verdict) {
    case Verdict::baseline: return "baseline";
    case Verdict::no_pairs: return "no pairs";
    case Verdict::too_few_pairs: return "too few pairs";
    case Verdict::better: return "better than baseline";
    case Verdict::worse: return "worse than baseline";
    case Verdict::no_clear_difference: return "no clear difference";
  }
  return "?";
}

namespace {
// JSON has no NaN: a value that is not available is null.
nlohmann::json number_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); }
nlohmann::json mean_std_json(const MeanStd& m) {
  return {{"mean", number_or_null(m.mean)}, {"std", number_or_null(m.std)}, {"n", m.n}};
}
}  // namespace

nlohmann::json summary_to_json(const Summary& summary) {
  nlohmann::json configs = nlohmann::json::array();
  for (const ConfigSummary& config : summary.configs) {
    nlohmann::json per_class = nlohmann::json::object();
    for (const auto& [name, value] : config.per_class) per_class[name] = mean_std_json(value);
    const PairedDifference& d = config.vs_baseline;
    configs.push_back({{"config", config.config},
                       {"overall", mean_std_json(config.overall)},
                       {"per_class", per_class},
                       {"vs_baseline",
                        {{"pairs", d.n},
                         {"mean", number_or_null(d.mean)},
                         {"ci_low", number_or_null(d.ci_low)},
                         {"ci_high", number_or_null(d.ci_high)},
                         {"wins", d.wins},
                         {"ties", d.ties},
                         {"losses", d.losses},
                         {"sign_p", number_or_null(d.sign_p)},
                         {"verdict", verdict_text(d.verdict)}}}});
  }
  nlohmann::json best = nlohmann::json::object();
  for (const auto& [column, config] : summary.best) best[column.empty() ? "overall" : column] = config;
  nlohmann::json json = {{"metric", summary.metric},         {"baseline", summary.baseline},
                         {"runs_expected", summary.runs_expected}, {"runs_found", summary.runs_found},
                         {"configs", configs},               {"best", best}};
  if (summary.reference.empty()) return json;
  nlohmann::json reference = nlohmann::json::array();
  for (const ReferenceSummary& table : summary.reference) {
    nlohmann::json rows = nlohmann::json::array();
    for (const ConfigVsReference& config : table.configs) {
      nlohmann::json per_class = nlohmann::json::object();
      for (const auto& [name, value] : config.per_class) {
        per_class[name] = mean_std_json(value);
        per_class[name]["difference"] = number_or_null(value.mean - table.published.at(name));
      }
      rows.push_back({{"config", config.config},
                      {"per_class", per_class},
                      {"mean", number_or_null(config.mean)},
                      {"mean_difference", number_or_null(config.mean - table.published_mean)}});
    }
    reference.push_back({{"metric", table.metric},
                         {"file", table.file},
                         {"published", table.published},
                         {"published_mean", number_or_null(table.published_mean)},
                         {"mean_is_stated", table.mean_is_stated},
                         {"mean_classes", table.mean_classes},
                         {"configs", rows}});
  }
  json["reference"] = reference;
  return json;
}

Summary summarize(const Comparison& comparison, const std::vector<RunResult>& results) {
  const auto& configs = comparison.configs;
  const auto& classes = comparison.classes;
  const auto& seeds = comparison.seeds;
  if (configs.empty())
    throw Error("summary: the comparison has no configuration; give the grid at least one");
  for (std::size_t i = 0; i < configs.size(); ++i)
    if (index_of(configs, configs[i]) != i)
      throw Error(fmt::format("summary: configuration '{}' appears twice in the grid; give each "
                              "configuration once",
                              configs[i]));

  const std::size_t n_configs = configs.size(), n_classes = classes.size(), n_seeds = seeds.size();
  auto slot = [&](std::size_t c, std::size_t k, std::size_t s) { return (c * n_classes + k) * n_seeds + s; };
  // Each (configuration, class, seed): its run's index in `results`.
  std::vector<std::optional<std::size_t>> runs(n_configs * n_classes * n_seeds);

  for (std::size_t r = 0; r < results.size(); ++r) {
    const RunResult& run = results[r];
    auto c = index_of(configs, run.config);
    if (!c)
      throw Error(fmt::format("summary: run '{}' has configuration '{}', which is not in the grid "
                              "(configurations: {}); remove the stale run or compare with the grid that made it",
                              run.run_id, run.config, joined(configs)));
    auto k = index_of(classes, run.normal_class);
    if (!k)
      throw Error(fmt::format("summary: run '{}' has class '{}', which is not in the grid (classes: {}); "
                              "remove the stale run or compare with the grid that made it",
                              run.run_id, run.normal_class, joined(classes)));
    auto s_it = std::find(seeds.begin(), seeds.end(), run.seed);
    if (s_it == seeds.end())
      throw Error(fmt::format("summary: run '{}' has seed {}, which is not in the grid (seeds: {}); "
                              "remove the stale run or compare with the grid that made it",
                              run.run_id, run.seed, joined(seeds)));
    const std::size_t s = static_cast<std::size_t>(s_it - seeds.begin());
    if (run.metrics.find(comparison.metric) == run.metrics.end()) {
      std::vector<std::string> names;
      for (const auto& [name, value] : run.metrics) names.push_back(name);
      throw Error(fmt::format("summary: run '{}' has no metric '{}' (it has {}); compare on one of "
                              "the metrics every run has{}",
                              run.run_id, comparison.metric, names.empty() ? "none" : joined(names),
                              did_you_mean(comparison.metric, names)));
    }
    auto& entry = runs[slot(*c, *k, s)];
    if (entry)
      throw Error(fmt::format("summary: runs '{}' and '{}' are both configuration '{}', class '{}', "
                              "seed {}; keep one run per configuration, class and seed",
                              results[*entry].run_id, run.run_id, run.config, run.normal_class, run.seed));
    entry = r;
  }

  // The metric's value of a (configuration, class, seed), when its run is
  // there and the value is a finite number.
  auto value = [&](std::size_t c, std::size_t k, std::size_t s) -> std::optional<double> {
    const auto& entry = runs[slot(c, k, s)];
    if (!entry) return std::nullopt;
    double v = results[*entry].metrics.at(comparison.metric);
    if (!std::isfinite(v)) return std::nullopt;
    return v;
  };

  Summary summary;
  summary.metric = comparison.metric;
  summary.baseline = configs.front();
  summary.classes = classes;
  summary.runs_expected = static_cast<int>(n_configs * n_classes * n_seeds);
  summary.runs_found = static_cast<int>(results.size());

  for (std::size_t c = 0; c < n_configs; ++c) {
    ConfigSummary config;
    config.config = configs[c];
    std::vector<double> all;
    std::vector<double> per_seed;  // per seed with a value: the mean over its classes
    for (std::size_t k = 0; k < n_classes; ++k) {
      std::vector<double> over_seeds;
      for (std::size_t s = 0; s < n_seeds; ++s)
        if (auto v = value(c, k, s)) over_seeds.push_back(*v);
      config.per_class[classes[k]] = mean_std(over_seeds);
      all.insert(all.end(), over_seeds.begin(), over_seeds.end());
    }
    for (std::size_t s = 0; s < n_seeds; ++s) {
      std::vector<double> over_classes;
      for (std::size_t k = 0; k < n_classes; ++k)
        if (auto v = value(c, k, s)) over_classes.push_back(*v);
      if (!over_classes.empty()) per_seed.push_back(mean_std(over_classes).mean);
    }
    config.overall = mean_std(all);
    config.overall.std = mean_std(per_seed).std;

    if (c > 0) {
      std::vector<double> mine, base;
      for (std::size_t k = 0; k < n_classes; ++k)
        for (std::size_t s = 0; s < n_seeds; ++s) {
          auto v = value(c, k, s), b = value(0, k, s);
          if (v && b) {
            mine.push_back(*v);
            base.push_back(*b);
          }
        }
      config.vs_baseline = paired_difference(mine, base);
    } else {
      config.vs_baseline.verdict = Verdict::baseline;
    }

    int n_runs = 0;
    double ips = 0, seconds = 0;
    for (std::size_t k = 0; k < n_classes; ++k)
      for (std::size_t s = 0; s < n_seeds; ++s)
        if (const auto& entry = runs[slot(c, k, s)]) {
          ++n_runs;
          ips += results[*entry].train_images_per_second;
          seconds += results[*entry].train_seconds;
        }
    if (n_runs > 0) {
      config.train_images_per_second = ips / n_runs;
      config.train_seconds = seconds;
    }
    summary.configs.push_back(std::move(config));
  }

  // Best mean per column; a tie goes to the configuration first in the grid.
  auto pick_best = [&](const std::string& key, auto mean_of) {
    std::optional<std::size_t> best;
    for (std::size_t c = 0; c < n_configs; ++c) {
      const MeanStd& m = mean_of(summary.configs[c]);
      if (m.n == 0 || std::isnan(m.mean)) continue;
      if (!best || m.mean > mean_of(summary.configs[*best]).mean) best = c;
    }
    if (best) summary.best[key] = configs[*best];
  };
  for (const std::string& name : classes)
    pick_best(name, [&](const ConfigSummary& config) -> const MeanStd& { return config.per_class.at(name); });
  pick_best("", [](const ConfigSummary& config) -> const MeanStd& { return config.overall; });

  // The reference file's metrics, the grid's first, then in file order.
  std::vector<std::string> reference_metrics;
  for (const ReferenceValue& row : comparison.reference)
    if (std::find(reference_metrics.begin(), reference_metrics.end(), row.metric) == reference_metrics.end())
      reference_metrics.push_back(row.metric);
  std::stable_partition(reference_metrics.begin(), reference_metrics.end(),
                        [&](const std::string& m) { return m == comparison.metric; });
  for (const std::string& metric : reference_metrics) {
    ReferenceSummary table;
    table.metric = metric;
    table.file = comparison.reference_file;
    for (const ReferenceValue& row : comparison.reference) {
      if (row.metric != metric) continue;
      table.sources[row.normal_class] = row.source;
      if (row.normal_class == kReferenceMean) table.stated_mean = row.value;
      else table.published[row.normal_class] = row.value;
    }
    for (const std::string& name : classes)
      if (table.published.count(name)) table.classes.push_back(name);
    for (auto it = table.published.begin(); it != table.published.end();)
      it = index_of(table.classes, it->first) ? std::next(it) : table.published.erase(it);
    // The mean row compares like with like: the published values of the
    // grid's classes against piade's on the same classes; a paper that
    // gives only a mean (COIL-100) is compared with the mean over all of
    // the grid's classes.
    if (!table.classes.empty()) {
      table.mean_classes = table.classes;
      double sum = 0;
      for (const std::string& name : table.classes) sum += table.published.at(name);
      table.published_mean = sum / static_cast<double>(table.classes.size());
    } else {
      table.mean_classes = classes;
      table.published_mean = table.stated_mean;
      table.mean_is_stated = true;
    }
    for (std::size_t c = 0; c < n_configs; ++c) {
      ConfigVsReference row;
      row.config = configs[c];
      std::vector<double> class_means;
      for (const std::string& name : table.mean_classes) {
        const std::size_t k = *index_of(classes, name);
        std::vector<double> over_seeds;
        for (std::size_t s = 0; s < n_seeds; ++s)
          if (const auto& entry = runs[slot(c, k, s)]) {
            const auto found = results[*entry].metrics.find(metric);
            if (found != results[*entry].metrics.end() && std::isfinite(found->second))
              over_seeds.push_back(found->second);
          }
        const MeanStd m = mean_std(over_seeds);
        if (table.published.count(name)) row.per_class[name] = m;
        if (m.n > 0) class_means.push_back(m.mean);
      }
      if (!class_means.empty() && class_means.size() == table.mean_classes.size())
        row.mean = mean_std(class_means).mean;
      table.configs.push_back(std::move(row));
    }
    summary.reference.push_back(std::move(table));
  }
  return summary;
}

std::string summary_markdown(const Comparison& comparison, const Summary& summary) {
  std::string md;
  const std::string baseline = summary.baseline;
  const int missing = summary.runs_expected - summary.runs_found;
  md += fmt::format("# {}: {} against the baseline {} ({} of {} runs)\n\n", cell_text(comparison.title),
                    summary.metric, cell_text(baseline), summary.runs_found, summary.runs_expected);

  md += fmt::format("Metric: {} (higher is better). Baseline: {}. {} configurations × {} classes × {} seeds: ",
                    summary.metric, cell_text(baseline), comparison.configs.size(), summary.classes.size(),
                    comparison.seeds.size());
  if (missing > 0) {
    md += fmt::format("**{} of {} runs found, {} missing**; the tables leave the missing runs out.\n\n",
                      summary.runs_found, summary.runs_expected, missing);
  } else {
    md += fmt::format("{} of {} runs found, none missing.\n\n", summary.runs_found, summary.runs_expected);
  }

  // Table 1: mean ± std over seeds, per class and overall.
  // A dataset without classes ({""}) has only the overall column.
  std::vector<std::string> columns;
  if (!(summary.classes.size() == 1 && summary.classes.front().empty())) columns = summary.classes;
  auto best_mean = [&](const std::string& key, bool overall) -> std::optional<double> {
    auto it = summary.best.find(key);
    if (it == summary.best.end()) return std::nullopt;
    for (const ConfigSummary& config : summary.configs)
      if (config.config == it->second) {
        if (overall) return config.overall.mean;
        auto m = config.per_class.find(key);
        if (m == config.per_class.end()) return std::nullopt;
        return m->second.mean;
      }
    return std::nullopt;
  };

  md += fmt::format("## Table 1: {} per configuration and class\n\n", summary.metric);
  md += "| configuration |";
  for (const std::string& name : columns) md += " " + class_label(name) + " |";
  md += " overall |\n|---|";
  for (std::size_t i = 0; i < columns.size(); ++i) md += "---:|";
  md += "---:|\n";
  for (const ConfigSummary& config : summary.configs) {
    md += "| " + cell_text(config.config) + (config.config == baseline ? " (baseline)" : "") + " |";
    for (const std::string& name : columns) {
      auto it = config.per_class.find(name);
      md += " " + table1_cell(it == config.per_class.end() ? MeanStd{} : it->second, best_mean(name, false)) + " |";
    }
    md += " " + table1_cell(config.overall, best_mean("", true)) + " |\n";
  }
  md += "\n";

  md += reference_markdown(summary);

  // Table 2: paired difference against the baseline.
  md += "## Table 2: difference against the baseline, paired over class × seed\n\n";
  if (summary.configs.size() < 2) {
    md += "Only the baseline was run: there is nothing to compare it with.\n\n";
  } else {
    md += "| configuration | pairs | mean difference | 95% CI | wins / ties / losses | sign test p | reading |\n";
    md += "|---|---:|---:|---|---|---:|---|\n";
    for (const ConfigSummary& config : summary.configs) {
      if (config.config == baseline) continue;
      const PairedDifference& d = config.vs_baseline;
      std::string ci = d.n >= 2 && !std::isnan(d.ci_low)
                           ? fmt::format("[{:+.4f}, {:+.4f}]", d.ci_low, d.ci_high)
                           : std::string(kDash);
      md += fmt::format("| {} | {} | {} | {} | {} / {} / {} | {} | {} |\n", cell_text(config.config), d.n,
                        signed_text(d.mean), ci, d.wins, d.ties, d.losses, d.n > 0 ? p_text(d.sign_p) : kDash,
                        verdict_text(d.verdict));
    }
    md += "\n";
  }

  // Table 3: training cost.
  md += "## Table 3: training\n\n";
  md += "| configuration | training images/s (mean over runs) | training time (total over runs) |\n";
  md += "|---|---:|---:|\n";
  for (const ConfigSummary& config : summary.configs) {
    std::string ips = std::isnan(config.train_images_per_second)
                          ? std::string(kDash)
                          : fmt::format("{:.1f}", config.train_images_per_second);
    md += fmt::format("| {} | {} | {} |\n", cell_text(config.config), ips, duration_text(config.train_seconds));
  }
  md += "\n";

  md += fmt::format(
      "Table 1 gives each configuration's mean ± sample standard deviation over seeds; the overall "
      "column is the mean over all of its runs ± the standard deviation over seeds of the per-seed "
      "mean over classes. A cell shows the mean alone when only one seed has a run, and {} when no "
      "run has one. The best mean of each column is in bold. Table 2 pairs each configuration with "
      "the baseline over class × seed: for every class and seed that both have a run, d = "
      "configuration − baseline. The 95% confidence interval of the mean of d is Student-t; the sign "
      "test is exact and two-sided over wins against losses, ties left out. \"Better\" or \"worse "
      "than baseline\" means the whole interval lies above or below zero.\n",
      kDash);
  return md;
}

}  // namespace piade::compare
