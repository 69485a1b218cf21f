// A raw TCP client for tests that speak to a party's server byte by byte: well-formed requests,
// and everything a hostile client might send instead.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tno::mpc::communication::test {

class RawConnection {
 public:
  // Connects to ip:port, from `source` (any loopback address, e.g. 127.0.0.7) when given; with
  // `receive_buffer`, the socket's receive buffer is that small (SO_RCVBUF).
  explicit RawConnection(std::uint16_t port, const std::string& ip = "127.0.0.1",
                         const std::string& source = "", int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    if (!source.empty()) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        ::close(fd_);
        throw std::runtime_error("cannot bind to " + source);
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("cannot connect to " + ip + ":" + std::to_string(port));
    }
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends everything it can; false when the server has closed the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Ends the sending direction (the server reads end of stream).
  void finish_sending() { ::shutdown(fd_, SHUT_WR); }

  // The next response: status (0 when the connection closed or timed out without one) and body.
  std::pair<int, std::string> read_response(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto head_end = received_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        auto head = received_.substr(0, head_end);
        auto cl = head.find("Content-Length: ");
        std::size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
        if (received_.size() >= head_end + 4 + length) {
          int status = std::stoi(received_.substr(9, 3));
          std::string body = received_.substr(head_end + 4, length);
          headers_ = head;
          received_.erase(0, head_end + 4 + length);
          return {status, body};
        }
      }
      if (!receive_until(deadline)) return {0, ""};
    }
  }

  // The status and header block of the next response, without reading a body (the answer to
  // HEAD announces a length but has none); 0 when none came.
  int read_head_only(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto head_end = received_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        headers_ = received_.substr(0, head_end);
        received_.erase(0, head_end + 4);
        return std::stoi(headers_.substr(9, 3));
      }
      if (!receive_until(deadline)) return 0;
    }
  }

  // Bytes received and not yet read as a response.
  const std::string& unread() const { return received_; }

  // The header block of the last response read.
  const std::string& last_headers() const { return headers_; }

  // True when the server closes the connection within `timeout` (whatever it sent before).
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (receive_until(deadline)) {
    }
    return closed_;
  }

 private:
  // Reads what arrives before `deadline`; false on timeout or when the connection is closed.
  bool receive_until(std::chrono::steady_clock::time_point deadline) {
    if (closed_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    received_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
  std::string headers_;
};

// A POST as the reference's client sends it, from the party serving on `cookie_port` (no cookie
// when empty).
inline std::string post_request(std::optional<std::uint16_t> cookie_port, std::string_view body,
                                bool keep_alive = true) {
  std::string req =
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n";
  if (cookie_port) req += "Cookie: server_port=" + std::to_string(*cookie_port) + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) req += "Connection: close\r\n";
  req += "\r\n";
  req += body;
  return req;
}

}  // namespace tno::mpc::communication::test
