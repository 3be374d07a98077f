// Where a Docker engine listens and how to reach it: a unix socket, or a TCP
// address, plain or with TLS. One engine's connection settings in one value,
// so that an engine can later be a record among several.
//
// parse_engine_endpoint is pure: it looks at text only, never at files or the
// network. Whether the TLS files can be read is tls_file_problem's question,
// asked once at start.
#pragma once

#include <string>
#include <string_view>

namespace warmpool::engine {

// PEM files for TLS. A CA alone verifies the engine; the engine may also ask
// for our certificate, which is cert and key together.
struct TlsFiles {
  std::string ca;
  std::string cert;
  std::string key;

  bool empty() const { return ca.empty() && cert.empty() && key.empty(); }
  // Docker's layout in one directory: ca.pem, cert.pem and key.pem.
  static TlsFiles in_directory(const std::string& dir);
};

struct EngineEndpoint {
  enum class Scheme { Unix, Tcp };

  Scheme scheme = Scheme::Unix;
  std::string socket_path;  // Unix: an absolute path
  std::string host;         // Tcp: a name, an IPv4 address or [an IPv6 address]
  int port = 0;             // Tcp
  TlsFiles tls;             // Tcp only; any file set means TLS

  bool uses_tls() const { return scheme == Scheme::Tcp && !tls.empty(); }
  // "unix:///run/docker.sock" or "tcp://127.0.0.1:2376": as a user wrote it,
  // for messages.
  std::string text() const;
  // The URL prefix of every request: "http://localhost" for a socket,
  // "http://host:port" or "https://host:port".
  std::string base_url() const;
};

// Parses "unix:///absolute/path" or "tcp://host[:port]" with the TLS files
// that go with it. A tcp:// endpoint without a port gets the engine's usual
// one: 2376 with TLS, 2375 without.
// Throws std::invalid_argument naming the endpoint and what is wrong: another
// scheme, a relative socket path, a missing host, a port outside 1-65535,
// TLS files for a unix socket, or a certificate without its key (or the
// reverse).
EngineEndpoint parse_engine_endpoint(std::string_view text, const TlsFiles& tls = {});

// "" when every TLS file that is set can be opened for reading; else the
// first that cannot, as "<what> <path>: <why>", e.g.
// "CA file /etc/certs/ca.pem: No such file or directory".
std::string tls_file_problem(const TlsFiles& tls);

}  // namespace warmpool::engine
