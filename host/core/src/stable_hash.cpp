#include "piade/core/stable_hash.h"

#include <cstdint>

#include <fmt/format.h>

namespace piade {

std::string stable_hash(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace piade
