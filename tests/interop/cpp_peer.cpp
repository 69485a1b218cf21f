// The C++ side of the cross-language conversation driven by tests/interop/suite.py (which runs
// the real Python package): cpp_peer LISTEN_PORT PEER_PORT [v5] (v5: with suite5.py and 5.x). Every
// step mirrors one in suite.py; the peer is called "py". Exits 1 with the reason on stderr when
// something is not as expected.
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "neutral_json.hpp"
#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

// The Python side's Point: serialize() gives {"x": .., "y": ..}; registered under "Point".
struct Point {
  static constexpr std::string_view mpc_type_name = "Point";
  std::int64_t x = 0;
  std::int64_t y = 0;
  std::map<std::string, std::int64_t> serialize() const { return {{"x", x}, {"y", y}}; }
  static Point deserialize(const std::map<std::string, std::int64_t>& data) {
    return {data.at("x"), data.at("y")};
  }
};

namespace {
void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("cpp_peer: " + what);
}

// The expected values of the vectors, in the order suite.py sends them (by file name), without
// the one the reference cannot unpack with its default option.
std::vector<std::pair<std::string, mpc::Value>> expected_vectors(const std::string& dir) {
  std::ifstream in(dir + "/vectors.json");
  auto manifest = nlohmann::json::parse(in);
  std::vector<std::pair<std::string, mpc::Value>> out;
  for (const char* list : {"vectors", "non_default_vectors"}) {
    for (const auto& v : manifest[list]) {
      if (v["name"] == "dict_non_str_keys_opt") continue;
      out.emplace_back(v["file"], mpc::neutral::to_value(v["expected"]));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::cerr << "usage: cpp_peer LISTEN_PORT PEER_PORT v4|v5 [VECTORS_DIR]\n";
    return 2;
  }
  // v5: the conversation of suite5.py, with a 5.x party (its message format; no prefix step).
  const bool v5 = std::string(argv[3]) == "v5";
  // With the vectors: the first values received must be the vectors' expected values.
  std::vector<std::pair<std::string, mpc::Value>> expected;
  if (argc == 5) expected = expected_vectors(argv[4]);
  try {
    mpc::set_log_level("warn");
    mpc::Serialization::register_class<Point>();
    std::size_t mismatches = 0;
    mpc::PoolConfig config;
    if (v5) config.wire_format = mpc::WireFormat::v5;
    mpc::Pool pool(config);
    pool.add_http_server(static_cast<std::uint16_t>(std::stoi(argv[1])), "127.0.0.1");
    pool.add_http_client("py", "127.0.0.1", static_cast<std::uint16_t>(std::stoi(argv[2])));

    // 1. Echo: every value Python sends (default ids) goes back as received (default ids).
    auto count = pool.recv<std::int64_t>("py", mpc::MessageId("count"));
    for (std::int64_t i = 0; i < count; ++i) {
      mpc::Value v = pool.recv("py");
      auto at = static_cast<std::size_t>(i);
      if (at < expected.size() && !(v == expected[at].second)) {
        std::cerr << "cpp_peer: " << expected[at].first << " arrived as " << v << ", expected "
                  << expected[at].second << '\n';
        mismatches += 1;
      }
      pool.send("py", v);
    }
    if (!expected.empty()) {
      std::cout << "cpp_peer: " << expected.size() - mismatches << " of " << expected.size()
                << " vectors arrived as their expected values" << std::endl;
    }

    // 2. A custom class on both sides: decoded into the C++ Point, changed, sent back.
    auto p = pool.recv<Point>("py", mpc::MessageId("point"));
    expect(p.x == 3 && p.y == 4, "expected Point(3, 4)");
    pool.send("py", Point{p.x + 1, p.y * 2}, mpc::MessageId("point-back"));
    pool.send("py", std::vector<Point>{{1, 2}, {-5, 1LL << 40}}, mpc::MessageId("points"));

    // 3. Custom ids: a unicode string id in, an integer id out.
    auto text = pool.recv<std::string>("py", mpc::MessageId("custom-\xce\xb1"));
    pool.send("py", text + "!", v5 ? mpc::MessageId("7") : mpc::MessageId(std::int64_t{7}));

    // 4. A prefix on both sides (a session id): default counters become "s1-<n>". (5.x has no
    // prefixes.)
    if (!v5) {
      pool.update_msg_prefix("s1-");
      mpc::Value v = pool.recv("py");
      pool.send("py", v);
      auto named = pool.recv<std::string>("py", mpc::MessageId("named"));
      pool.send("py", named, mpc::MessageId("named"));
      pool.update_msg_prefix("");
    }

    // 5. Out of order: Python sends ids "b" then "a"; we ask for "a" first.
    auto a = pool.recv<std::string>("py", mpc::MessageId("a"));
    auto b = pool.recv<std::string>("py", mpc::MessageId("b"));
    pool.send("py", a + b, mpc::MessageId("ab"));

    auto stats = pool.shutdown();
    std::cout << "cpp_peer: received " << stats.total.messages_received << " messages ("
              << stats.total.bytes_received << " bytes), sent " << stats.total.messages_sent
              << std::endl;
    if (mismatches > 0) return 1;
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}
