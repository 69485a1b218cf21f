// A test server that records the requests it gets and answers them as a test asks.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/framing.hpp"

namespace tno::mpc::communication::test {

// A server that records the bodies of the requests it gets, in the order they come, and answers
// each with the library's own 200 (so that a send can take it at once): `late` ones (by index)
// after 100 ms; after the answer to one in `close_after` it closes the connection (as a server
// whose idle timeout passed). Serves each connection on a thread of its own until its client
// closes it: declared before the pools that talk to it, it outlives them. With `tls` (a server
// context) it speaks TLS, each write of an answer a record of its own.
class RecordingServer {
 public:
  /// Requests are numbered from 0 in the order they arrive; those in `late` are answered after
  /// 100 ms, those in `refused` with a 503, those in `split` with their 200 in two pieces 50 ms
  /// apart; after those in `close_after` the connection is closed.
  explicit RecordingServer(std::set<std::size_t> late = {}, std::set<std::size_t> close_after = {},
                           std::set<std::size_t> refused = {}, std::set<std::size_t> split = {},
                           boost::asio::ssl::context* tls = nullptr)
      : late_(std::move(late)),
        close_after_(std::move(close_after)),
        refused_(std::move(refused)),
        split_(std::move(split)),
        tls_(tls) {
    acceptor_thread_ = std::thread([this] { accept(); });
  }
  ~RecordingServer() {
    stopping_ = true;
    boost::system::error_code ignored;
    boost::asio::ip::tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ignored);  // ends the wait in accept()
    acceptor_thread_.join();
    for (auto& t : connection_threads_) t.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> bodies() const {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  int connections() const { return connections_; }
  /// Per request: whether more bytes had come on its connection by the time it was answered
  /// (requests pipelined behind it).
  std::vector<bool> followed() const {
    std::lock_guard lock(mu_);
    return followed_;
  }

 private:
  void accept() {
    while (!stopping_) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) return;
      ++connections_;
      connection_threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }
  void serve(boost::asio::ip::tcp::socket& socket) {
    if (tls_ == nullptr) {
      serve(socket, socket);
      return;
    }
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> secure(socket, *tls_);
    boost::system::error_code ec;
    secure.handshake(boost::asio::ssl::stream_base::server, ec);
    if (!ec) serve(secure, socket);
  }
  template <class Stream>
  void serve(Stream& stream, boost::asio::ip::tcp::socket& socket) {
    namespace asio = boost::asio;
    boost::system::error_code ec;
    std::string in;
    char chunk[4096];
    for (;;) {
      const auto head_end = in.find("\r\n\r\n");
      const auto length_at = in.find("Content-Length: ");
      if (head_end != std::string::npos && length_at < head_end) {
        const std::size_t length = std::stoul(in.substr(length_at + 16));
        if (in.size() >= head_end + 4 + length) {
          std::size_t index;
          {
            std::lock_guard lock(mu_);
            index = bodies_.size();
            bodies_.push_back(in.substr(head_end + 4, length));
          }
          in.erase(0, head_end + 4 + length);
          if (late_.count(index)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          {
            std::lock_guard lock(mu_);
            followed_.push_back(!in.empty() || socket.available(ec) > 0);
          }
          const std::string_view answer =
              refused_.count(index)
                  ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 7\r\n\r\nno room"
                  : net::received_bytes();
          if (split_.count(index)) {
            asio::write(stream, asio::buffer(answer.substr(0, answer.size() / 2)), ec);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            asio::write(stream, asio::buffer(answer.substr(answer.size() / 2)), ec);
          } else {
            asio::write(stream, asio::buffer(answer), ec);
          }
          if (ec || close_after_.count(index)) {
            socket.close(ec);
            return;
          }
          continue;
        }
      }
      const std::size_t n = stream.read_some(asio::buffer(chunk), ec);
      if (ec) return;
      in.append(chunk, n);
    }
  }

  const std::set<std::size_t> late_;
  const std::set<std::size_t> close_after_;
  const std::set<std::size_t> refused_;
  const std::set<std::size_t> split_;
  boost::asio::ssl::context* const tls_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  mutable std::mutex mu_;
  std::vector<std::string> bodies_;
  std::vector<bool> followed_;
  std::vector<std::thread> connection_threads_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_thread_;
};

}  // namespace tno::mpc::communication::test
