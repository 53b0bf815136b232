// report.html: one self-contained page (no external file, opens offline)
// with a comparison's tables, the ROC curves of every configuration per
// class, and reconstruction / anomaly-map strips per configuration.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "piade/compare/run_result.h"
#include "piade/eval/report_html.h"
#include "piade/compare/summary.h"

namespace piade::compare {

struct ReportOptions {
  /// Strips shown per configuration and class, from each run's
  /// eval/pictures (half normal, half anomalous, of the first seed).
  /// 0 leaves the pictures out; a negative count is an error (piade::Error).
  int pictures_per_config = 2;
};

/// The page for `results`, whose run folders (RunResult::folder) lie under
/// `out_dir`: eval/roc.csv gives the curves, eval/pictures/*.png the strips,
/// embedded as data: URIs. A run folder lacking them is shown without them.
std::string report_html(const Comparison& comparison, const Summary& summary,
                        const std::vector<RunResult>& results, const std::filesystem::path& out_dir,
                        const ReportOptions& options = {});

/// Pictures are embedded with eval's Base64 (piade/eval/report_html.h).
using piade::base64;

}  // namespace piade::compare
