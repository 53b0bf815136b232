#include "piade/sdk/log.h"

#include <cstdio>
#include <mutex>
#include <set>

namespace piade {

void warn(const std::string& message) { std::fprintf(stderr, "piade: warning: %s\n", message.c_str()); }

void warn_once(const std::string& message) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mutex);
  if (said.insert(message).second) warn(message);
}

}  // namespace piade
