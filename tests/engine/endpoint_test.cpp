// Engine endpoints parsed from text (unix:// or tcp://, with TLS files), and
// the TLS files checked at start.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/endpoint.hpp"

using warmpool::engine::EngineEndpoint;
using warmpool::engine::parse_engine_endpoint;
using warmpool::engine::tls_file_problem;
using warmpool::engine::TlsFiles;
using Scheme = EngineEndpoint::Scheme;

namespace {
const TlsFiles kClientTls{"/certs/ca.pem", "/certs/cert.pem", "/certs/key.pem"};
}

TEST_CASE("a unix endpoint is an absolute socket path, spoken to as http://localhost") {
  const EngineEndpoint e = parse_engine_endpoint("unix:///var/run/docker.sock");
  CHECK(e.scheme == Scheme::Unix);
  CHECK(e.socket_path == "/var/run/docker.sock");
  CHECK_FALSE(e.uses_tls());
  CHECK(e.base_url() == "http://localhost");
  CHECK(e.text() == "unix:///var/run/docker.sock");
}

TEST_CASE("a tcp endpoint is plain without TLS files and https with them") {
  const EngineEndpoint plain = parse_engine_endpoint("tcp://127.0.0.1:2375");
  CHECK(plain.scheme == Scheme::Tcp);
  CHECK(plain.host == "127.0.0.1");
  CHECK(plain.port == 2375);
  CHECK(plain.base_url() == "http://127.0.0.1:2375");

  const EngineEndpoint tls = parse_engine_endpoint("tcp://engine.example:17376/", kClientTls);
  CHECK(tls.uses_tls());
  CHECK(tls.base_url() == "https://engine.example:17376");
  CHECK(tls.tls.ca == "/certs/ca.pem");
  CHECK(tls.tls.cert == "/certs/cert.pem");
  CHECK(tls.tls.key == "/certs/key.pem");
  CHECK(tls.text() == "tcp://engine.example:17376");

  // A CA alone verifies the engine without showing a certificate of ours.
  CHECK(parse_engine_endpoint("tcp://h:1", TlsFiles{"/ca.pem", "", ""}).uses_tls());
}

TEST_CASE("a tcp endpoint without a port gets the engine's usual one") {
  CHECK(parse_engine_endpoint("tcp://10.0.0.1").port == 2375);
  CHECK(parse_engine_endpoint("tcp://10.0.0.1", kClientTls).port == 2376);
  const EngineEndpoint v6 = parse_engine_endpoint("tcp://[::1]:17376", kClientTls);
  CHECK(v6.host == "[::1]");
  CHECK(v6.port == 17376);
  CHECK(v6.base_url() == "https://[::1]:17376");
  CHECK(parse_engine_endpoint("tcp://[::1]").port == 2375);
}

TEST_CASE("TLS files come from one directory in Docker's layout") {
  const TlsFiles files = TlsFiles::in_directory("/etc/warmpool/engine-certs/");
  CHECK(files.ca == "/etc/warmpool/engine-certs/ca.pem");
  CHECK(files.cert == "/etc/warmpool/engine-certs/cert.pem");
  CHECK(files.key == "/etc/warmpool/engine-certs/key.pem");
}

TEST_CASE("endpoints that cannot work are refused with the endpoint and the reason") {
  const auto refused = [](const std::string& text, const TlsFiles& tls, const std::string& why) {
    INFO(text);
    CHECK_THROWS_WITH(parse_engine_endpoint(text, tls),
                      Catch::StartsWith("engine endpoint \"" + text + "\": ") && Catch::Contains(why));
  };
  refused("ssh://user@host", {}, "expected unix:///path/to/socket or tcp://host:port");
  refused("https://127.0.0.1:2376", {}, "expected unix:///path/to/socket or tcp://host:port");
  refused("/var/run/docker.sock", {}, "expected unix:///path/to/socket or tcp://host:port");
  refused("unix://docker.sock", {}, "expected unix:///absolute/path");
  refused("unix://", {}, "expected unix:///absolute/path");
  refused("unix:///var/run/docker.sock", kClientTls, "TLS files are for tcp:// endpoints");
  refused("tcp://", {}, "the host is missing");
  refused("tcp://:2376", {}, "the host is missing");
  refused("tcp://host:0", {}, "the port must be a number from 1 to 65535, not \"0\"");
  refused("tcp://host:65536", {}, "not \"65536\"");
  refused("tcp://host:23x", {}, "not \"23x\"");
  refused("tcp://host:", {}, "not \"\"");
  refused("tcp://host:2376/v1.41", {}, "without a path");
  refused("tcp://[::1", {}, "closing ]");
  refused("tcp://host:1", TlsFiles{"/ca.pem", "/cert.pem", ""}, "a client certificate needs its key");
  refused("tcp://host:1", TlsFiles{"/ca.pem", "", "/key.pem"}, "a client key needs its certificate");
}

TEST_CASE("TLS files that cannot be read are named with the reason") {
  const auto dir = std::filesystem::temp_directory_path() / ("warmpool-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* name : {"ca.pem", "cert.pem"}) std::ofstream(dir / name) << "PEM\n";
  TlsFiles files = TlsFiles::in_directory(dir.string());

  CHECK(tls_file_problem(TlsFiles{}).empty());
  CHECK(tls_file_problem(TlsFiles{files.ca, files.cert, ""}).empty());
  CHECK(tls_file_problem(files) == "client key " + files.key + ": No such file or directory");
  files.key = dir.string();
  CHECK(tls_file_problem(files) == "client key " + dir.string() + ": not a regular file");
  files.ca = (dir / "gone.pem").string();
  CHECK(tls_file_problem(files) == "CA file " + files.ca + ": No such file or directory");
  std::filesystem::remove_all(dir);
}
