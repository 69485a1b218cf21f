// The pool's log: spdlog's logger "tno.mpc.communication.httphandlers" on stderr, in the shape of
// the reference's Python logging (`2024-01-01 12:00:00,000 - <logger> - INFO - <message>`), so that
// the logs of C++ and Python parties read alike.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>

namespace tno::mpc::communication::net {

/// The logger, made on first use (at level "info").
spdlog::logger& log();

/// Lets one line of a kind through per interval, so that a flood (of refused connections, of
/// failed attempts) cannot flood the log: allow() says whether to log now, and how many lines of
/// the kind were held back since the last one. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::steady_clock::duration interval = std::chrono::seconds(5))
      : interval_(interval) {}
  /// The number of lines held back since the last one that was let through, when this one may
  /// be logged; nothing when it is held back.
  std::optional<std::size_t> allow();

 private:
  const std::chrono::steady_clock::duration interval_;
  std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  std::size_t held_back_ = 0;
};

/// " (N more like it not logged)" after a line that a LogLimiter let through, or nothing.
std::string held_back_note(std::size_t held_back);

}  // namespace tno::mpc::communication::net
