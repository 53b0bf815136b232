// A grid's reference file: published numbers (a paper's per-class table)
// that summary.md and report.html set beside the runs' own, with the
// difference. The format, by example (benchmarks/paper/cifar10-paper.csv):
//
//   # PIADE paper, Table 2 (CIFAR-10, image AUROC)
//   class,metric,value,source
//   0,image_auroc,0.751,Table 2
//   mean,image_auroc,0.675,Table 2
//
// A header names the columns class, metric and value, and optionally
// source, in any order; '#' lines and blank lines are skipped; a field may
// be double-quoted (RFC 4180) to hold a comma. Class `mean` is the
// published mean over classes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "piade/compare/run_result.h"

namespace piade::compare {

/// The rows of `file`. `classes`: the classes a row may name besides
/// `mean` (the dataset's); `metrics`: the metric names a row may give.
/// Throws piade::Error naming the file and line for an unreadable file, a
/// missing column, a row with the wrong number of fields, an unknown class
/// or metric, a value that is not a number in [0, 1], a (class, metric)
/// given twice, or a file without rows.
std::vector<ReferenceValue> read_reference(const std::filesystem::path& file, const std::vector<std::string>& classes,
                                           const std::vector<std::string>& metrics);

}  // namespace piade::compare
