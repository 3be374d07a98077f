// The manager's whole HTTP API in one process over a pool on the fake engine,
// fake workers and fake pi computation: no Docker engine, no containers.
// Two servers share one pool and one store: one without tokens, one with
// --api-token and --admin-token set. Both register their routes as
// warmpool serve does (the Server's own, then add_module_routes).
//
// The scheduler is built but not started: the fuzz test ticks it between
// requests, so that nothing moves behind a request's back.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "config/config.hpp"
#include "host/host.hpp"
#include "jobs/runner.hpp"
#include "scheduler/scheduler.hpp"
#include "store/sqlite_store.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"

namespace warmpool::fuzz {

inline constexpr const char* kApiToken = "fuzz-api-token-0123456789";
inline constexpr const char* kAdminToken = "fuzz-admin-token-9876543210";

// Everything the API can change: instances, allocations and pi jobs (every
// field), the fake engine's containers, and the result files. Equal
// snapshots: nothing changed.
struct Snapshot {
  std::vector<Instance> instances;
  std::vector<Allocation> allocations;
  std::vector<Job> jobs;
  std::map<std::string, std::pair<engine::ContainerStatus, std::string>> containers;  // id: status, endpoint
  std::vector<std::string> result_files;

  bool operator==(const Snapshot& other) const;
  std::size_t records() const { return instances.size() + allocations.size() + jobs.size(); }
  // As JSON, to show a difference.
  nlohmann::json to_json() const;
};

class World {
 public:
  // docs_dir: the built docs directory (index.html, openapi.json, ...).
  explicit World(const std::string& docs_dir);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  Snapshot snapshot();
  // Waits until nothing is in flight: no claims, both lanes idle, no
  // allocation waiting, no pi job queued or running and none of the runner's
  // allocations current. Empty when settled, else what was still moving.
  std::string settle(std::chrono::milliseconds limit);
  // What must hold of a settled, healthy pool (engine reachable, recovered):
  // no instance in a passing state, `allocated` exactly when one current
  // allocation holds it, containers running or paused as their records say.
  static std::vector<std::string> invariants(const Snapshot& snapshot);

  // The engine stops answering (or answers again).
  void set_engine_reachable(bool reachable);
  bool engine_reachable() const { return engine_reachable_; }
  // Brings the pool back after an outage: scheduler ticks until no instance
  // is in error or passing states. Empty when healthy, else why not.
  std::string recover(std::chrono::milliseconds limit);

  int port(int server) const { return ports_[server]; }
  api::Server& server(int i) { return i == 0 ? open_server : token_server; }
  const Config& config(int i) const { return i == 0 ? open_config : token_config; }

  const std::filesystem::path dir;
  Config open_config;
  Config token_config;
  SqliteStore store;
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  test::FakeWorker compute{engine};  // the runner's; `worker` is the pool's
  ManualClock clock;
  HostMonitor host;
  Lanes lanes;
  Pool pool;
  jobs::JobRunner runner;
  Scheduler scheduler;
  api::Server open_server;
  api::Server token_server;

 private:
  bool in_flight(std::string& what);
  // Whether the job runner could take an instance now, without a request.
  bool jobs_can_start();

  int ports_[2] = {0, 0};
  std::vector<std::thread> serving_;
  bool engine_reachable_ = true;
};

}  // namespace warmpool::fuzz
