// The one error type library code throws; only main() turns it into an exit
// code. Messages follow "context: what went wrong, the value given, the fix",
// lowercase and without a final period.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace piade {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The candidate closest to `word` by edit distance, if close enough to be a
/// plausible typo (as ninja's SpellcheckString).
std::optional<std::string> closest_match(const std::string& word,
                                         const std::vector<std::string>& candidates);

/// ", did you mean 'x'?" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace piade
