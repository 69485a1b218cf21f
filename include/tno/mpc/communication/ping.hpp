// The liveness check of a party's server, as `mpc-comm ping` runs it: a GET that a live party
// answers 200 "Connection working (GET)", over TLS when given a TlsConfig (the certificate checks
// of a pool apply, so a deployment's certificates can be tried before a run).
//
//   PingResult r = ping("10.0.0.2", 61002);
//   if (r.status == 200) std::cout << "up, " << r.round_trip.count() << " us\n";
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "tno/mpc/communication/tls.hpp"

namespace tno::mpc::communication {

/// What `ping` found at a party's server.
struct PingResult {
  int status = 0;    // the HTTP status of the answer to GET (200 from a live party)
  std::string body;  // "Connection working (GET)" from a live party
  std::chrono::microseconds round_trip{0};          // connect, handshake, GET and answer
  std::string tls_version;                          // "TLSv1.3"; empty without TLS
  std::optional<CertificateInfo> peer_certificate;  // the server's certificate, with TLS
};

/// GET on HOST:PORT, over TLS with `tls`; returns once answered, or throws DeliveryError when the
/// server cannot be reached within `timeout` or the TLS handshake fails (naming why), and
/// ConfigurationError when `tls` names unusable files.
PingResult ping(const std::string& host, std::uint16_t port,
                const std::optional<TlsConfig>& tls = std::nullopt,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace tno::mpc::communication
