// The server's open connections, held under a party-wide cap below the descriptor limit and a cap
// per source address, and its TLS handshakes, held under caps of their own. At the party-wide cap
// a new connection makes room by closing the connection that matters least: one that no known peer
// has used yet (the oldest first), else an idle one of a known peer; identified peers keep being
// served while strangers flood the port. Network thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

namespace tno::mpc::communication::net {

class Connections {
  struct Entry {
    int fd;
    std::function<void()> close;  // closes the connection's socket (network thread)
    std::string source;
    bool identified = false;
    bool busy = false;
    bool shed = false;
  };

 public:
  /// Read by any thread (statistics), written by the network thread.
  struct Counts {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> refused{0};  // per-source cap, or party-wide cap and none to shed
    std::atomic<std::uint64_t> shed{0};     // closed to make room for a newer connection
    std::atomic<std::uint64_t> open{0};
    std::atomic<std::uint64_t> peak{0};
  };

  /// `cap`: 0 for half of the soft RLIMIT_NOFILE.
  Connections(std::size_t cap, std::size_t per_source);
  std::size_t cap() const noexcept { return cap_; }

  class Slot;
  /// Admits a connection on descriptor `fd` from `source`, shedding another when the party is at
  /// its cap (closing it at once, so that its descriptor is free). Null when refused:
  /// `over_source` says whether by the per-source cap.
  std::unique_ptr<Slot> admit(int fd, const std::string& source, bool& over_source);
  /// Closes the least valuable connection (when the process is out of descriptors); false when
  /// there is none to close.
  bool shed_one();
  const Counts& counts() const noexcept { return counts_; }

  /// A connection's place while it is open; gives it up when destroyed.
  class Slot {
   public:
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    /// A request of a known peer came over it: it is shed only when idle.
    void identified() noexcept;
    /// Between a request's header and its answer (not idle).
    void busy(bool is_busy) noexcept;
    /// How to close the connection when it is shed (its socket, wherever it lives now); without
    /// one, its descriptor is shut down and the session closes it when it next runs.
    void on_shed(std::function<void()> close) { entry_->close = std::move(close); }

   private:
    friend class Connections;
    Slot(Connections& owner, std::list<Entry>::iterator entry) : owner_(owner), entry_(entry) {}
    Connections& owner_;
    std::list<Entry>::iterator entry_;
  };

 private:
  bool shed_where(bool (*unwanted)(const Entry&));

  std::size_t cap_;
  const std::size_t per_source_;
  std::list<Entry> open_;  // oldest first
  std::map<std::string, std::size_t, std::less<>> from_;
  Counts counts_;
};

/// TLS handshakes under way, at most `total` in all and `per_source` from one address; the others
/// wait their turn, first come first served.
class HandshakeGate {
 public:
  HandshakeGate(std::size_t total, std::size_t per_source)
      : total_(total), per_source_(per_source) {}
  /// Waits for a turn for `source` until `deadline`; true once it has one (leave() gives it back).
  boost::asio::awaitable<bool> enter(std::string source,
                                     std::chrono::steady_clock::time_point deadline);
  void leave(const std::string& source);
  /// Handshakes under way now (any thread may read it).
  std::size_t under_way() const noexcept { return under_way_.load(); }

 private:
  struct Waiter {
    std::string source;
    std::unique_ptr<boost::asio::steady_timer> wake;
    bool admitted = false;
  };
  bool free_for(const std::string& source) const;
  void take(const std::string& source);

  const std::size_t total_;
  const std::size_t per_source_;
  std::atomic<std::size_t> under_way_{0};
  std::map<std::string, std::size_t, std::less<>> from_;
  std::deque<std::shared_ptr<Waiter>> waiting_;
};

}  // namespace tno::mpc::communication::net
