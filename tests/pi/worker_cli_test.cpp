// The pi-worker binary itself: the digits command and serve's shutdown.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Runs a shell command; returns its stdout and sets *status to its exit code.
std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int raw = pclose(p);
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("pi-worker digits prints the truncated digits", "[worker][cli]") {
  int status = -1;
  CHECK(run(std::string(PI_WORKER_PATH) + " digits 50 --threads 2", &status) ==
        "3.14159265358979323846264338327950288419716939937510\n");
  CHECK(status == 0);
  CHECK(run(std::string(PI_WORKER_PATH) + " digits 0 2>/dev/null", &status).empty());
  CHECK(status == 2);
  CHECK(run(std::string(PI_WORKER_PATH) + " digits 11 --max-digits 10 2>/dev/null", &status).empty());
  CHECK(status == 2);
}

TEST_CASE("pi-worker serve stops on SIGTERM with exit status 0, even while computing", "[worker][cli]") {
  const int port = free_port();
  const auto scratch = std::filesystem::temp_directory_path() / ("pi-worker-cli-" + std::to_string(getpid()));
  std::filesystem::create_directories(scratch);
  const std::string port_text = std::to_string(port);
  pid_t pid = fork();
  if (pid == 0) {
    execl(PI_WORKER_PATH, PI_WORKER_PATH, "serve", "--port", port_text.c_str(), "--scratch", scratch.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(pid > 0);
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(0, 200'000);
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    auto res = client.Get("/ping");
    up = res && res->status == 200;
    if (!up) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(up);
  auto started = client.Post("/compute", R"({"digits": 10000000})", "application/json");
  REQUIRE(started);
  CHECK(started->status == 202);
  std::this_thread::sleep_for(200ms);

  kill(pid, SIGTERM);
  int status = 0;
  pid_t done = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  if (done == 0) kill(pid, SIGKILL);
  REQUIRE(done == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::filesystem::remove_all(scratch);
}
