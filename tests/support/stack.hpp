// The whole manager in one process against the real engine: store, engine
// client, pool, lanes, scheduler and HTTP API on a free loopback port. Its
// containers carry warmpool.manager=test-<random>, and are removed when the
// stack is destroyed (scripts/test also sweeps that label prefix).
#pragma once

#include <filesystem>
#include <random>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "host.hpp"
#include "scheduler/scheduler.hpp"
#include "support/engine_env.hpp"

namespace warmpool::test {

inline std::string random_suffix() {
  std::random_device rd;
  return std::to_string(rd() % 1'000'000);
}

class Stack {
 public:
  // `tune` may change the configuration before anything starts.
  explicit Stack(const std::function<void(Config&)>& tune = {}, bool run_scheduler = true)
      : engine_(engine_options()) {
    require_image(engine_);
    config.manager_id = "test-" + random_suffix();
    config.data_dir = (std::filesystem::temp_directory_path() / ("warmpool-" + config.manager_id)).string();
    config.port_first = 23000 + static_cast<int>(std::random_device{}() % 400) * 20;
    config.port_last = config.port_first + 19;
    config.min_idle = 0;
    config.host_limit = 1.0;  // tests share the host with the build; do not refuse
    config.scheduler_period_ms = 500;
    if (tune) tune(config);
    std::filesystem::create_directories(config.data_dir);
    store = std::make_unique<Store>(config.database_path());
    lanes = std::make_unique<Lanes>(Lanes::Settings{config.high_threads, config.normal_threads,
                                                    static_cast<std::size_t>(config.queue_capacity),
                                                    static_cast<std::size_t>(config.queue_capacity)});
    pool = std::make_unique<Pool>(config.pool_settings(), *store, engine_, worker, *lanes, clock, &host);
    scheduler = std::make_unique<Scheduler>(
        Scheduler::Settings{std::chrono::milliseconds(config.scheduler_period_ms)}, *pool, *store,
        engine_, worker, clock, host);
    server = std::make_unique<api::Server>(config, *pool, *store, engine_, *lanes);
    port = server->bind_any_port("127.0.0.1");
    serving_ = std::thread([this] { server->listen_after_bind(); });
    if (run_scheduler) scheduler->start();
  }

  ~Stack() {
    server->stop();
    if (serving_.joinable()) serving_.join();
    scheduler->stop();
    lanes->stop();
    for (const auto& c : engine_.list({{engine::kManagerLabel, config.manager_id}})) {
      try {
        engine_.remove(c.id);
      } catch (const std::exception&) {
      }
    }
    std::error_code ignored;
    std::filesystem::remove_all(config.data_dir, ignored);
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_tcp_nodelay(true);
    c.set_read_timeout(30, 0);
    return c;
  }

  engine::DockerEngine& engine() { return engine_; }

  // Polls `pred` until it holds or `limit` passes.
  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }

  int count_idle() {
    int n = 0;
    for (const auto& i : store->instances(Show::Current)) n += is_idle(i.state);
    return n;
  }

  Config config;
  SystemClock clock;
  HostMonitor host;
  HttpWorkerClient worker;
  std::unique_ptr<Store> store;
  std::unique_ptr<Lanes> lanes;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<api::Server> server;
  int port = 0;

 private:
  engine::DockerEngine engine_;
  std::thread serving_;
};

}  // namespace warmpool::test
