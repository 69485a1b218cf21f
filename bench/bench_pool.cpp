// Round trip of one bytes message between two pools on loopback (send, the peer echoes it back,
// one in flight), against a raw TCP ping-pong of the same payload measured in the same run.
//
//   ./build-bench/bench/bench_pool
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <map>
#include <thread>

#include "tno/mpc/communication/testing.hpp"

namespace mpc = tno::mpc::communication;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::map<std::string, double> seconds_per_round_trip;

void raw_tcp_ping_pong(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  std::thread echo([&] {
    tcp::socket s = acceptor.accept();
    s.set_option(tcp::no_delay(true));
    std::vector<char> buf(size);
    boost::system::error_code ec;
    while (!ec) {
      asio::read(s, asio::buffer(buf), ec);
      if (!ec) asio::write(s, asio::buffer(buf), ec);
    }
  });
  tcp::socket client(ioc);
  client.connect(acceptor.local_endpoint());
  client.set_option(tcp::no_delay(true));
  std::vector<char> out(size, 'x'), in(size);
  for (auto _ : state) {
    asio::write(client, asio::buffer(out));
    asio::read(client, asio::buffer(in));
  }
  client.close();
  echo.join();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * 2));
}

void pool_round_trip(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  mpc::set_log_level("off");
  mpc::testing::PoolGroup pools(2);
  std::thread echo([&] {
    for (;;) {
      auto message = pools[1].recv<mpc::Bytes>("local0");
      if (message.empty()) break;
      pools[1].send("local0", message);
    }
  });
  mpc::Bytes payload(size, std::byte{'x'});
  for (auto _ : state) {
    pools[0].send("local1", payload);
    benchmark::DoNotOptimize(pools[0].recv<mpc::Bytes>("local1"));
  }
  pools[0].send("local1", mpc::Bytes{});  // stops the echo
  echo.join();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * 2));
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      seconds_per_round_trip[run.benchmark_name()] =
          run.GetAdjustedRealTime() / 1e9 * (run.time_unit == benchmark::kMicrosecond ? 1e3 : 1);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nround trip, pool / raw TCP of the same payload (goal: <= 1.5)\n");
    for (const auto& [name, t] : seconds_per_round_trip) {
      if (name.rfind("pool_round_trip/", 0) != 0) continue;
      auto rest = name.substr(name.find('/') + 1);  // "<size>/real_time"
      auto size = rest.substr(0, rest.find('/'));
      auto base = seconds_per_round_trip.find("raw_tcp_ping_pong/" + rest);
      if (base == seconds_per_round_trip.end()) continue;
      std::printf("  %8s B: pool %9.1f us, raw TCP %8.1f us, ratio %.2f\n", size.c_str(), t * 1e6,
                  base->second * 1e6, t / base->second);
    }
  }
};

}  // namespace

BENCHMARK(raw_tcp_ping_pong)->Arg(64)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(pool_round_trip)->Arg(64)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
