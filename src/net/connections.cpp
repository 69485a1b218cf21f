#include "net/connections.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace tno::mpc::communication::net {

namespace {
std::size_t half_the_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 16;
  return std::max<std::size_t>(static_cast<std::size_t>(limit.rlim_cur) / 2, 8);
}
}  // namespace

Connections::Connections(std::size_t cap, std::size_t per_source)
    : cap_(cap != 0 ? cap : half_the_descriptor_limit()), per_source_(per_source) {}

std::unique_ptr<Connections::Slot> Connections::admit(int fd, const std::string& source,
                                                      bool& over_source) {
  over_source = false;
  auto& from = from_[source];
  if (from >= per_source_) {
    over_source = true;
    ++counts_.refused;
    if (from == 0) from_.erase(source);
    return nullptr;
  }
  if (open_.size() >= cap_ && !shed_one()) {
    ++counts_.refused;
    if (from == 0) from_.erase(source);
    return nullptr;
  }
  ++from;
  ++counts_.accepted;
  open_.push_back(Entry{fd, nullptr, source});
  counts_.open = open_.size();
  if (open_.size() > counts_.peak) counts_.peak = open_.size();
  return std::unique_ptr<Slot>(new Slot(*this, std::prev(open_.end())));
}

bool Connections::shed_where(bool (*unwanted)(const Entry&)) {
  for (auto& e : open_) {
    if (e.shed || !unwanted(e)) continue;
    // Its session's pending operation ends with an error, and the session with it (its slot too).
    e.shed = true;
    if (e.close) {
      e.close();
    } else {
      ::shutdown(e.fd, SHUT_RDWR);
    }
    ++counts_.shed;
    return true;
  }
  return false;
}

bool Connections::shed_one() {
  return shed_where([](const Entry& e) { return !e.identified; }) ||
         shed_where([](const Entry& e) { return !e.busy; });
}

Connections::Slot::~Slot() {
  auto it = owner_.from_.find(entry_->source);
  if (it != owner_.from_.end() && --it->second == 0) owner_.from_.erase(it);
  owner_.open_.erase(entry_);
  owner_.counts_.open = owner_.open_.size();
}

void Connections::Slot::identified() noexcept {
  entry_->identified = true;
}

void Connections::Slot::busy(bool is_busy) noexcept {
  entry_->busy = is_busy;
}

bool HandshakeGate::free_for(const std::string& source) const {
  auto it = from_.find(source);
  return under_way_ < total_ && (it == from_.end() || it->second < per_source_);
}

void HandshakeGate::take(const std::string& source) {
  ++under_way_;
  ++from_[source];
}

boost::asio::awaitable<bool> HandshakeGate::enter(std::string source,
                                                  std::chrono::steady_clock::time_point deadline) {
  if (waiting_.empty() && free_for(source)) {
    take(source);
    co_return true;
  }
  auto waiter = std::make_shared<Waiter>();
  waiter->source = source;
  waiter->wake =
      std::make_unique<boost::asio::steady_timer>(co_await boost::asio::this_coro::executor);
  waiter->wake->expires_at(deadline);
  waiting_.push_back(waiter);
  co_await waiter->wake->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  if (!waiter->admitted) std::erase(waiting_, waiter);  // the deadline passed
  co_return waiter->admitted;
}

void HandshakeGate::leave(const std::string& source) {
  --under_way_;
  if (auto it = from_.find(source); it != from_.end() && --it->second == 0) from_.erase(it);
  // The first waiter that may go now goes.
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (!free_for((*it)->source)) continue;
    take((*it)->source);
    (*it)->admitted = true;
    (*it)->wake->cancel();
    waiting_.erase(it);
    break;
  }
}

}  // namespace tno::mpc::communication::net
