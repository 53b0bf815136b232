#include "piade/core/file_io.h"

#include <stdexcept>

#include "piade/core/error.h"

namespace piade {

void write_file_atomic(const std::filesystem::path& file, const std::string& text) {
  try {
    write_pieces_atomic(file, {text});
  } catch (const std::runtime_error& e) {
    throw Error(e.what());  // names the file and the system's reason
  }
}

}  // namespace piade
