// TLS settings of a Pool and what the library reads from certificates. OpenSSL stays out of
// this header; see docs/tls.md for making certificates and for how identity works.
#pragma once

#include <chrono>
#include <string>

namespace tno::mpc::communication {

/// Mutual TLS for a pool: the seed's `Pool(key=..., cert=..., ca_cert=...)`. All three are PEM
/// file paths. The pool then serves HTTPS (default port 443) and uses HTTPS to every peer; both
/// sides present their certificate and check the other's against `ca_cert`.
struct TlsConfig {
  /// This party's private key.
  std::string key;
  /// This party's certificate (intermediate certificates may follow it in the file).
  std::string cert;
  /// The certificates of the authorities whose parties are trusted (a bundle).
  std::string ca_cert;
  /// Also check that a peer's certificate names the host (or IP address) it was added with.
  /// Off by default, as in the reference: MPC parties are usually known by certificate, not name.
  bool verify_hostname = false;
};

/// What a certificate says, as far as the pool cares.
struct CertificateInfo {
  /// The key a receiver identifies the holder by: `<value of the issuer's first RDN>:<serial in
  /// decimal>` — the reference's rule, e.g. "ca-intermediate:2" (see docs/tls.md).
  std::string identity;
  /// One-line distinguished names, e.g. "CN=party_0" and "C=NL, O=TNO, CN=ca-nl".
  std::string subject;
  std::string issuer;
  /// The serial number in decimal.
  std::string serial;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  /// Whether the issuer's first RDN is its common name. When it is not, the reference registers
  /// such a peer under its issuer CN but sees it arrive under another key, so it can never be
  /// identified by this certificate; Pool::add_http_client refuses it.
  bool issuer_starts_with_cn = false;
};

/// Reads the first certificate of a PEM file. Throws ConfigurationError naming the file when it
/// is missing, unreadable or not a PEM certificate.
CertificateInfo read_certificate(const std::string& path);

/// A time as "2054-04-11 20:03:07 UTC".
std::string format_utc(std::chrono::system_clock::time_point time);

}  // namespace tno::mpc::communication
