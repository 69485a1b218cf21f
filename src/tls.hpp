// The TLS part of the transport (internal), the only code that calls OpenSSL: contexts made from
// a TlsConfig, the client side of a handshake (SNI, host name check, session resumption),
// identities read from certificates, and failures explained in words an operator can act on.
// Only the transport (net/, ping.cpp) includes this header; it brings in Asio's SSL context.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <optional>
#include <string>

#include "tno/mpc/communication/tls.hpp"

namespace tno::mpc::communication::detail {

/// One OpenSSL context for both roles of a pool: server and client to every peer. Mutual TLS,
/// TLS 1.2 at least (1.3 preferred by OpenSSL), peers verified against the CA bundle. Throws
/// ConfigurationError naming the file for a missing or unreadable file, a key that does not
/// belong to the certificate, an expired or not yet valid own certificate, or an empty bundle.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const TlsConfig& config);

/// What a certificate says (see CertificateInfo).
CertificateInfo describe_certificate(const X509* cert);

/// The identity key of the peer on a connection whose handshake completed:
/// "<issuer's first RDN value>:<serial>", or empty when the peer sent no certificate.
std::string peer_identity(SSL* ssl);

/// What the server's certificate says on a client connection whose handshake completed.
std::optional<CertificateInfo> peer_certificate(SSL* ssl);

/// The protocol a connection negotiated, e.g. "TLSv1.3".
std::string protocol_version(SSL* ssl);

/// The last resumable session with one peer (client side), offered on its next connection so
/// that it resumes with an abbreviated handshake.
class SessionCache {
 public:
  SSL_SESSION* get() const noexcept { return session_.get(); }
  /// Keeps the session of a new connection once an answer has been read on it: a TLS 1.3 server
  /// sends its session tickets after the handshake.
  void remember(SSL* ssl);

 private:
  struct Free {
    void operator()(SSL_SESSION* session) const;
  };
  std::unique_ptr<SSL_SESSION, Free> session_;
};

/// Prepares the client side of a handshake with `host` (an IP address or a host name): SNI for
/// host names, OpenSSL's own host name (or IP address) check with `verify_hostname`, and the
/// resumption of `resume` when it holds a session.
void prepare_client(SSL* ssl, const std::string& host, bool verify_hostname,
                    const SessionCache* resume);

/// Whether a client connection resumed a session instead of a full handshake.
bool session_resumed(SSL* ssl);

/// Limits a connection to TLS 1.2, where a server's refusal of a client certificate is part of
/// the handshake (see the client's refusal probe).
void limit_to_tls12(SSL* ssl);

/// Whether an error ended a TLS handshake or record in a way that retrying cannot change
/// (certificates, protocol mismatch), as opposed to a connection that merely broke.
bool is_final_tls_failure(const boost::system::error_code& ec);

/// Whether the peer's alert says it refused our certificate (unknown CA, bad, expired, ...).
bool is_certificate_refusal(const boost::system::error_code& ec);

/// Why a TLS connection to a peer failed, in words an operator can act on; `ssl` (may be null)
/// gives the certificate verification result.
std::string explain_tls_failure(const boost::system::error_code& ec, SSL* ssl);

}  // namespace tno::mpc::communication::detail
