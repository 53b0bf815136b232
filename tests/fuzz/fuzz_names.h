// Turns fuzz input into a small directory tree, for the parsers that read
// file names (COIL-100, MVTec AD, folder datasets): one path per line,
// relative to a fresh root; a path ending in '/' is a directory, any other
// an empty file (parent directories made as needed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"

namespace piade::fuzz {

/// Makes the tree of `lines` under scratch()/name (emptied first) and
/// returns its path. Lines that are not a plain relative path (absolute,
/// "..", NUL, too long) are skipped: the file system, not piade, refuses
/// those. At most 64 entries.
inline std::string make_tree(const std::string& name, const std::vector<std::string>& lines) {
  const fs::path root = scratch() / name;
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root);
  int made = 0;
  for (const std::string& line : lines) {
    if (line.empty() || line.size() > 200 || line[0] == '/' || line.find('\0') != std::string::npos) continue;
    bool bad = false;
    for (const auto& part : fs::path(line)) bad |= part == ".." || part.string().size() > 100;
    if (bad || ++made > 64) continue;
    const fs::path path = root / line;
    if (line.back() == '/') {
      fs::create_directories(path, ec);
    } else {
      fs::create_directories(path.parent_path(), ec);
      std::ofstream(path, std::ios::binary);
    }
  }
  return root.string();
}

/// The input's lines.
inline std::vector<std::string> lines_of(const uint8_t* data, std::size_t size) {
  std::vector<std::string> lines(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') lines.emplace_back();
    else lines.back() += char(data[i]);
  }
  return lines;
}

}  // namespace piade::fuzz
