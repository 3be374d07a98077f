// The pi job routes on a real api::Server over a pool on the fake engine,
// with fake workers (FakeWorker): no containers, no engine. The runner is
// started only when a test asks, so a test can also set records by hand.
#pragma once

#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "support/fake_worker.hpp"
#include "api/pi_job_routes.hpp"
#include "jobs/runner.hpp"
#include "store/sqlite_store.hpp"

namespace warmpool::test {

struct ApiFixture {
  // tune, when given, changes the pool's settings before the pool is made.
  explicit ApiFixture(std::int64_t max_digits = 1000, const std::string& api_token = "",
                      const std::function<void(PoolSettings&)>& tune = {})
      : dir(std::filesystem::temp_directory_path() /
            ("warmpool-jobs-api-" + std::to_string(std::random_device{}()))),
        lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 64, .normal_capacity = 64}) {
    config.api_token = api_token;
    config.http_threads = 4;
    PoolSettings s;
    s.policy.max_instances = 2;
    s.policy.min_idle = 0;
    s.port_first = 32000;
    s.port_last = 32099;
    if (tune) tune(s);
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock);
    jobs::JobSettings js;
    js.results_dir = dir / "results";
    js.max_digits = max_digits;
    js.poll_interval = std::chrono::milliseconds(5);
    js.progress_every = std::chrono::milliseconds(0);
    runner = std::make_unique<jobs::JobRunner>(js, store, *pool, compute, clock);
    server = std::make_unique<api::Server>(config, *pool, store, engine, lanes);
    jobs::add_pi_job_routes(*server, *runner, store, clock);
    port = server->bind_any_port("127.0.0.1");
    serving = std::thread([this] { server->listen_after_bind(); });
  }
  ~ApiFixture() {
    server->stop();
    serving.join();
    runner->stop();
    lanes.stop();
    std::filesystem::remove_all(dir);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }

  std::filesystem::path dir;
  Config config;
  SqliteStore store{":memory:"};
  FakeEngine engine;
  FakeWorker worker{engine};
  FakeWorker compute{engine};  // the runner's; `worker` is the pool's
  ManualClock clock;
  Lanes lanes;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<jobs::JobRunner> runner;
  std::unique_ptr<api::Server> server;
  int port = 0;
  std::thread serving;
};

}  // namespace warmpool::test
