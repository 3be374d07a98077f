// The warmpool binary's serve command, from outside.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/fake_docker_server.hpp"

namespace {

// Runs a shell command; returns its stdout and stderr and sets *status to its exit code.
std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int raw = pclose(p);
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

// A listening loopback socket that never accepts: connections complete in
// its backlog and then hear nothing. Returns the fd; *port gets its port.
int silent_listener(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A data directory of its own, removed at the end.
struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("warmpool-serve-" + std::to_string(::getpid()) + "-" + std::to_string(++count));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  static inline int count = 0;
};

// `warmpool serve` on a port nobody uses, with `engine_args`; its output.
std::string serve_with(const std::string& engine_args, const TempDir& dir, int* status) {
  return run(std::string(WARMPOOL_PATH) + " serve --host 127.0.0.1 --port 17001 --data-dir " +
                 (dir.path / "data").string() + " --log-format text " + engine_args,
             status);
}

}  // namespace

TEST_CASE("serve on a port that is taken exits 1 at once, says why, and starts nothing") {
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(holder, 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  const auto dir = std::filesystem::temp_directory_path() / ("warmpool-serve-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  warmpool::test::FakeDockerServer engine;
  int status = -1;
  const std::string out = run(std::string(WARMPOOL_PATH) + " serve --host 127.0.0.1 --port " + std::to_string(port) +
                                  " --engine " + engine.endpoint() + " --data-dir " + dir.string() +
                                  " --log-format text",
                              &status);
  ::close(holder);
  std::filesystem::remove_all(dir);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use") !=
        std::string::npos);
  CHECK(out.find("listening on") == std::string::npos);
  CHECK(out.find("scheduler") == std::string::npos);  // it never started
}

TEST_CASE("serve refuses an engine endpoint that is neither unix:// nor tcp://, saying so") {
  TempDir dir;
  int status = -1;
  const std::string out = serve_with("--engine ssh://engine.example", dir, &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: engine endpoint \"ssh://engine.example\": expected unix:///path/to/socket or "
                 "tcp://host:port") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path / "data"));  // nothing was made
}

TEST_CASE("serve refuses a TLS file it cannot read, naming it") {
  TempDir dir;
  std::ofstream(dir.path / "ca.pem") << "PEM\n";
  std::ofstream(dir.path / "cert.pem") << "PEM\n";
  int status = -1;
  const std::string out = serve_with("--engine tcp://127.0.0.1:17376 --engine-cert-dir " + dir.path.string(), dir,
                                     &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: engine tcp://127.0.0.1:17376: cannot read TLS client key " +
                 (dir.path / "key.pem").string() + ": No such file or directory") != std::string::npos);
  CHECK(out.find("listening on") == std::string::npos);
}

TEST_CASE("serve refuses an engine that does not answer within --engine-timeout-ms") {
  TempDir dir;
  int port = 0;
  const int silent = silent_listener(&port);
  int status = -1;
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  const std::string out = serve_with("--engine " + endpoint + " --engine-timeout-ms 500", dir, &status);
  ::close(silent);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: version: no answer from the engine at " + endpoint + " within 500 ms") !=
        std::string::npos);
  CHECK(out.find("listening on") == std::string::npos);
}

TEST_CASE("serve refuses an engine socket where no engine listens") {
  TempDir dir;
  int status = -1;
  const std::string socket = (dir.path / "no-engine.sock").string();
  const std::string out = serve_with("--engine unix://" + socket, dir, &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: version: engine unreachable at unix://" + socket +
                 ": No such file or directory") != std::string::npos);
}

TEST_CASE("serve refuses two engines of one name, a bad engine option, and names the engine that does not answer") {
  TempDir dir;
  int status = -1;
  std::string out = serve_with("--engine a=unix:///x.sock --engine a=unix:///y.sock", dir, &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: --engine: two engines are named \"a\"") != std::string::npos);
  out = serve_with("--engine a=unix:///x.sock,capacity=lots", dir, &status);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: --engine \"a=unix:///x.sock,capacity=lots\": capacity must be") != std::string::npos);
  out = serve_with("--engine a=ftp://x", dir, &status);
  CHECK(status == 1);
  CHECK(out.find("expected unix:///path/to/socket or tcp://host:port") != std::string::npos);
  const std::string socket = (dir.path / "b.sock").string();
  out = serve_with("--engine a=unix://" + (dir.path / "a.sock").string() + " --engine b=unix://" + socket, dir, &status);
  CHECK(status == 1);
  CHECK(out.find("refusing to start: engine a: version: engine unreachable") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path / "data"));
}
