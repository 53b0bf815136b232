#include "piade/core/file_io.h"

#include <unistd.h>

#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace fs = std::filesystem;

fs::path temporary_beside(const fs::path& file) {
  return file.parent_path() / fmt::format(".{}.tmp-{}", file.filename().string(), ::getpid());
}

void write_file_atomic(const fs::path& file, const std::string& text) {
  const fs::path temporary = temporary_beside(file);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(temporary, ec);
      throw Error(fmt::format("{}: cannot write", file.string()));
    }
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw Error(fmt::format("{}: cannot replace ({})", file.string(), ec.message()));
  }
}

}  // namespace piade
