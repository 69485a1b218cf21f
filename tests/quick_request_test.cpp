// The quick reading of a message's request header (src/net/quick_request) against Beast's parser:
// what the quick scan accepts, the parser reads alike; what might be read differently is left to
// the parser. No sockets.
#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <random>
#include <string>
#include <vector>

#include "net/quick_request.hpp"

namespace tno::mpc::communication::net {
namespace {

namespace http = boost::beast::http;

constexpr std::size_t kMaxHeader = 8192;
constexpr std::uint64_t kMaxBody = 1 << 20;

// What the Python reference's aiohttp client sends, and what this library's client sends.
const std::string kAiohttp =
    "POST / HTTP/1.1\r\nHost: 127.0.0.1:61002\r\nAccept: */*\r\nAccept-Encoding: gzip, "
    "deflate\r\nUser-Agent: Python/3.11 aiohttp/3.9.1\r\nCookie: server_port=61001\r\n"
    "Content-Length: 12\r\nContent-Type: application/octet-stream\r\n\r\n";
const std::string kOurs =
    "POST / HTTP/1.1\r\nHost: 127.0.0.1:61002\r\nContent-Type: application/octet-stream\r\n"
    "Cookie: server_port=61001\r\nContent-Length: 12\r\n\r\n";

Scan scan(const std::string& bytes, QuickRequest& out) {
  return scan_request(bytes, kMaxHeader, kMaxBody, out);
}

// Checks that a header the quick scan accepts is one the parser reads to the same effect.
void expect_parser_agrees(const std::string& bytes, const QuickRequest& q) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeader);
  parser.body_limit(kMaxBody);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), q.header_bytes), ec);
  ASSERT_FALSE(ec) << ec.message() << " in " << testing::PrintToString(bytes);
  ASSERT_TRUE(parser.is_header_done()) << testing::PrintToString(bytes);
  EXPECT_EQ(used, q.header_bytes);
  const auto& req = parser.get();
  EXPECT_EQ(req.method(), http::verb::post);
  EXPECT_EQ(req.version(), 11u);
  EXPECT_TRUE(req.keep_alive());
  EXPECT_FALSE(parser.chunked());
  ASSERT_TRUE(parser.content_length().has_value());
  EXPECT_EQ(*parser.content_length(), q.content_length);
  EXPECT_EQ(std::string(req[http::field::cookie]), std::string(q.cookie));
  EXPECT_EQ(req.count(http::field::cookie), q.cookie.empty() ? 0u : 1u);
}

TEST(QuickRequest, TheRequestsOfBothClientsAreReadQuickly) {
  for (const auto& bytes : {kAiohttp, kOurs}) {
    QuickRequest q;
    const std::string request = bytes + "abcdefghijkl";  // q.cookie points into it
    ASSERT_EQ(scan(request, q), Scan::quick);
    EXPECT_EQ(q.header_bytes, bytes.size());
    EXPECT_EQ(q.content_length, 12u);
    EXPECT_EQ(q.cookie, "server_port=61001");
    expect_parser_agrees(bytes, q);
  }
}

TEST(QuickRequest, EveryPrefixAsksForMore) {
  for (std::size_t n = 0; n < kAiohttp.size(); ++n) {
    QuickRequest q;
    EXPECT_EQ(scan(kAiohttp.substr(0, n), q), Scan::need_more) << n;
  }
}

TEST(QuickRequest, WhatChangesFramingOrAnswerGoesToTheParser) {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nCookie: server_port=1\r\n";
  for (const std::string& bytes : std::vector<std::string>{
           std::string("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
           std::string("HEAD / HTTP/1.1\r\n\r\n"),
           std::string("\x16\x03\x01\x02\x00\x01", 6),  // a TLS client hello
           "POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\n",
           head + "\r\n",  // no length
           head + "Transfer-Encoding: chunked\r\n\r\n",
           head + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
           head + "Content-Length: 1\r\nContent-Length: 1\r\n\r\n",
           head + "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n",
           head + "Content-Length: 1\r\nConnection: close\r\n\r\n",
           head + "Content-Length: 1\r\nUpgrade: h2c\r\n\r\n",
           head + "Content-Length: 1\r\nCookie: a=b\r\n\r\n",
           head + "Content-Length: +1\r\n\r\n",
           head + "Content-Length: 1 1\r\n\r\n",
           head + "Content-Length: 99999999999999999999\r\n\r\n",
           head + "Content-Length: 1048577\r\n\r\n",  // over the body limit
           head + "Content-Length : 1\r\n\r\n",       // space before the colon
           head + "Content-Length: 1\r\n folded\r\n\r\n",
           head + "Content-Length: 1\r\nX: a\rb\r\n\r\n",
           head + "Content-Length: 1\r\nX: a\nb\r\n\r\n",
           head + "Content-Length: 1\r\nX\x01: a\r\n\r\n",
           std::string("POST  / HTTP/1.1\r\nContent-Length: 1\r\n\r\n"),
           std::string("POST / HTTP/1.1 \r\nContent-Length: 1\r\n\r\n"),
           std::string("POST /\x7f HTTP/1.1\r\nContent-Length: 1\r\n\r\n"),
           "POST / HTTP/1.1\r\nX: " + std::string(kMaxHeader, 'a') + "\r\n\r\n",  // too big
       }) {
    QuickRequest q;
    EXPECT_EQ(scan(bytes, q), Scan::general) << testing::PrintToString(bytes);
  }
}

TEST(QuickRequest, FieldNamesAreCaseInsensitiveAndValuesTrimmed) {
  const std::string bytes =
      "POST /x?y HTTP/1.1\r\ncOOkie:\t server_port=7 \r\ncontent-LENGTH:  0\t\r\n\r\n";
  QuickRequest q;
  ASSERT_EQ(scan(bytes, q), Scan::quick);
  EXPECT_EQ(q.cookie, "server_port=7");
  EXPECT_EQ(q.content_length, 0u);
  expect_parser_agrees(bytes, q);
}

// Random edits of real requests: whatever the scan accepts, the parser reads alike.
TEST(QuickRequest, AcceptedMutantsAreReadAlikeByTheParser) {
  std::mt19937 random(20261201);
  const std::string alphabet = std::string("\r\n :\t\x00\x7f\x80\xff", 9) + "aZ0-9;,=/\"";
  int quick = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = (i % 2 ? kAiohttp : kOurs);
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % bytes.size();
      const char c = alphabet[random() % alphabet.size()];
      switch (random() % 3) {
        case 0:
          bytes[at] = c;
          break;
        case 1:
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          bytes.erase(at, 1);
          break;
      }
    }
    QuickRequest q;
    if (scan(bytes, q) != Scan::quick) continue;
    ++quick;
    expect_parser_agrees(bytes, q);
    if (testing::Test::HasFailure()) break;
  }
  EXPECT_GT(quick, 1000);  // the test exercised acceptance, not only refusal
}

// A header of the common form with Content-Length `length` (as written, digits or not).
std::string with_length(const std::string& header, const std::string& length) {
  const std::string field = "Content-Length: ";
  const std::size_t at = header.find(field) + field.size();
  return header.substr(0, at) + length + header.substr(header.find('\r', at));
}

// The scanner of one connection says what scan_request says of every request, whether it
// recognises a header as the last one with another length or scans it: random sequences of the
// clients' headers with lengths of every size, their edits and their prefixes.
TEST(QuickRequest, AConnectionsScannerAgreesWithTheScan) {
  std::mt19937 random(20261202);
  const std::string cookie_after =
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\nCookie: server_port=1\r\n\r\n";
  const std::string empty_cookie =
      "POST / HTTP/1.1\r\nCookie:\r\nContent-Length: 5\r\nHost: a\r\n\r\n";
  const std::vector<std::string> headers = {kAiohttp, kOurs, cookie_after, empty_cookie};
  const std::string alphabet = std::string("\r\n :\t\x00\x7f", 7) + "a09;=";
  RequestScanner scanner;
  int remembered = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string length = std::to_string(random() % 1000);
    if (random() % 8 == 0) length = std::string(1 + random() % 20, '9');  // over the limits too
    std::string bytes = with_length(headers[(i / 50) % headers.size()], length);
    switch (random() % 6) {
      case 0:  // an edit
        bytes[random() % bytes.size()] = alphabet[random() % alphabet.size()];
        break;
      case 1:  // a prefix
        bytes.resize(random() % bytes.size());
        break;
      default:
        break;
    }
    bytes += "body bytes";
    QuickRequest expected;
    QuickRequest got;
    const Scan scan = scan_request(bytes, kMaxHeader, kMaxBody, expected);
    ASSERT_EQ(scanner.scan(bytes, kMaxHeader, kMaxBody, got), scan)
        << testing::PrintToString(bytes);
    if (scan != Scan::quick) continue;
    ++remembered;
    EXPECT_EQ(got.header_bytes, expected.header_bytes);
    EXPECT_EQ(got.content_length, expected.content_length);
    EXPECT_EQ(got.cookie, expected.cookie);
    EXPECT_EQ(got.cookie.data(), expected.cookie.data());  // a view of these bytes
    if (testing::Test::HasFailure()) break;
  }
  EXPECT_GT(remembered, 10000);
}

}  // namespace
}  // namespace tno::mpc::communication::net
