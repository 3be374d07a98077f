// The manager assembled from its configuration: store, engine client, worker
// client, lanes, pool, pi job runner, scheduler and HTTP API, wired in the
// one order that works. `warmpool serve`, the integration tests and the
// benchmarks all run this same assembly.
#pragma once

#include <memory>
#include <vector>
#include <thread>

#include "api/server.hpp"
#include "config/config.hpp"
#include "app/engine_clients.hpp"
#include "engine/docker_engine.hpp"
#include "engine/engine_set.hpp"
#include "engine/pause_probe.hpp"
#include "engine/timed_engine.hpp"
#include "host/host.hpp"
#include "jobs/runner.hpp"
#include "metrics/metrics.hpp"
#include "pools/engine_admin.hpp"
#include "pools/pools.hpp"
#include "scheduler/scheduler.hpp"
#include "store/store.hpp"

namespace warmpool {


class App {
 public:
  // Opens the database (creating data_dir) and builds everything; starts no
  // thread but the lanes' and the job runner's (which resumes the jobs a
  // previous run left queued or running). Throws StoreError or
  // std::invalid_argument.
  explicit App(Config config);
  ~App();  // stops everything that was started

  // Starts the scheduler of every pool (the default's and the others').
  void start_scheduling();
  // Serves on `port` of host (0: a free one) in a background thread; returns
  // the port. Throws std::runtime_error "cannot listen on host:port" when
  // the port is taken.
  int serve_in_background(const std::string& host = "127.0.0.1", int port = 0);
  // Stops accepting requests (those in flight are answered), then the job
  // runner (running jobs go back to the queue), the scheduler, then the
  // lanes (the high lane finishes what it holds: releases complete their
  // reset). Containers stay for the next start to adopt, unless
  // config.remove_on_exit: then they are removed and their records deleted.
  void stop() noexcept;

  const Config config;
  // Derives each worker's control secret (Config::control_key_path()).
  const std::string control_key;
  Metrics metrics;
  engine::DockerEngine engine;
  engine::TimedEngine timed_engine;  // `engine`, with every call in the metrics
  SystemClock clock;
  HostMonitor host;
  HttpWorkerClient worker;
  std::unique_ptr<Store> owned_store;  // open_store(config)
  Store& store;
  Lanes lanes;
  // Every engine (`timed_engine` first) as one; after `store`, which holds
  // the engines added through the API.
  EngineClients engines;
  engine::PauseChoice pause_choice;  // --pause-via, decided once at start
  Pauser pauser;
  Pool pool;
  jobs::JobRunner pi_jobs;
  Scheduler scheduler;  // the default pool's
  // Every pool: the default (pool, scheduler above) and those recorded in
  // the store (schema 7), each with its own Pool and Scheduler.
  Pools pools;
  // Engines added, removed, drained and resumed through the admin API; the
  // recorded ones joined `engines` at start.
  EngineAdmin engine_admin;
  api::Server server;

 private:
  Scheduler::Settings default_scheduler_settings();
  std::thread serving_;
  bool removed_ = false;
};

// Registers the routes of the modules beside the Server's own (docs, pi jobs,
// dashboard), as `warmpool serve` serves them. Tests that assemble the manager
// on fakes call it too, so that they serve every route. The references must
// outlive the server.
void add_module_routes(api::Server& server, const Config& config, Store& store, Pool& pool,
                       Lanes& lanes, jobs::JobRunner& pi_jobs, const Clock& clock);

// The pool's and the pi job runner's parts of the configuration (job
// results go to data_dir/results).
PoolSettings pool_settings(const Config& config);
Scheduler::Settings scheduler_settings(const Config& config);
jobs::JobSettings job_settings(const Config& config);

// This manager's name among several on one database: host:port/pid.
std::string manager_name(const Config& config);

// The store the configuration names: PostgreSQL with --database, else SQLite
// in data_dir. Throws StoreError (unreachable server, newer schema).
std::unique_ptr<Store> open_store(const Config& config);

// A secret kept in a file: read from `path`, or made there at the first start
// (256 random bits as hex, mode 0600; *made then says so). Used for the key
// the workers' control secrets derive from (Config::control_key_path) and
// the API and admin tokens. Throws std::runtime_error when it can be neither
// read nor made.
std::string load_secret(const std::string& path, bool* made = nullptr);

// The configuration with its tokens: those not given by flag or environment
// are read from the data directory (api.token, admin.token) or made there,
// and printed once to `out` with where they are kept. Nothing with
// --insecure: the routes stay open. Creates the data directory.
Config with_tokens(Config config, std::ostream& out);

// Refuses (std::runtime_error, saying how to make one) a --data-volume that
// the engine does not have. Nothing to check without one. Throws EngineError
// when the engine cannot say.
void require_data_volume(engine::DockerEngine& engine, const Config& config);

// Every --engine as a spec, in the order given; without any, the one engine
// `default` at config.engine. Throws std::invalid_argument for a value that
// does not parse or a name given twice.
std::vector<engine::EngineSpec> engine_specs(const Config& config);

// The options of the engine at `endpoint` (empty: DOCKER_HOST or the
// default socket), with the TLS files of the configuration.
engine::DockerEngine::Options engine_options(const Config& config, const std::string& endpoint);
// The options of one --engine: its own TLS files (cert-dir=, ca=, cert=,
// key=) when it names any, else those of the flags, as above.
engine::DockerEngine::Options engine_options(const Config& config, const engine::EngineSpec& spec);

// The first engine's client options from the configuration: --engine, else
// DOCKER_HOST, else the default socket; TLS files from --engine-ca,
// --engine-cert and --engine-key, else --engine-cert-dir, else (for a
// tcp:// endpoint) DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. Reads no file.
engine::DockerEngine::Options engine_options(const Config& config);

// Refuses, before anything starts, an endpoint that does not parse and TLS
// files that cannot be read: std::invalid_argument naming the endpoint or
// the file. Talks to no engine.
void check_engine_options(const engine::DockerEngine::Options& options);

}  // namespace warmpool
