#include "tls.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct OpenSslString {
  void operator()(char* s) const { OPENSSL_free(s); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Opens a file named in a TlsConfig, or says which file could not be read and why.
FilePtr open_file(const std::string& path, const char* what) {
  if (path.empty()) throw ConfigurationError(std::string("no ") + what + " file given");
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    throw ConfigurationError(std::string("cannot read the ") + what + " file '" + path +
                             "': " + std::strerror(errno));
  }
  return f;
}

// The reason of the newest OpenSSL error, and an empty error queue.
std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "no details from OpenSSL";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
}

X509Ptr read_pem_certificate(const std::string& path) {
  FilePtr f = open_file(path, "TLS certificate");
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    throw ConfigurationError("the file '" + path + "' holds no PEM certificate (" +
                             openssl_reason() + ")");
  }
  return cert;
}

std::string utf8(const ASN1_STRING* text) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, text);
  if (n < 0) return "";
  std::string s(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return s;
}

// "C=NL, O=TNO, CN=ca-nl": RDNs in the order of the certificate (the reference's order).
std::string one_line(const X509_NAME* name) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(
      bio.get(), name, 0,
      (XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | ASN1_STRFLGS_RFC2253) & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::string format_utc(std::chrono::system_clock::time_point time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

CertificateInfo read_certificate(const std::string& path) {
  X509Ptr cert = read_pem_certificate(path);
  return detail::describe_certificate(cert.get());
}

namespace detail {

namespace {
// The serial number in decimal, the identity key and whether the issuer starts with CN: what a
// server needs of every client certificate (the rest of CertificateInfo is for people).
void identify(const X509* cert, CertificateInfo& info) {
  std::unique_ptr<BIGNUM, BnFree> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial) {
    std::unique_ptr<char, OpenSslString> dec(BN_bn2dec(serial.get()));
    if (dec) info.serial = dec.get();
  }
  // The reference's receiver takes the value of the issuer's first RDN, whatever its type.
  const X509_NAME* issuer = X509_get_issuer_name(cert);
  std::string first_rdn;
  if (X509_NAME_entry_count(issuer) > 0) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(issuer, 0);
    first_rdn = utf8(X509_NAME_ENTRY_get_data(entry));
    info.issuer_starts_with_cn = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry)) == NID_commonName;
  }
  info.identity = first_rdn + ":" + info.serial;
}
}  // namespace

CertificateInfo describe_certificate(const X509* cert) {
  CertificateInfo info;
  identify(cert, info);
  info.subject = one_line(X509_get_subject_name(cert));
  info.issuer = one_line(X509_get_issuer_name(cert));
  info.not_before = to_time_point(X509_get0_notBefore(cert));
  info.not_after = to_time_point(X509_get0_notAfter(cert));
  return info;
}

std::unique_ptr<boost::asio::ssl::context> make_tls_context(const TlsConfig& config) {
  namespace ssl = boost::asio::ssl;
  // Read and check the files ourselves first, so that every failure names its file.
  X509Ptr cert = read_pem_certificate(config.cert);
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  {
    FilePtr f = open_file(config.key, "TLS key");
    key.reset(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
    if (!key) {
      throw ConfigurationError("the file '" + config.key +
                               "' holds no unencrypted PEM private key (" + openssl_reason() + ")");
    }
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    throw ConfigurationError("the key in '" + config.key +
                             "' does not belong to the certificate in '" + config.cert + "'");
  }
  CertificateInfo own = describe_certificate(cert.get());
  auto now = std::chrono::system_clock::now();
  if (own.not_after < now) {
    throw ConfigurationError("the certificate in '" + config.cert + "' expired on " +
                             format_utc(own.not_after) +
                             "; peers would refuse it: renew it (docs/tls.md)");
  }
  if (own.not_before > now) {
    throw ConfigurationError("the certificate in '" + config.cert + "' is not valid before " +
                             format_utc(own.not_before) + "; peers would refuse it until then");
  }
  open_file(config.ca_cert, "CA bundle");  // a clear message for a missing bundle

  auto ctx = std::make_unique<ssl::context>(ssl::context::tls);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  boost::system::error_code ec;
  // The chain file: the certificate and any intermediates that follow it.
  ctx->use_certificate_chain_file(config.cert, ec);
  if (ec) {
    throw ConfigurationError("cannot use the certificate chain in '" + config.cert +
                             "': " + ec.message());
  }
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1) {
    throw ConfigurationError("cannot use the key in '" + config.key + "': " + openssl_reason());
  }
  ctx->load_verify_file(config.ca_cert, ec);
  if (ec) {
    throw ConfigurationError("the CA bundle '" + config.ca_cert +
                             "' holds no usable PEM certificate: " + ec.message());
  }
  // Mutual TLS: a server asks for, and requires, the client's certificate.
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // Sessions resumed with a verified client certificate need a context id (else OpenSSL refuses
  // to resume them), and tickets let a reconnecting peer skip the full handshake.
  static constexpr unsigned char kSessionContext[] = "tno.mpc.communication";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

std::string peer_identity(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "";
  CertificateInfo info;
  identify(cert, info);
  return info.identity;
}

std::optional<CertificateInfo> peer_certificate(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return std::nullopt;
  return describe_certificate(cert);
}

std::string protocol_version(SSL* ssl) {
  return SSL_get_version(ssl);
}

void SessionCache::Free::operator()(SSL_SESSION* session) const {
  SSL_SESSION_free(session);
}

void SessionCache::remember(SSL* ssl) {
  if (SSL_session_reused(ssl) == 1 && session_) return;
  SSL_SESSION* session = SSL_get1_session(ssl);
  if (session != nullptr && SSL_SESSION_is_resumable(session) == 1) {
    session_.reset(session);
  } else if (session != nullptr) {
    SSL_SESSION_free(session);
  }
}

void prepare_client(SSL* ssl, const std::string& host, bool verify_hostname,
                    const SessionCache* resume) {
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(host, not_ip);
  const bool ip = !not_ip;
  if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (verify_hostname) {
    // OpenSSL's own check, so that a mismatch is reported as the verification result.
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
      SSL_set1_host(ssl, host.c_str());
    }
  }
  if (resume != nullptr && resume->get() != nullptr) SSL_set_session(ssl, resume->get());
}

bool session_resumed(SSL* ssl) {
  return SSL_session_reused(ssl) == 1;
}

void limit_to_tls12(SSL* ssl) {
  SSL_set_max_proto_version(ssl, TLS1_2_VERSION);
}

namespace {
int reason_of(const boost::system::error_code& ec) {
  return ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
}
bool is_plaintext_reason(int reason) {
  return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
         reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_UNKNOWN_PROTOCOL ||
         reason == SSL_R_RECORD_LENGTH_MISMATCH;
}
bool is_refused_certificate_reason(int reason) {
  return reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
         reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
         reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
         reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
         reason == SSL_R_TLSV1_ALERT_ACCESS_DENIED;
}
}  // namespace

bool is_certificate_refusal(const boost::system::error_code& ec) {
  return ec.category() == boost::asio::error::get_ssl_category() &&
         is_refused_certificate_reason(reason_of(ec));
}

bool is_final_tls_failure(const boost::system::error_code& ec) {
  // Errors of the SSL category come from OpenSSL: certificates and protocol. A connection that
  // merely broke (reset, EOF, stream_truncated) is in other categories and worth retrying.
  return ec.category() == boost::asio::error::get_ssl_category();
}

std::string explain_tls_failure(const boost::system::error_code& ec, SSL* ssl) {
  if (ssl != nullptr) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return std::string("its certificate is not trusted: ") +
             X509_verify_cert_error_string(verify) +
             " (checked against our CA bundle; is it issued by a CA in the bundle, and valid?)";
    }
  }
  int reason = reason_of(ec);
  if (is_plaintext_reason(reason)) {
    return "it does not speak TLS (" + ec.message() +
           "): is it a party without key, certificate and CA, serving plain HTTP?";
  }
  if (is_refused_certificate_reason(reason)) {
    return "it refused our certificate (" + ec.message() +
           "): is our certificate issued by a CA in its bundle, and valid?";
  }
  return "TLS failed: " + ec.message();
}

}  // namespace detail
}  // namespace tno::mpc::communication
