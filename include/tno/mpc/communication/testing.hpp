// Test helpers for users' own tests: N fully connected pools in one process, the counterpart of
// the reference's pytest fixtures http_pool_duo, http_pool_trio and http_pool_group_factory.
//
//   TEST(MyProtocol, SumsInputs) {
//     tno::mpc::communication::testing::PoolGroup group(3);   // local0, local1, local2
//     group[0].send("local1", 5);
//     EXPECT_EQ(group[1].recv<int>("local0"), 5);
//   }                                                        // all shut down here
//
// Servers listen on 127.0.0.1 with ephemeral ports, so tests can run in parallel. Link the
// CMake target TnoMpcCommunication::mpc_comm_testing.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tno/mpc/communication/pool.hpp"

namespace tno::mpc::communication::testing {

/// The name the group gives party `index`: "local0", "local1", ...
inline std::string party_name(std::size_t index) {
  return "local" + std::to_string(index);
}

class PoolGroup {
 public:
  /// Starts `size` pools, each knowing every other one by its party_name().
  explicit PoolGroup(std::size_t size, const PoolConfig& config = {}) {
    for (std::size_t i = 0; i < size; ++i) {
      pools_.push_back(std::make_unique<Pool>(config));
      pools_.back()->add_http_server(0, "127.0.0.1");
    }
    for (std::size_t i = 0; i < size; ++i) {
      for (std::size_t j = 0; j < size; ++j) {
        if (i != j) pools_[i]->add_http_client(party_name(j), "127.0.0.1", pools_[j]->port());
      }
    }
  }
  /// Starts one TLS pool per entry of `tls` (its own key, certificate and CA bundle). With
  /// `certificate_identity`, every pool knows the others by their certificates (the reference's
  /// fixture pool_https_3p_certs_as_id); otherwise by address and port.
  PoolGroup(const std::vector<TlsConfig>& tls, bool certificate_identity, PoolConfig config = {}) {
    for (const auto& party : tls) {
      config.tls = party;
      pools_.push_back(std::make_unique<Pool>(config));
      pools_.back()->add_http_server(0, "127.0.0.1");
    }
    for (std::size_t i = 0; i < tls.size(); ++i) {
      for (std::size_t j = 0; j < tls.size(); ++j) {
        if (i == j) continue;
        std::optional<std::string> cert;
        if (certificate_identity) cert = tls[j].cert;
        pools_[i]->add_http_client(party_name(j), "127.0.0.1", pools_[j]->port(), cert);
      }
    }
  }
  ~PoolGroup() {
    for (auto& p : pools_) p->shutdown(std::chrono::seconds(1));
  }
  PoolGroup(const PoolGroup&) = delete;
  PoolGroup& operator=(const PoolGroup&) = delete;

  Pool& operator[](std::size_t index) { return *pools_.at(index); }
  std::size_t size() const noexcept { return pools_.size(); }

 private:
  std::vector<std::unique_ptr<Pool>> pools_;
};

}  // namespace tno::mpc::communication::testing
