// mpc-comm: the command-line tool of tno-mpc-communication.
//
//   mpc-comm decode [FILE|-]   one packed message (msgpack) in, neutral JSON out
//   mpc-comm encode [FILE|-]   neutral JSON {"id": ..., "object": ...} in, packed message out
//   mpc-comm ping HOST:PORT    the GET liveness check of a party's server, with its round trip
//                              (over TLS: the server's certificate identity and expiry)
//   mpc-comm echo --listen ADDR:PORT --peer NAME=HOST:PORT [--count N]
//   mpc-comm send --listen ADDR:PORT --peer NAME=HOST:PORT [--id ID] JSON
//   mpc-comm recv --listen ADDR:PORT --peer NAME=HOST:PORT [--id ID] [--count N]
//   mpc-comm bench --listen ADDR:PORT --peer NAME=HOST:PORT --size BYTES --count N
//                  [--inflight K] [--one-way] [--json]   (against a party running `echo`)
// Party subcommands also take --prefix and --log-level, and all but decode/encode take
// --tls-key, --tls-cert, --tls-ca (mutual TLS) and, for parties, --peer-cert NAME=PATH
// (identify the peer by its certificate). Values are in the neutral JSON form.
//
// Exit status: 0 done; 1 a network or peer failure (a message not delivered, a receive timed out
// or cut off, a ping not answered 200); 2 bad input or a setup that cannot work (bad arguments,
// JSON or message bytes, unusable TLS files, an address that cannot be bound or resolved). Each
// failure prints one line on stderr naming what is wrong.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <optional>

#include "neutral_json.hpp"
#include "tno/mpc/communication/ping.hpp"
#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

namespace {

constexpr int kNetworkFailure = 1;
constexpr int kBadInput = 2;

bool is_network_failure(const std::exception& e) {
  return dynamic_cast<const mpc::DeliveryError*>(&e) != nullptr ||
         dynamic_cast<const mpc::TimeoutError*>(&e) != nullptr ||
         dynamic_cast<const mpc::ShutdownError*>(&e) != nullptr;
}

std::string read_all(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "' for reading");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int decode(const std::string& path) {
  std::string bytes = read_all(path);
  auto message = mpc::unpack_message<mpc::Value>(mpc::as_bytes(bytes));
  nlohmann::json out{{"id", mpc::neutral::from_message_id(message.id)},
                     {"object", mpc::neutral::from_value(message.object)}};
  std::cout << out.dump() << '\n';
  return 0;
}

int encode(const std::string& path) {
  nlohmann::json in;
  try {
    in = nlohmann::json::parse(read_all(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw mpc::neutral::FormatError(std::string("input is not JSON: ") + e.what());
  }
  if (!in.is_object() || !in.contains("id") || !in.contains("object")) {
    throw mpc::neutral::FormatError("expected a JSON object with keys \"id\" and \"object\"");
  }
  auto packed = mpc::pack_message(mpc::neutral::to_value(in.at("object")),
                                  mpc::neutral::to_message_id(in.at("id")));
  std::fwrite(packed.data(), 1, packed.size(), stdout);
  std::fflush(stdout);
  return 0;
}

std::pair<std::string, std::uint16_t> split_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    throw mpc::neutral::FormatError("expected HOST:PORT, got '" + text + "'");
  }
  unsigned long port = 0;
  try {
    port = std::stoul(text.substr(colon + 1));
  } catch (const std::exception&) {
    port = 0;
  }
  if (port == 0 || port > 65535) throw mpc::neutral::FormatError("bad port in '" + text + "'");
  return {text.substr(0, colon), static_cast<std::uint16_t>(port)};
}

// --tls-key, --tls-cert, --tls-ca: all three or none.
struct TlsOptions {
  std::string key;
  std::string cert;
  std::string ca;

  std::optional<mpc::TlsConfig> config() const {
    if (key.empty() && cert.empty() && ca.empty()) return std::nullopt;
    if (key.empty() || cert.empty() || ca.empty()) {
      throw mpc::neutral::FormatError("give --tls-key, --tls-cert and --tls-ca together");
    }
    return mpc::TlsConfig{key, cert, ca};
  }
};

void add_tls_options(CLI::App* cmd, TlsOptions& o) {
  cmd->add_option("--tls-key", o.key, "this party's PEM private key (mutual TLS)");
  cmd->add_option("--tls-cert", o.cert, "this party's PEM certificate");
  cmd->add_option("--tls-ca", o.ca, "PEM bundle of the CAs whose parties are trusted");
}

int ping(const std::string& target, const TlsOptions& tls) {
  auto [host, port] = split_host_port(target);
  mpc::PingResult r = mpc::ping(host, port, tls.config());
  std::cout << target << " answered " << r.status << " '" << r.body << "' in "
            << r.round_trip.count() << " us";
  if (r.peer_certificate) {
    const auto& c = *r.peer_certificate;
    std::cout << " over " << r.tls_version << "\n  certificate: " << c.subject << ", issued by "
              << c.issuer << ", serial " << c.serial << "\n  identity key: " << c.identity
              << (c.issuer_starts_with_cn ? ""
                                          : " (the issuer does not start with CN: this "
                                            "certificate cannot identify its party)")
              << "\n  valid until: " << mpc::format_utc(c.not_after);
    auto left = c.not_after - std::chrono::system_clock::now();
    if (left < std::chrono::hours(24 * 30)) std::cout << " (expires within 30 days)";
  }
  std::cout << '\n';
  return r.status == 200 ? 0 : kNetworkFailure;
}

// Options shared by the party subcommands.
struct PartyOptions {
  std::string listen;
  std::string peer;
  std::string prefix;
  std::string log_level = "warn";
  std::optional<std::string> id;
  int count = 1;
  TlsOptions tls;
  std::string peer_cert;             // NAME=PATH
  int poll_us = 0;                   // PoolConfig::poll_before_sleep
  bool network_thread_only = false;  // PoolConfig::callers_run_network off
};

struct Party {
  std::unique_ptr<mpc::Pool> pool;
  std::string peer;
};

Party start_party(const PartyOptions& o) {
  auto [addr, port] = split_host_port(o.listen);
  auto eq = o.peer.find('=');
  if (eq == std::string::npos) throw mpc::neutral::FormatError("expected --peer NAME=HOST:PORT");
  std::string name = o.peer.substr(0, eq);
  auto [peer_host, peer_port] = split_host_port(o.peer.substr(eq + 1));
  std::optional<std::string> peer_cert;
  if (!o.peer_cert.empty()) {
    auto cert_eq = o.peer_cert.find('=');
    if (cert_eq == std::string::npos || o.peer_cert.substr(0, cert_eq) != name) {
      throw mpc::neutral::FormatError("expected --peer-cert " + name + "=PATH (the --peer's name)");
    }
    peer_cert = o.peer_cert.substr(cert_eq + 1);
  }
  mpc::set_log_level(o.log_level);
  mpc::PoolConfig config;
  config.tls = o.tls.config();
  config.poll_before_sleep = std::chrono::microseconds(o.poll_us);
  config.callers_run_network = !o.network_thread_only;
  Party p{std::make_unique<mpc::Pool>(config), name};
  p.pool->add_http_server(port, addr);
  p.pool->add_http_client(name, peer_host, peer_port, peer_cert);
  if (!o.prefix.empty()) p.pool->update_msg_prefix(o.prefix);
  return p;
}

std::optional<mpc::MessageId> message_id(const std::optional<std::string>& id) {
  if (!id) return std::nullopt;
  return mpc::MessageId(*id);
}

int echo(const PartyOptions& o, bool sink) {
  Party p = start_party(o);
  for (int i = 0; o.count <= 0 || i < o.count; ++i) {
    // The payload goes back exactly as it came, without decoding: a bytes payload from the
    // received buffer itself (sent in place when large, no copy), any other value as its packed
    // bytes.
    auto message = p.pool->recv_borrowed<mpc::PackedValue>(p.peer);
    if (sink) continue;
    mpc::MessageId id(static_cast<std::int64_t>(i));
    mpc::Reader packed(message.value.bytes);
    if (packed.peek() == mpc::WireType::bin) {
      p.pool->send(p.peer, packed.read_bin(), id);
    } else {
      p.pool->send(p.peer, message.value, id);
    }
  }
  p.pool->shutdown();
  return 0;
}

struct BenchOptions {
  std::size_t size = 64;
  int count = 1000;
  int inflight = 1;
  int warmup = -1;  // default: min(100, count / 10)
  bool one_way = false;
  bool json = false;
};

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(at, sorted.size() - 1)];
}

// Sends `count` bytes messages of `size` bytes with default ids, `inflight` at a time, and waits
// for each echo (or, one-way, for each 200 from a party running `echo --sink`). Times per message
// are from the send to its echo (or its 200); the first `warmup` messages are not counted.
int bench(const PartyOptions& o, const BenchOptions& b) {
  if (b.count <= 0 || b.inflight <= 0)
    throw mpc::neutral::FormatError("--count and --inflight must be > 0");
  Party p = start_party(o);
  using Clock = std::chrono::steady_clock;
  const int warmup = b.warmup >= 0 ? b.warmup : std::min(100, b.count / 10);
  // Shared with the pool, not copied per message (asend of a shared buffer).
  const auto shared_payload = std::make_shared<const mpc::Bytes>(b.size, std::byte{0x5a});
  const mpc::Bytes& payload = *shared_payload;
  struct InFlight {
    Clock::time_point start;
    std::optional<std::future<void>> sent;  // none for a blocking send
    std::optional<mpc::PendingMessage<mpc::Bytes>> echo;
  };
  std::deque<InFlight> window;
  std::vector<double> times_us;
  times_us.reserve(static_cast<std::size_t>(b.count));
  const bool progress = isatty(STDERR_FILENO) != 0 && !b.json;
  auto last_progress = Clock::now();
  int done = 0;
  Clock::time_point measured_from;
  auto finish_oldest = [&] {
    InFlight& f = window.front();
    if (f.sent) p.pool->wait(std::move(*f.sent));
    if (f.echo) {
      auto back = f.echo->get();
      if (back.size() != b.size) throw std::runtime_error("the echo has another size");
    }
    if (done >= warmup) {
      times_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - f.start).count());
    }
    window.pop_front();
    if (++done == warmup) measured_from = Clock::now();
    if (progress && Clock::now() - last_progress > std::chrono::seconds(1)) {
      last_progress = Clock::now();
      std::cerr << "\r  " << done << " / " << b.count << " messages" << std::flush;
    }
  };
  if (warmup == 0) measured_from = Clock::now();
  for (int i = 0; i < b.count; ++i) {
    if (static_cast<int>(window.size()) == b.inflight) finish_oldest();
    InFlight f{Clock::now(), {}, std::nullopt};
    if (b.inflight == 1) {
      // One at a time: the blocking send (large bytes go out from this buffer in place) and a
      // borrowed receive (no copy of the echo).
      p.pool->send(p.peer, payload);
      if (!b.one_way) {
        auto back = p.pool->recv_borrowed<std::span<const std::byte>>(p.peer);
        if (back.value.size() != b.size) throw std::runtime_error("the echo has another size");
        window.push_back(std::move(f));
        finish_oldest();
        continue;
      }
    } else {
      f.sent = p.pool->asend(p.peer, shared_payload);
    }
    if (!b.one_way) f.echo.emplace(p.pool->arecv<mpc::Bytes>(p.peer));
    window.push_back(std::move(f));
  }
  while (!window.empty()) finish_oldest();
  double seconds = std::chrono::duration<double>(Clock::now() - measured_from).count();
  if (progress) std::cerr << "\r" << std::string(40, ' ') << "\r";
  auto stats = p.pool->shutdown();
  std::sort(times_us.begin(), times_us.end());
  double counted = static_cast<double>(times_us.size());
  double per_s = seconds > 0 ? counted / seconds : 0;
  double mb_per_s = per_s * static_cast<double>(b.size) / 1e6;
  double median = percentile(times_us, 0.5);
  double p99 = percentile(times_us, 0.99);
  if (b.json) {
    nlohmann::json out{{"mode", b.one_way ? "one-way" : "round-trip"},
                       {"tls", o.tls.config().has_value()},
                       {"size", b.size},
                       {"count", b.count},
                       {"warmup", warmup},
                       {"inflight", b.inflight},
                       {"rtt_median_us", median},
                       {"rtt_p99_us", p99},
                       {"messages_per_s", per_s},
                       {"payload_mb_per_s", mb_per_s},
                       {"connections_opened", stats.total.connections_opened},
                       {"tls_sessions_resumed", stats.total.tls_sessions_resumed}};
    std::cout << out.dump() << std::endl;
  } else {
    std::cout << (b.one_way ? "one-way" : "round trip") << ", " << b.count << " x " << b.size
              << " B, " << b.inflight << " in flight: median " << median << " us, p99 " << p99
              << " us, " << per_s << " messages/s, " << mb_per_s << " MB/s payload" << std::endl;
  }
  return 0;
}

int send(const PartyOptions& o, const std::string& json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw mpc::neutral::FormatError(std::string("value is not JSON: ") + e.what());
  }
  mpc::Value value = mpc::neutral::to_value(j);
  Party p = start_party(o);
  p.pool->send(p.peer, value, message_id(o.id));
  p.pool->shutdown();
  return 0;
}

int recv(const PartyOptions& o) {
  Party p = start_party(o);
  for (int i = 0; i < o.count; ++i) {
    std::cout << mpc::neutral::from_value(p.pool->recv(p.peer, message_id(o.id))).dump()
              << std::endl;
  }
  p.pool->shutdown();
  return 0;
}

void add_party_options(CLI::App* cmd, PartyOptions& o, bool with_id) {
  cmd->add_option("--listen", o.listen, "ADDR:PORT this party serves on")->required();
  cmd->add_option("--peer", o.peer, "NAME=HOST:PORT of the other party")->required();
  cmd->add_option("--prefix", o.prefix, "message id prefix (session id)");
  cmd->add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off");
  if (with_id) cmd->add_option("--id", o.id, "message id (default: the message counter)");
  add_tls_options(cmd, o.tls);
  cmd->add_option("--poll-us", o.poll_us,
                  "poll this long before the network thread sleeps (default 0; see PoolConfig)");
  cmd->add_flag("--network-thread-only", o.network_thread_only,
                "only the pool's thread runs the network, not waiting callers (see PoolConfig)");
  cmd->add_option("--peer-cert", o.peer_cert,
                  "NAME=PATH: identify the peer by this PEM certificate (TLS only)");
}

// A party under a flood of connections needs descriptors: a program may take what the hard limit
// allows (a library must not change the process's limits; the pool caps its connections below
// whatever limit it finds).
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  raise_descriptor_limit();
  CLI::App app{"mpc-comm: tools for tno.mpc.communication-compatible parties"};
  app.footer(
      "Exit status: 0 done; 1 a network or peer failure (not delivered, timed out, ping not "
      "answered 200); 2 bad input or a setup that cannot work (arguments, JSON, message bytes, TLS "
      "files, an address that cannot be bound or resolved).");
  app.require_subcommand(1);

  std::string decode_path = "-";
  auto* decode_cmd = app.add_subcommand("decode", "Print one packed message as neutral JSON");
  decode_cmd->add_option("file", decode_path, "file with the message, or - for stdin");

  std::string encode_path = "-";
  auto* encode_cmd =
      app.add_subcommand("encode", "Pack neutral JSON {\"id\", \"object\"} as a message");
  encode_cmd->add_option("file", encode_path, "file with the JSON, or - for stdin");

  std::string ping_target;
  auto* ping_cmd = app.add_subcommand("ping", "GET a party's server and print the round trip");
  ping_cmd->add_option("target", ping_target, "HOST:PORT")->required();
  TlsOptions ping_tls;
  add_tls_options(ping_cmd, ping_tls);

  PartyOptions echo_opts;
  bool echo_sink = false;
  auto* echo_cmd = app.add_subcommand("echo", "Send every message from the peer back under its id");
  add_party_options(echo_cmd, echo_opts, false);
  echo_opts.count = 0;
  echo_cmd->add_option("--count", echo_opts.count, "stop after N messages (default: run forever)");
  echo_cmd->add_flag("--sink", echo_sink, "receive only, send nothing back (for bench --one-way)");

  PartyOptions bench_opts;
  BenchOptions bench_settings;
  auto* bench_cmd = app.add_subcommand(
      "bench",
      "Time round trips (or one-way sends) of bytes messages against a party running echo");
  add_party_options(bench_cmd, bench_opts, false);
  bench_cmd->add_option("--size", bench_settings.size, "payload bytes per message")->required();
  bench_cmd->add_option("--count", bench_settings.count, "messages to send")->required();
  bench_cmd->add_option("--inflight", bench_settings.inflight,
                        "messages in flight at once (default 1)");
  bench_cmd->add_option("--warmup", bench_settings.warmup,
                        "first messages not counted (default: min(100, count/10))");
  bench_cmd->add_flag("--one-way", bench_settings.one_way,
                      "time sends until the peer's 200 (the peer runs echo --sink)");
  bench_cmd->add_flag("--json", bench_settings.json, "print one JSON object");

  PartyOptions send_opts;
  std::string send_json;
  auto* send_cmd = app.add_subcommand("send", "Send one value (neutral JSON) to the peer");
  add_party_options(send_cmd, send_opts, true);
  send_cmd->add_option("json", send_json, "the value, in neutral JSON")->required();

  PartyOptions recv_opts;
  auto* recv_cmd = app.add_subcommand("recv", "Receive values from the peer; print neutral JSON");
  add_party_options(recv_cmd, recv_opts, true);
  recv_cmd->add_option("--count", recv_opts.count, "how many messages (default 1)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (decode_cmd->parsed()) return decode(decode_path);
    if (encode_cmd->parsed()) return encode(encode_path);
    if (ping_cmd->parsed()) return ping(ping_target, ping_tls);
    if (echo_cmd->parsed()) return echo(echo_opts, echo_sink);
    if (bench_cmd->parsed()) return bench(bench_opts, bench_settings);
    if (send_cmd->parsed()) return send(send_opts, send_json);
    if (recv_cmd->parsed()) return recv(recv_opts);
  } catch (const std::exception& e) {
    std::cerr << "mpc-comm: " << e.what() << '\n';
    return is_network_failure(e) ? kNetworkFailure : kBadInput;
  }
  return 0;
}
