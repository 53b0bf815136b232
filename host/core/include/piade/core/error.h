// The one error type library code throws; only main() turns it into an exit
// code. Messages follow "context: what went wrong, the value given, the fix",
// lowercase and without a final period, on one line.
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace piade {

class Error : public std::runtime_error {
 public:
  /// `message` with its control characters escaped (piade::printable): a
  /// value read from a file and named in the message (a plugin name in a
  /// checkpoint, a key in a results file) cannot split it over lines.
  explicit Error(const std::string& message);
  explicit Error(const char* message);
};

/// An exception's message on one line: a c10::Error (a failed TORCH_CHECK)
/// without the C++ backtrace LibTorch appends to its what(), any other
/// exception's what(), in both cases with one_line().
std::string one_line_message(const std::exception& e);

/// `text` on one line: LibTorch's backtrace (from "Exception raised from"
/// on, as c10::Error::what() and a plugin built with an older SDK give it)
/// dropped, and the remaining lines joined with "; ".
std::string one_line(const std::string& text);

/// The candidate closest to `word` by edit distance, if close enough to be a
/// plausible typo (as ninja's SpellcheckString).
std::optional<std::string> closest_match(const std::string& word,
                                         const std::vector<std::string>& candidates);

/// ", did you mean 'x'?" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace piade
