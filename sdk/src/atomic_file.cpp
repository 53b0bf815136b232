#include "piade/sdk/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace piade {
namespace fs = std::filesystem;

fs::path temporary_beside(const fs::path& file) {
  return file.parent_path() / ("." + file.filename().string() + ".tmp-" + std::to_string(::getpid()));
}

void write_pieces_atomic(const fs::path& file, const std::vector<std::string_view>& pieces) {
  const fs::path temporary = temporary_beside(file);
  // Removes the partial temporary file (a full disk stays full otherwise)
  // and reports `error`, the errno of the step that failed.
  auto fail = [&](const char* what, int error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw std::runtime_error(file.string() + ": cannot " + what + " (" + std::strerror(error) + ")");
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail("write", errno);
  for (const std::string_view piece : pieces) {
    const char* next = piece.data();
    std::size_t left = piece.size();
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
