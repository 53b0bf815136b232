#include "piade/compare/reference.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade::compare {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// One CSV line into trimmed fields; a double-quoted field may hold commas
// and doubled quotes (RFC 4180). Nothing when a quote is left open.
std::optional<std::vector<std::string>> fields_of(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && trim(field).empty()) {
      quoted = was_quoted = true;
      field.clear();
    } else if (c == ',') {
      fields.push_back(was_quoted ? field : trim(field));
      field.clear();
      was_quoted = false;
    } else if (!(was_quoted && (c == ' ' || c == '\t' || c == '\r'))) {
      field += c;
    }
  }
  if (quoted) return std::nullopt;
  fields.push_back(was_quoted ? field : trim(field));
  return fields;
}

// A whole field that is a number; from_chars, unlike strtod, ignores the locale.
std::optional<double> number_of(const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::vector<ReferenceValue> read_reference(const std::filesystem::path& file, const std::vector<std::string>& classes,
                                           const std::vector<std::string>& metrics) {
  // A regular file only: a FIFO or a device (/dev/zero) would block or never end.
  std::error_code status_error;
  if (std::filesystem::exists(file, status_error) && !std::filesystem::is_regular_file(file, status_error))
    throw Error(fmt::format("reference file '{}': not a regular file; give a CSV of class,metric,value", file.string()));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("reference file '{}': cannot be read; give a CSV of class,metric,value", file.string()));
  const std::string name = file.string();
  std::map<std::string, std::size_t> column;  // name -> index, from the header
  std::size_t n_columns = 0;
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<ReferenceValue> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    const auto fields = fields_of(text);
    if (!fields) throw Error(fmt::format("{}:{}: a quoted field is not closed", name, number));
    if (column.empty()) {
      for (std::size_t i = 0; i < fields->size(); ++i) {
        const std::string& title = (*fields)[i];
        if (title != "class" && title != "metric" && title != "value" && title != "source")
          throw Error(fmt::format("{}:{}: unknown column '{}' in the header; the columns are class, metric, value "
                                  "and optionally source",
                                  name, number, title));
        if (column.count(title)) throw Error(fmt::format("{}:{}: column '{}' is named twice", name, number, title));
        column[title] = i;
      }
      for (const char* needed : {"class", "metric", "value"})
        if (!column.count(needed))
          throw Error(fmt::format("{}:{}: the header has no '{}' column; it names class, metric, value and "
                                  "optionally source",
                                  name, number, needed));
      n_columns = fields->size();
      continue;
    }
    if (fields->size() != n_columns)
      throw Error(fmt::format("{}:{}: {} fields, the header has {}", name, number, fields->size(), n_columns));
    ReferenceValue row;
    row.normal_class = (*fields)[column.at("class")];
    row.metric = (*fields)[column.at("metric")];
    if (column.count("source")) row.source = (*fields)[column.at("source")];
    if (row.normal_class != kReferenceMean &&
        std::find(classes.begin(), classes.end(), row.normal_class) == classes.end()) {
      const std::string suggestion = did_you_mean(row.normal_class, classes);
      throw Error(fmt::format("{}:{}: unknown class '{}'{}", name, number, row.normal_class,
                              !suggestion.empty() ? suggestion
                                                  : fmt::format("; give a class of the grid's dataset or '{}' for "
                                                                "the mean over classes",
                                                                kReferenceMean)));
    }
    if (std::find(metrics.begin(), metrics.end(), row.metric) == metrics.end())
      throw Error(fmt::format("{}:{}: metric '{}' is not one piade eval writes{}", name, number, row.metric,
                              did_you_mean(row.metric, metrics)));
    const std::string& value = (*fields)[column.at("value")];
    const std::optional<double> parsed = number_of(value);
    // Every metric compare tabulates is a rate or an area in [0, 1]; 75.1
    // is most likely a percentage.
    if (!parsed || !std::isfinite(*parsed) || *parsed < 0 || *parsed > 1)
      throw Error(fmt::format("{}:{}: value '{}' is not a number in [0, 1] (write 0.751, not 75.1%)", name, number,
                              value));
    row.value = *parsed;
    if (!seen.insert({row.normal_class, row.metric}).second)
      throw Error(fmt::format("{}:{}: class '{}', metric '{}' is given twice; keep one", name, number,
                              row.normal_class, row.metric));
    rows.push_back(std::move(row));
  }
  if (in.bad()) throw Error(fmt::format("reference file '{}': cannot be read to the end", name));
  if (column.empty()) throw Error(fmt::format("{}: no header (class,metric,value[,source]) and no rows", name));
  if (rows.empty()) throw Error(fmt::format("{}: a header but no rows; give at least one published number", name));
  return rows;
}

}  // namespace piade::compare
