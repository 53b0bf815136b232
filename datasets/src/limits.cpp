#include "piade/datasets/limits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {

uint64_t default_memory_budget() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  uint64_t memory = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : uint64_t(8) << 30;
  // A container's limit; "max" (none) or an absurd v1 value does not parse
  // lower than the RAM and is ignored.
  for (const char* file : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(file);
    unsigned long long limit = 0;
    if (in >> limit && limit > 0 && limit < memory) memory = limit;
  }
  return std::max<uint64_t>(memory / 4, 1);
}

bool checked_multiply(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

std::string regular_file_problem(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ELOOP) return fmt::format("cannot open: a symbolic link loop ({})", std::strerror(errno));
    return fmt::format("cannot open ({})", std::strerror(errno));
  }
  if (S_ISREG(info.st_mode)) return "";
  if (S_ISDIR(info.st_mode)) return "is a directory, not a file";
  if (S_ISFIFO(info.st_mode)) return "is a FIFO (named pipe), not a regular file";
  if (S_ISSOCK(info.st_mode)) return "is a socket, not a regular file";
  if (S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode)) return "is a device, not a regular file";
  return "is not a regular file";
}

void require_regular_file(const std::string& path) {
  if (const std::string problem = regular_file_problem(path); !problem.empty())
    throw DatasetError(fmt::format("{}: {}", path, problem));
}

}  // namespace piade
