// A hash that names things on disk (run folders, layout hashes): the same on
// every build and machine, which std::hash is not.
#pragma once

#include <string>

namespace piade {

/// 64-bit FNV-1a of `text` as 16 hex digits.
std::string stable_hash(const std::string& text);

}  // namespace piade
