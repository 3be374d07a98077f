// `warmpool serve` against a second private dockerd that listens on a loopback
// TCP port with --tlsverify (scripts/engine-tls): with the client certificate
// it hands instances out from that engine; without one, or trusting another
// CA, it stops at start with the reason, within its deadline.
//
// Ports (17000-17999 are this test's): the TLS engine 17376, the managers'
// API 17010, their instances 17400-17419.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "engine/docker_engine.hpp"
#include "load/manager_process.hpp"
#include "support/engine_env.hpp"

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using warmpool::engine::DockerEngine;

namespace {

constexpr int kEnginePort = 17376;
constexpr int kApiPort = 17010;
const std::string kEndpoint = "tcp://127.0.0.1:" + std::to_string(kEnginePort);

// Runs scripts/engine-tls with its state in `state`; the worker image comes
// from the engine the tests were given. Returns the exit code.
int engine_tls(const fs::path& state, const std::string& args) {
  const std::string shared = warmpool::test::engine_options().endpoint;
  const std::string line = "WARMPOOL_TLS_ENGINE_STATE='" + state.string() + "' DOCKER_HOST='" + shared +
                           "' DOCKER_TLS_VERIFY= '" ENGINE_TLS_SCRIPT "' " + args;
  const int raw = std::system(line.c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

// The TLS engine for one test: started through the script, stopped by the
// pid in its pidfile, its state (containers included) removed.
class TlsEngine {
 public:
  TlsEngine() {
    warmpool::test::require_image(shared_);  // the image to copy
    fs::remove_all(state_);
    REQUIRE(engine_tls(state_, "start --port " + std::to_string(kEnginePort)) == 0);
  }
  ~TlsEngine() {
    CHECK(engine_tls(state_, "stop") == 0);
    std::error_code ignored;
    fs::remove_all(state_, ignored);
  }
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  fs::path client_certs() const { return state_ / "client"; }
  fs::path state() const { return state_; }
  DockerEngine client() const {
    DockerEngine::Options options;
    options.endpoint = kEndpoint;
    options.tls = warmpool::engine::TlsFiles::in_directory(client_certs().string());
    return DockerEngine(options);
  }

 private:
  DockerEngine shared_{warmpool::test::engine_options()};
  // Short: containerd's sockets nest below it.
  const fs::path state_ = "/tmp/wp-tls-" + std::to_string(::getpid());
};

std::vector<std::string> serve_args(const std::string& manager_id, const fs::path& data_dir,
                                    const std::vector<std::string>& engine_args) {
  std::vector<std::string> args = {
      "serve", "--host", "127.0.0.1", "--port", std::to_string(kApiPort), "--data-dir", data_dir.string(),
      "--manager-id", manager_id, "--port-first", "17400", "--port-last", "17419", "--max-instances", "3",
      "--min-idle", "2", "--max-idle", "2", "--keep-running", "0", "--pool-policy", "fixed",
      "--pause-grace-ms", "0", "--host-limit", "1.0", "--engine-timeout-ms", "3000", "--log-format", "text",
      "--remove-on-exit", "--insecure", "--engine", kEndpoint};
  args.insert(args.end(), engine_args.begin(), engine_args.end());
  return args;
}

// Waits for the manager to exit on its own; returns its exit code, or -1 if
// it still runs after `limit`.
int exit_code_within(warmpool::test::ManagerProcess& manager, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (manager.alive() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
  if (manager.alive()) return -1;
  const int status = manager.stop();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

json get(httplib::Client& api, const std::string& path) {
  auto r = api.Get(path);
  if (!r || r->status != 200) return json();
  return json::parse(r->body);
}

// Two instances paused and idle, nothing in flight.
bool pool_settled(httplib::Client& api) {
  int paused = 0;
  const json instances = get(api, "/instances");
  for (const auto& i : instances) paused += i["state"] == "paused";
  return paused == 2 && get(api, "/details")["pool"]["busy"] == 0;
}

}  // namespace

TEST_CASE("a manager with the client certificate hands out instances from a TLS engine", "[tls]") {
  TlsEngine engine;
  const std::string manager_id = "test-tls-" + std::to_string(::getpid());
  const fs::path data_dir = engine.state() / "manager";
  fs::create_directories(data_dir);
  warmpool::test::ManagerProcess manager(
      WARMPOOL_BIN, serve_args(manager_id, data_dir, {"--engine-cert-dir", engine.client_certs().string()}),
      data_dir / "manager.log");

  httplib::Client api("127.0.0.1", kApiPort);
  api.set_read_timeout(10, 0);
  const auto settle_by = std::chrono::steady_clock::now() + 60s;
  // The answer the wait ended on: a health check's brief claim counts as
  // busy, so asking again could catch one.
  bool settled = false;
  while (manager.alive() && !(settled = pool_settled(api)) && std::chrono::steady_clock::now() < settle_by)
    std::this_thread::sleep_for(100ms);
  INFO(manager.log_tail());
  REQUIRE(manager.alive());
  REQUIRE(settled);
  // A remote engine's cgroups are not ours to freeze: pauses go through it.
  CHECK(manager.log_tail(100000).find("pausing through the engine: the engine at " + kEndpoint + " is not local") !=
        std::string::npos);

  // The instances live on the TLS engine (and so on no other).
  DockerEngine tls = engine.client();
  CHECK(tls.list({{warmpool::engine::kManagerLabel, manager_id}}).size() == 2);

  std::vector<std::string> ids;
  for (int k = 0; k < 2; ++k) {
    auto r = api.Post("/allocations", R"({"timeout_ms":10000})", "application/json");
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
    const json allocation = json::parse(r->body);
    const std::string endpoint = allocation["endpoint"];
    CHECK(endpoint.rfind("127.0.0.1:174", 0) == 0);
    ids.push_back(allocation["id"]);
  }
  // Both unpaused through the engine (the pool may be making a third).
  int running = 0;
  for (const auto& c : tls.list({{warmpool::engine::kManagerLabel, manager_id}}))
    running += c.status == warmpool::engine::ContainerStatus::Running;
  CHECK(running >= 2);
  for (const auto& id : ids) {
    auto r = api.Delete("/allocations/" + id);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  const auto back_by = std::chrono::steady_clock::now() + 30s;
  settled = false;
  while (!(settled = pool_settled(api)) && std::chrono::steady_clock::now() < back_by)
    std::this_thread::sleep_for(100ms);
  CHECK(settled);

  const int status = manager.stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(tls.list({{warmpool::engine::kManagerLabel, manager_id}}).empty());  // --remove-on-exit
}

TEST_CASE("without a client certificate, or trusting another CA, the manager stops at start and says why", "[tls]") {
  TlsEngine engine;
  const fs::path data_dir = engine.state() / "refused";
  fs::create_directories(data_dir);
  const fs::path other_ca = engine.state() / "other-ca";
  REQUIRE(engine_tls(other_ca, "certs '" + other_ca.string() + "'") == 0);

  struct Case {
    const char* what;
    std::vector<std::string> args;
    std::string reason;
  };
  const std::string handshake = "refusing to start: version: TLS handshake with " + kEndpoint + " failed: ";
  const std::vector<Case> cases = {
      {"the engine's CA but no certificate of ours",
       {"--engine-ca", (engine.client_certs() / "ca.pem").string()},
       handshake},
      {"a certificate and a CA of another authority",
       {"--engine-cert-dir", (other_ca / "client").string()},
       handshake + "SSL certificate problem"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const fs::path log = data_dir / "manager.log";
    fs::remove(log);
    warmpool::test::ManagerProcess manager(WARMPOOL_BIN, serve_args("test-tls-refused", data_dir / "data", c.args),
                                           log);
    const int code = exit_code_within(manager, 15s);  // the deadline is 3 s; a hang would show here
    INFO(manager.log_tail());
    CHECK(code == 1);
    CHECK(manager.log_tail().find(c.reason) != std::string::npos);
    CHECK(manager.log_tail().find("listening on") == std::string::npos);
  }
}
