// The TLS part of the transport (internal): contexts made from a TlsConfig, identities read from
// certificates, and failures explained in words an operator can act on. Only the transport
// (pool.cpp) and tls.cpp include this header; it brings in Asio's SSL context.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "tno/mpc/communication/tls.hpp"

namespace tno::mpc::communication::detail {

/// One OpenSSL context for both roles of a pool: server and client to every peer. Mutual TLS,
/// TLS 1.2 at least (1.3 preferred by OpenSSL), peers verified against the CA bundle. Throws
/// ConfigurationError naming the file for a missing or unreadable file, a key that does not
/// belong to the certificate, an expired or not yet valid own certificate, or an empty bundle.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const TlsConfig& config);

/// What a certificate says (see CertificateInfo); `cert` is an OpenSSL X509*.
CertificateInfo describe_certificate(const void* cert);

/// The identity key of the peer on a connection whose handshake completed (`ssl` is its SSL*):
/// "<issuer's first RDN value>:<serial>", or empty when the peer sent no certificate.
std::string peer_identity(void* ssl);

/// Whether an error ended a TLS handshake or record in a way that retrying cannot change
/// (certificates, protocol mismatch), as opposed to a connection that merely broke.
bool is_final_tls_failure(const boost::system::error_code& ec);

/// Whether the peer's alert says it refused our certificate (unknown CA, bad, expired, ...).
bool is_certificate_refusal(const boost::system::error_code& ec);

/// Why a TLS connection to a peer failed, in words an operator can act on; `ssl` (SSL*, may be
/// null) gives the certificate verification result.
std::string explain_tls_failure(const boost::system::error_code& ec, void* ssl);

}  // namespace tno::mpc::communication::detail
