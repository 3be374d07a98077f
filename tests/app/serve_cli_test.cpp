// The warmpool binary's serve command, from outside.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

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
  int status = -1;
  const std::string out = run(std::string(WARMPOOL_PATH) + " serve --host 127.0.0.1 --port " + std::to_string(port) +
                                  " --engine unix://" + (dir / "no-engine.sock").string() + " --data-dir " +
                                  dir.string() + " --log-format text",
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
