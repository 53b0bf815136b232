#include "piade/datasets/limits.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {

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
