#include "net/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cctype>
#include <memory>
#include <string>
#include <utility>

namespace tno::mpc::communication {

namespace {
// The level in capitals, as Python's logging prints it ("INFO").
class UpperCaseLevel : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    auto name = spdlog::level::to_string_view(msg.level);
    for (char c : name)
      dest.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<UpperCaseLevel>();
  }
};
}  // namespace

spdlog::logger& net::log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::get("tno.mpc.communication.httphandlers");
    if (!l) l = spdlog::stderr_color_mt("tno.mpc.communication.httphandlers");
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<UpperCaseLevel>('*').set_pattern("%Y-%m-%d %H:%M:%S,%e - %n - %* - %v");
    l->set_formatter(std::move(formatter));
    return l;
  }();
  return *logger;
}

std::string net::held_back_note(std::size_t held_back) {
  if (held_back == 0) return "";
  return " (" + std::to_string(held_back) + " more like it not logged)";
}

std::optional<std::size_t> net::LogLimiter::allow() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (last_ && now - *last_ < interval_) {
    ++held_back_;
    return std::nullopt;
  }
  last_ = now;
  return std::exchange(held_back_, 0);
}

}  // namespace tno::mpc::communication
