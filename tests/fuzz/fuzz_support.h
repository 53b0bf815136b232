// What every fuzz target shares: a private scratch directory, writing the
// input to a file there (the parsers read paths), and the one rule of a
// finding. A parser may refuse an input only with its documented error,
// on one line; any other exception escapes the target, and libFuzzer
// reports the uncaught exception (std::terminate -> abort) as a crash.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace piade::fuzz {
namespace fs = std::filesystem;

/// A directory of this process's own, in memory (/dev/shm) where there is
/// one: every execution writes its files here, and parallel fuzzers do not
/// meet. Removed at exit.
inline const fs::path& scratch() {
  static const fs::path dir = [] {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path made = base / ("piade-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(made);
    fs::create_directories(made);
    static const fs::path removed_at_exit = made;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(removed_at_exit, ec);
    });
    return made;
  }();
  return dir;
}

/// Writes `size` bytes to scratch()/name and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, std::size_t size) {
  const fs::path file = scratch() / name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", file.c_str());
    std::abort();
  }
  return file.string();
}

/// An expected refusal must still keep piade's promise: one line that
/// names `what` (the file or setting at fault). Anything else is a finding.
inline void check_message(const char* message, std::string_view what) {
  const std::string_view text(message);
  if (text.find('\n') != std::string_view::npos || (!what.empty() && text.find(what) == std::string_view::npos)) {
    std::fprintf(stderr, "fuzz: error message not one line naming '%.*s': %s\n", int(what.size()), what.data(),
                 message);
    std::abort();
  }
}

/// Reads all of `size` bytes at `data`, so that ASan checks a buffer the
/// parser handed back (LibTorch's own code is not instrumented).
inline uint8_t touch(const void* data, std::size_t size) {
  uint8_t sum = 0;
  for (std::size_t i = 0; i < size; ++i) sum = uint8_t(sum + static_cast<const volatile uint8_t*>(data)[i]);
  return sum;
}

}  // namespace piade::fuzz
