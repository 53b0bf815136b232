#include "piade/core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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
  // Removes the partial temporary file (a full disk stays full otherwise)
  // and reports `error`, the errno of the step that failed.
  auto fail = [&](const char* what, int error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw Error(fmt::format("{}: cannot {} ({})", file.string(), what, std::strerror(error)));
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail("write", errno);
  // Every write is checked: a full disk shows up as a short write or ENOSPC,
  // at the latest by fsync (delayed allocation) or close (NFS).
  const char* next = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t written = ::write(fd, next, left);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int error = written < 0 ? errno : ENOSPC;
      ::close(fd);
      fail("write", error);
    }
    next += written;
    left -= static_cast<std::size_t>(written);
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    fail("write", error);
  }
  if (::close(fd) != 0) fail("write", errno);
  if (::rename(temporary.c_str(), file.c_str()) != 0) fail("replace", errno);
}

}  // namespace piade
