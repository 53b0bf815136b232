#include "piade/sdk/log.h"

#include <cstdio>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

namespace piade {

void warn(const std::string& message) {
  // A host that set up spdlog (the piade CLI: --log-level, --log-file) gets
  // warnings in its logger; otherwise they keep piade's one-line format on
  // stderr rather than spdlog's default stdout logger.
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (logger != nullptr && !logger->name().empty()) {
    logger->warn("{}", message);
    return;
  }
  std::fprintf(stderr, "piade: warning: %s\n", message.c_str());
}

void warn_once(const std::string& message) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mutex);
  if (said.insert(message).second) warn(message);
}

}  // namespace piade
