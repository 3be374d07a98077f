// DockerEngine against the real engine (scripts/engine start) and the worker
// image (scripts/build-image): a hardened worker container through its whole
// life, with the engine's own view checked at each step.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "engine/docker_engine.hpp"
#include "support/engine_env.hpp"

using nlohmann::json;
using warmpool::engine::ContainerSpec;
using warmpool::engine::ContainerStatus;
using warmpool::engine::DockerEngine;
using warmpool::engine::EngineError;
using warmpool::engine::Event;
using warmpool::engine::Labels;
using Kind = EngineError::Kind;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// "Name: value" lines of /proc/<pid>/status (the tests share the host's pid namespace).
std::map<std::string, std::string> process_status(int pid) {
  std::map<std::string, std::string> fields;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto value = line.find_first_not_of(" \t", colon + 1);
    fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
  }
  return fields;
}

std::string random_hex(int digits) {
  std::random_device device;
  std::mt19937_64 bits(device());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < digits; ++i) s += kHex[bits() % 16];
  return s;
}

// A port in 19000-19099 that nothing on 127.0.0.1 listens on right now.
int free_port() {
  std::random_device device;
  const int offset = static_cast<int>(device() % 100);
  for (int i = 0; i < 100; ++i) {
    const int port = 19000 + (offset + i) % 100;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return port;
  }
  FAIL("no free port in 19000-19099");
  return 0;
}

// Removes the container however the test ends.
class ContainerGuard {
 public:
  ContainerGuard(DockerEngine& engine, std::string id) : engine_(engine), id_(std::move(id)) {}
  ~ContainerGuard() {
    try {
      engine_.remove(id_);
    } catch (const EngineError&) {
      // Best effort: the test already reports what went wrong.
    }
  }
  ContainerGuard(const ContainerGuard&) = delete;
  ContainerGuard& operator=(const ContainerGuard&) = delete;

 private:
  DockerEngine& engine_;
  std::string id_;
};

// GET /ping on the worker with a deadline for the whole exchange.
bool ping(int port, std::chrono::milliseconds deadline) {
  httplib::Client client("127.0.0.1", port);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline).count();
  client.set_connection_timeout(0, us);
  client.set_read_timeout(0, us);
  client.set_write_timeout(0, us);
  const auto res = client.Get("/ping");
  return res && res->status == 200;
}

bool ping_until_ready(int port, std::chrono::milliseconds within) {
  const auto end = Clock::now() + within;
  while (Clock::now() < end) {
    if (ping(port, 300ms)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// Collects the events of one container from a background watch.
class EventLog {
 public:
  EventLog(DockerEngine& engine, Labels match)
      : thread_([this, &engine, match = std::move(match)](std::stop_token stop) {
          try {
            engine.watch_events(
                match,
                [this](const Event& e) {
                  std::lock_guard lock(mu_);
                  actions_.push_back(e.action);
                  ids_.push_back(e.container_id);
                },
                stop);
          } catch (const std::exception& e) {
            std::lock_guard lock(mu_);
            failure_ = e.what();
          }
        }) {}

  std::vector<std::string> actions() {
    std::lock_guard lock(mu_);
    return actions_;
  }
  bool saw(const std::string& action) {
    const auto seen = actions();
    return std::find(seen.begin(), seen.end(), action) != seen.end();
  }
  bool wait_for(const std::string& action, std::chrono::milliseconds within) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
      if (saw(action)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::vector<std::string> ids() {
    std::lock_guard lock(mu_);
    return ids_;
  }
  std::optional<std::string> failure() {
    std::lock_guard lock(mu_);
    return failure_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> actions_;  // guarded by mu_
  std::vector<std::string> ids_;      // guarded by mu_
  std::optional<std::string> failure_;
  std::jthread thread_;  // last: stopped and joined before the rest goes
};

std::ptrdiff_t position(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) - v.begin();
}

}  // namespace

TEST_CASE("a hardened worker container through its life on the real engine", "[engine][integration]") {
  DockerEngine engine(warmpool::test::engine_options());
  warmpool::test::require_image(engine);

  const std::string manager = "test-" + random_hex(10);
  const Labels labels = {{warmpool::engine::kManagerLabel, manager}, {warmpool::engine::kInstanceLabel, "i1"}};
  const int port = free_port();
  ContainerSpec spec;
  spec.name = "warmpool-" + manager;
  spec.image = warmpool::test::kWorkerImage;
  spec.cmd = {"serve", "--host", "127.0.0.1", "--port", std::to_string(port), "--scratch", "/scratch"};
  spec.labels = labels;
  spec.tmpfs_bytes = 16ll << 20;
  spec.memory_bytes = 256ll << 20;
  spec.nano_cpus = 1'000'000'000;
  spec.pids_limit = 64;

  EventLog events(engine, {{warmpool::engine::kManagerLabel, manager}});

  const std::string id = engine.create(spec);
  ContainerGuard guard(engine, id);
  REQUIRE(id.size() == 64);
  CHECK(engine.inspect(id).status == ContainerStatus::Created);

  engine.start(id);
  CHECK_NOTHROW(engine.start(id));  // already started: success
  REQUIRE(ping_until_ready(port, 10s));

  SECTION("the engine applied every hardening option") {
    const json doc = json::parse(engine.inspect_raw(id));
    const json& host = doc["HostConfig"];
    CHECK(host["ReadonlyRootfs"] == true);
    // What the kernel applied, not how the engine spells it (Docker reports
    // CapDrop ["ALL"], Podman the list of capabilities it dropped).
    const auto status = process_status(doc["State"]["Pid"].get<int>());
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
      CHECK(status.at(set) == "0000000000000000");
    CHECK(status.at("NoNewPrivs") == "1");
    CHECK(host["Memory"] == 256ll << 20);
    CHECK(host["MemorySwap"] == 256ll << 20);
    CHECK(host["NanoCpus"] == 1'000'000'000);
    CHECK(host["PidsLimit"] == 64);
    CHECK(host["NetworkMode"] == "host");
    // Podman adds its own options (rprivate, tmpcopyup) after ours.
    CHECK_THAT(host["Tmpfs"]["/scratch"].get<std::string>(),
               Catch::StartsWith("rw,noexec,nosuid,nodev,size=16777216"));
    CHECK(doc["Config"]["User"] == "65534");
    // The image's own labels are merged in; ours must all be there.
    for (const auto& [key, value] : labels) CHECK(doc["Config"]["Labels"][key] == value);

    const auto info = engine.inspect(id);
    CHECK(info.id == id);
    CHECK(info.name == spec.name);
    CHECK(info.status == ContainerStatus::Running);
    for (const auto& [key, value] : labels) CHECK(info.labels.at(key) == value);
  }

  SECTION("pause freezes the worker, unpause brings it back, events report both") {
    // Make sure the event stream is live before the actions it must report:
    // a harmless signal (the worker is PID 1 without a WINCH handler) shows up
    // as a "kill" event once the watch is connected.
    bool live = false;
    for (int i = 0; i < 50 && !live; ++i) {
      engine.kill(id, "WINCH");
      live = events.wait_for("kill", 100ms);
    }
    REQUIRE(live);

    engine.pause(id);
    CHECK(engine.inspect(id).status == ContainerStatus::Paused);
    const EngineError again = [&] {
      try {
        engine.pause(id);
      } catch (const EngineError& e) {
        return e;
      }
      FAIL("pausing a paused container succeeded");
      throw std::logic_error("unreachable");
    }();
    CHECK(again.kind() == Kind::Conflict);
    CHECK(again.container_id() == id);

    // A paused worker accepts the connection but never answers.
    const auto begin = Clock::now();
    CHECK_FALSE(ping(port, 300ms));
    const auto elapsed = Clock::now() - begin;
    CHECK(elapsed >= 250ms);
    CHECK(elapsed < 1000ms);

    engine.unpause(id);
    CHECK(ping(port, 1000ms));
    CHECK(engine.inspect(id).status == ContainerStatus::Running);

    engine.stop(id, 2s);
    CHECK(engine.inspect(id).status == ContainerStatus::Exited);
    REQUIRE(events.wait_for("die", 5s));
    const auto actions = events.actions();
    INFO("events: " << json(actions).dump());
    CHECK(position(actions, "pause") < position(actions, "unpause"));
    CHECK(position(actions, "unpause") < position(actions, "die"));
    for (const auto& event_id : events.ids()) CHECK(event_id == id);
    CHECK_FALSE(events.failure());
  }

  SECTION("list by label finds it, and nothing is left after remove") {
    const auto found = engine.list(labels);
    REQUIRE(found.size() == 1);
    CHECK(found[0].id == id);
    CHECK(found[0].status == ContainerStatus::Running);

    engine.remove(id);
    CHECK_NOTHROW(engine.remove(id));  // already gone: success
    CHECK(engine.list({{warmpool::engine::kManagerLabel, manager}}).empty());
    try {
      engine.inspect(id);
      FAIL("inspect of a removed container succeeded");
    } catch (const EngineError& e) {
      CHECK(e.kind() == Kind::NotFound);
    }
  }
}

TEST_CASE("the real engine reports a missing image as NotFound", "[engine][integration]") {
  DockerEngine engine(warmpool::test::engine_options());
  warmpool::test::require_engine(engine);
  CHECK_FALSE(engine.image_exists("warmpool/no-such-image:" + random_hex(8)));
  ContainerSpec spec;
  spec.image = "warmpool/no-such-image:" + random_hex(8);
  try {
    const std::string id = engine.create(spec);
    engine.remove(id);
    FAIL("created a container from a missing image");
  } catch (const EngineError& e) {
    CHECK(e.kind() == Kind::NotFound);
    CHECK_THAT(e.what(), Catch::Contains("No such image", Catch::CaseSensitive::No));  // Podman: "no such image"
  }
}
