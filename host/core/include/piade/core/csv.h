// CSV output shared by the commands that write tables (score, eval): RFC
// 4180 quoting, so ids and paths with commas or quotes stay one field.
#pragma once

#include <string>

namespace piade {

/// `text` as one CSV field: as is, or double-quoted with quotes doubled
/// when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text);

}  // namespace piade
