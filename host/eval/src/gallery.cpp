#include "piade/eval/gallery.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace {

// Only characters safe in a file name everywhere.
std::string safe(std::string text) {
  for (char& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return text;
}

}  // namespace

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::true_positive: return "true_positive";
    case Outcome::false_negative: return "false_negative";
    case Outcome::false_positive: return "false_positive";
    case Outcome::true_negative: return "true_negative";
  }
  return "?";
}

Outcome outcome_of(const Decision& decision, int label, double score) {
  const bool flagged = decision.anomalous(score);
  if (label == 1) return flagged ? Outcome::true_positive : Outcome::false_negative;
  return flagged ? Outcome::false_positive : Outcome::true_negative;
}

std::vector<ChosenPicture> choose_pictures(const std::vector<double>& scores, const std::vector<int>& labels,
                                           const Decision& decision, int64_t per_label, uint64_t seed) {
  if (scores.size() != labels.size())
    throw Error(fmt::format("choose_pictures: {} scores but {} labels", scores.size(), labels.size()));
  if (per_label < 0) throw Error(fmt::format("choose_pictures: per_label must not be negative, got {}", per_label));
  if (!decision.known()) throw Error("choose_pictures: the decision has no threshold");
  std::vector<ChosenPicture> chosen;
  for (int label : {0, 1}) {
    std::vector<int64_t> wrong, right;
    for (std::size_t i = 0; i < scores.size(); ++i) {
      if (labels[i] != 0 && labels[i] != 1)
        throw Error(fmt::format("choose_pictures: label {} is {}, labels must be 0 or 1", i, labels[i]));
      if (labels[i] != label) continue;
      (decision.anomalous(scores[i]) == (label == 1) ? right : wrong).push_back(static_cast<int64_t>(i));
    }
    // Worst first: the normal images scoring highest, the anomalous ones
    // scoring lowest; stable, so ties keep index order.
    std::stable_sort(wrong.begin(), wrong.end(), [&](int64_t a, int64_t b) {
      return label == 0 ? scores[std::size_t(a)] > scores[std::size_t(b)] : scores[std::size_t(a)] < scores[std::size_t(b)];
    });
    if (static_cast<int64_t>(wrong.size()) > per_label) wrong.resize(static_cast<std::size_t>(per_label));
    const int64_t room = per_label - static_cast<int64_t>(wrong.size());
    std::mt19937_64 generator(seed * 7919u + static_cast<uint64_t>(label));
    std::shuffle(right.begin(), right.end(), generator);
    if (static_cast<int64_t>(right.size()) > room) right.resize(static_cast<std::size_t>(room));
    std::sort(right.begin(), right.end());
    for (int64_t i : wrong) chosen.push_back({i, outcome_of(decision, label, scores[std::size_t(i)])});
    for (int64_t i : right) chosen.push_back({i, outcome_of(decision, label, scores[std::size_t(i)])});
  }
  return chosen;
}

std::string image_kind(const std::string& id, int label, const std::string& test_class) {
  if (label == 0) return "good";
  if (!test_class.empty()) return test_class;
  if (id.find('#') == std::string::npos) {
    const std::string directory = std::filesystem::path(id).parent_path().filename().string();
    if (!directory.empty()) return directory;
  }
  return "anomalous";
}

std::string image_stem(const std::string& id) {
  const auto hash = id.rfind('#');
  return hash != std::string::npos ? id.substr(hash + 1) : std::filesystem::path(id).stem().string();
}

std::string picture_file_name(Outcome outcome, const std::string& kind, const std::string& stem) {
  return fmt::format("{}_{}_{}.png", outcome_name(outcome), safe(kind), safe(stem));
}

std::vector<std::string> picture_text(double score, std::optional<double> normalized, int label,
                                      const Decision& decision) {
  std::vector<std::string> lines;
  lines.push_back(normalized ? fmt::format("score {:.6g}  normalized {:.3g}", score, *normalized)
                             : fmt::format("score {:.6g}", score));
  const char* truth = label == 1 ? "anomalous" : label == 0 ? "normal" : "unknown";
  if (!decision.known()) {
    lines.push_back(fmt::format("label {}, decision none", truth));
    lines.push_back("no threshold");
    return lines;
  }
  lines.push_back(fmt::format("label {}, decision {}", truth, decision.anomalous(score) ? "anomalous" : "normal"));
  lines.push_back(fmt::format("threshold {:.6g} ({}, score {} threshold)", decision.threshold,
                              decision.source.empty() ? "given" : decision.source, decision.inclusive ? ">=" : ">"));
  return lines;
}

}  // namespace piade
