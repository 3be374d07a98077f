#include "engine/endpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace warmpool::engine {
namespace {

constexpr std::string_view kUnix = "unix://";
constexpr std::string_view kTcp = "tcp://";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

[[noreturn]] void refuse(std::string_view text, const std::string& why) {
  throw std::invalid_argument("engine endpoint \"" + std::string(text) + "\": " + why);
}

// Splits "host", "host:port", "[v6]" or "[v6]:port"; port 0 when absent.
void split_host_port(std::string_view text, std::string_view host_port, EngineEndpoint& out) {
  std::string_view port_text;
  bool has_port = false;
  if (host_port.front() == '[') {
    const auto close = host_port.find(']');
    if (close == std::string_view::npos) refuse(text, "an IPv6 address needs its closing ]");
    out.host = std::string(host_port.substr(0, close + 1));
    const std::string_view rest = host_port.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') refuse(text, "expected :port after ]");
    has_port = !rest.empty();
    if (has_port) port_text = rest.substr(1);
  } else {
    const auto colon = host_port.find(':');
    out.host = std::string(host_port.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port_text = host_port.substr(colon + 1);
  }
  if (out.host.empty() || out.host == "[]") refuse(text, "expected tcp://host:port, the host is missing");
  if (!has_port) return;
  int port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
    refuse(text, "the port must be a number from 1 to 65535, not \"" + std::string(port_text) + "\"");
  out.port = port;
}

}  // namespace

TlsFiles TlsFiles::in_directory(const std::string& dir) {
  std::string base = dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return {base + "/ca.pem", base + "/cert.pem", base + "/key.pem"};
}

std::string EngineEndpoint::text() const {
  if (scheme == Scheme::Unix) return std::string(kUnix) + socket_path;
  return std::string(kTcp) + host + ":" + std::to_string(port);
}

std::string EngineEndpoint::base_url() const {
  if (scheme == Scheme::Unix) return "http://localhost";
  return (uses_tls() ? "https://" : "http://") + host + ":" + std::to_string(port);
}

EngineEndpoint parse_engine_endpoint(std::string_view text, const TlsFiles& tls) {
  EngineEndpoint out;
  if (starts_with(text, kUnix)) {
    out.scheme = EngineEndpoint::Scheme::Unix;
    out.socket_path = std::string(text.substr(kUnix.size()));
    if (out.socket_path.empty() || out.socket_path.front() != '/')
      refuse(text, "expected unix:///absolute/path/to/socket");
    if (!tls.empty()) refuse(text, "TLS files are for tcp:// endpoints; a unix socket needs none");
    return out;
  }
  if (!starts_with(text, kTcp)) refuse(text, "expected unix:///path/to/socket or tcp://host:port");
  out.scheme = EngineEndpoint::Scheme::Tcp;
  std::string_view host_port = text.substr(kTcp.size());
  while (!host_port.empty() && host_port.back() == '/') host_port.remove_suffix(1);
  if (host_port.empty()) refuse(text, "expected tcp://host:port, the host is missing");
  if (host_port.find('/') != std::string_view::npos) refuse(text, "expected tcp://host:port, without a path");
  split_host_port(text, host_port, out);
  if (tls.cert.empty() != tls.key.empty())
    refuse(text, tls.cert.empty() ? "a client key needs its certificate" : "a client certificate needs its key");
  out.tls = tls;
  if (out.port == 0) out.port = out.uses_tls() ? 2376 : 2375;  // the engine's customary ports
  return out;
}

std::string tls_file_problem(const TlsFiles& tls) {
  for (const auto& [what, path] : {std::pair<const char*, const std::string&>{"CA file", tls.ca},
                                   {"client certificate", tls.cert},
                                   {"client key", tls.key}}) {
    if (path.empty()) continue;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string(what) + " " + path + ": " + std::strerror(errno);
    struct stat st {};
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    ::close(fd);
    if (!regular) return std::string(what) + " " + path + ": not a regular file";
  }
  return {};
}

}  // namespace warmpool::engine
