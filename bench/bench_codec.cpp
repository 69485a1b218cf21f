// Codec throughput: pack+unpack of the workloads of the Foundation issue, as bytes/s and as a
// ratio to memcpy of the same number of bytes measured in the same run.
//
//   ./build-bench/bench/bench_codec [--benchmark_filter=...]
//
// Workloads: (a) a list of 1,000 random 2048-bit integers, (b) a 1,000,000-element float64
// vector, (c) 10,000 small dict messages. Each on the typed path (C++ types straight to bytes)
// and, for comparison, the dynamic path (Value trees).
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>
#include <map>
#include <random>

#include "tno/mpc/communication/gmp.hpp"
#include "tno/mpc/communication/message.hpp"

namespace mpc = tno::mpc::communication;

namespace {

std::vector<mpz_class> big_integers() {
  gmp_randclass rng(gmp_randinit_default);
  rng.seed(1);
  std::vector<mpz_class> out;
  for (int i = 0; i < 1000; ++i) {
    mpz_class x = rng.get_z_bits(2048);
    out.push_back(i % 2 ? mpz_class(-x) : x);
  }
  return out;
}

std::vector<double> floats() {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> dist(-1e6, 1e6);
  std::vector<double> out(1'000'000);
  for (auto& d : out) d = dist(rng);
  return out;
}

using SmallDict = std::map<std::string, std::int64_t>;
SmallDict small_dict(int i) {
  return {{"round", i}, {"party", i % 3}, {"share", 1000003 * i}};
}

// Bytes a workload puts on the wire, for the memcpy baselines.
std::size_t encoded_size_big() {
  return mpc::encode(big_integers()).size();
}
std::size_t encoded_size_floats() {
  return mpc::encode(floats()).size();
}
std::size_t encoded_size_dicts() {
  std::size_t n = 0;
  for (int i = 0; i < 10000; ++i) n += mpc::pack_message(small_dict(i), mpc::MessageId(i)).size();
  return n;
}

void memcpy_baseline(benchmark::State& state, std::size_t bytes) {
  std::vector<char> src(bytes, 'x'), dst(bytes);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

template <class T>
void encode_typed(benchmark::State& state, const T& value) {
  mpc::ByteBuffer buf;
  for (auto _ : state) {
    buf.clear();
    mpc::encode(buf, value);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}

template <class T>
void decode_typed(benchmark::State& state, const T& value) {
  mpc::ByteBuffer buf = mpc::encode(value);
  for (auto _ : state) {
    T out = mpc::decode<T>(buf.view());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}

template <class T>
void encode_dynamic(benchmark::State& state, const T& value) {
  mpc::Value v = mpc::decode<mpc::Value>(mpc::encode(value).view());
  mpc::ByteBuffer buf;
  for (auto _ : state) {
    buf.clear();
    mpc::encode(buf, v);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}

template <class T>
void decode_dynamic(benchmark::State& state, const T& value) {
  mpc::ByteBuffer buf = mpc::encode(value);
  for (auto _ : state) {
    auto out = mpc::decode<mpc::Value>(buf.view());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}

void dicts_pack(benchmark::State& state) {
  std::vector<SmallDict> dicts;
  for (int i = 0; i < 10000; ++i) dicts.push_back(small_dict(i));
  std::size_t bytes = 0;
  mpc::ByteBuffer buf;
  for (auto _ : state) {
    bytes = 0;
    for (int i = 0; i < 10000; ++i) {
      buf.clear();
      mpc::pack_message(buf, dicts[static_cast<std::size_t>(i)], mpc::MessageId(i));
      bytes += buf.size();
    }
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void dicts_unpack(benchmark::State& state) {
  std::vector<mpc::ByteBuffer> messages;
  std::size_t bytes = 0;
  for (int i = 0; i < 10000; ++i) {
    messages.push_back(mpc::pack_message(small_dict(i), mpc::MessageId(i)));
    bytes += messages.back().size();
  }
  for (auto _ : state) {
    for (const auto& m : messages) {
      auto out = mpc::unpack_message<SmallDict>(m.view());
      benchmark::DoNotOptimize(out);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// Prints, after the usual table, each benchmark's bytes/s as a fraction of its workload's memcpy.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      auto it = run.counters.find("bytes_per_second");
      if (it != run.counters.end()) rates_.emplace_back(run.benchmark_name(), it->second.value);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::cout
        << "\nthroughput as a fraction of memcpy of the same bytes (goal for a and b: >= 0.10)\n";
    for (const auto& [name, rate] : rates_) {
      if (name.rfind("memcpy", 0) == 0) continue;
      std::string workload = name.substr(0, name.find('/'));
      for (const auto& [base_name, base_rate] : rates_) {
        if (base_name == "memcpy/" + workload) {
          std::printf("  %-28s %9.1f MB/s   %.3f x memcpy\n", name.c_str(), rate / 1e6,
                      rate / base_rate);
        }
      }
    }
  }

 private:
  std::vector<std::pair<std::string, double>> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  static const auto ints = big_integers();
  static const auto vec = floats();
  benchmark::RegisterBenchmark("memcpy/a_bigints", memcpy_baseline, encoded_size_big());
  benchmark::RegisterBenchmark("a_bigints/encode_typed", encode_typed<std::vector<mpz_class>>,
                               ints);
  benchmark::RegisterBenchmark("a_bigints/decode_typed", decode_typed<std::vector<mpz_class>>,
                               ints);
  benchmark::RegisterBenchmark("a_bigints/encode_value", encode_dynamic<std::vector<mpz_class>>,
                               ints);
  benchmark::RegisterBenchmark("a_bigints/decode_value", decode_dynamic<std::vector<mpz_class>>,
                               ints);
  benchmark::RegisterBenchmark("memcpy/b_floats", memcpy_baseline, encoded_size_floats());
  benchmark::RegisterBenchmark("b_floats/encode_typed", encode_typed<std::vector<double>>, vec);
  benchmark::RegisterBenchmark("b_floats/decode_typed", decode_typed<std::vector<double>>, vec);
  benchmark::RegisterBenchmark("b_floats/encode_value", encode_dynamic<std::vector<double>>, vec);
  benchmark::RegisterBenchmark("b_floats/decode_value", decode_dynamic<std::vector<double>>, vec);
  benchmark::RegisterBenchmark("memcpy/c_dicts", memcpy_baseline, encoded_size_dicts());
  benchmark::RegisterBenchmark("c_dicts/pack_typed", dicts_pack);
  benchmark::RegisterBenchmark("c_dicts/unpack_typed", dicts_unpack);
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
