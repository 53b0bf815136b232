// The INI files piade reads (`--config`, `piade compare` grids) go through
// boost's parse_config_file, which takes a UTF-8 byte-order mark for part of
// the first key and keeps every value of a repeated key, so that whichever
// one its reader picks wins silently. ini_text() is the check before it.
#pragma once

#include <functional>
#include <string>

namespace piade {

/// `text`, the contents of the INI file `file`, ready for parse_config_file:
/// a leading UTF-8 byte-order mark (which Windows editors write) removed.
/// Throws piade::Error naming the file, the key (`section.name`, as boost
/// spells it) and both line numbers when a key is given twice, unless
/// `repeatable(key)` (options that collect every value).
std::string ini_text(const std::string& file, std::string text,
                     const std::function<bool(const std::string&)>& repeatable = {});

}  // namespace piade
