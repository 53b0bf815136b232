#include "cli/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "piade/core/error.h"
#include "piade/core/trainer.h"  // clock_text

namespace piade {
namespace {

// The progress bar being drawn, if any: a message clears it first.
std::atomic<bool> g_bar_shown{false};

void clear_bar() {
  if (g_bar_shown.exchange(false)) std::fputs("\r\033[K", stderr);
}

// stderr in piade's own format: information as is, warnings and errors
// with the program's prefix (errors arrive already prefixed by main()).
class ScreenSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    clear_bar();
    const std::string text(message.payload.data(), message.payload.size());
    switch (message.level) {
      case spdlog::level::warn: std::fprintf(stderr, "piade: warning: %s\n", text.c_str()); break;
      case spdlog::level::debug:
      case spdlog::level::trace: std::fprintf(stderr, "piade: debug: %s\n", text.c_str()); break;
      default: std::fprintf(stderr, "%s\n", text.c_str());
    }
  }
  void flush_() override { std::fflush(stderr); }
};

std::shared_ptr<spdlog::sinks::sink> g_screen;
std::shared_ptr<spdlog::logger> g_file_only;

spdlog::level::level_enum parse_level(const std::string& text) {
  static const std::pair<const char*, spdlog::level::level_enum> levels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},  {"off", spdlog::level::off}};
  std::vector<std::string> names;
  for (const auto& [name, level] : levels) {
    if (text == name) return level;
    names.push_back(name);
  }
  throw Error(fmt::format("--log-level: '{}' is not a level; use {}{}", text, fmt::join(names, ", "),
                          did_you_mean(text, names)));
}

}  // namespace

void install_screen_logger() {
  g_screen = std::make_shared<ScreenSink>();
  auto logger = std::make_shared<spdlog::logger>("piade", g_screen);
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void configure_logging(const CommandLine& command_line) {
  if (!g_screen) install_screen_logger();
  const auto level = command_line.values.count("log-level") ? parse_level(command_line.get<std::string>("log-level"))
                                                            : spdlog::level::info;
  const bool quiet = command_line.values.count("quiet") && command_line.get<bool>("quiet");
  // Errors always reach the screen; --quiet keeps warnings.
  auto screen_level = quiet ? std::max(level, spdlog::level::warn) : level;
  g_screen->set_level(std::min(screen_level, spdlog::level::err));
  std::vector<spdlog::sink_ptr> sinks = {g_screen};
  g_file_only.reset();
  if (command_line.values.count("log-file")) {
    const std::string file = command_line.get<std::string>("log-file");
    std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file_sink;
    try {
      file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw Error(fmt::format("--log-file: cannot open '{}' ({})", file, e.what()));
    }
    file_sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    file_sink->set_level(level);
    sinks.push_back(file_sink);
    g_file_only = std::make_shared<spdlog::logger>("piade.file", file_sink);
    g_file_only->set_level(spdlog::level::trace);
    g_file_only->flush_on(spdlog::level::trace);
  }
  auto logger = std::make_shared<spdlog::logger>("piade", sinks.begin(), sinks.end());
  logger->set_level(std::min(std::min(screen_level, spdlog::level::err), level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void log_to_file_only(const std::string& message) {
  if (g_file_only) g_file_only->info(message);
}

bool logging_to_file() { return g_file_only != nullptr; }

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string what, int64_t total, std::string unit, bool enabled)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(std::max<int64_t>(total, 1)),
      bar_(enabled && stderr_is_terminal() && spdlog::default_logger_raw()->should_log(spdlog::level::info)),
      lines_(enabled && !bar_),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& detail) {
  const double seconds = elapsed();
  const double rate = done / std::max(seconds, 1e-9);
  const double remaining = (total_ - done) / std::max(rate, 1e-9);
  if (bar_) {
    const auto now = std::chrono::steady_clock::now();
    // At most ten redraws a second; the last step always.
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const int filled = static_cast<int>(20.0 * done / total_);
    std::fprintf(stderr, "\r\033[K%s [%s%s] %lld/%lld%s%s | ETA %s", what_.c_str(), std::string(filled, '#').c_str(),
                 std::string(20 - filled, '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), detail.empty() ? "" : " ", detail.c_str(),
                 clock_text(std::max(0.0, remaining)).c_str());
    std::fflush(stderr);
    g_bar_shown = true;
    return;
  }
  if (!lines_) return;
  if (done * 10 < next_tenth_ * total_) return;
  while (next_tenth_ * total_ <= done * 10) ++next_tenth_;
  if (seconds < 5 || done >= total_) return;  // short work stays quiet; the caller reports the end
  spdlog::info("{}: {}/{} {} ({}%){}{} | {:.1f} {}/s | ETA {}", what_, done, total_, unit_, done * 100 / total_,
               detail.empty() ? "" : " ", detail, rate, unit_, clock_text(remaining));
}

void Progress::finish() {
  if (bar_) clear_bar();
  bar_ = false;
}

}  // namespace piade
