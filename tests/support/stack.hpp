// The whole manager (warmpool::App) in one process against the real engine,
// serving on a free loopback port. Its containers carry
// warmpool.manager=test-<random> and are removed when the stack is destroyed
// (scripts/test also sweeps that label prefix).
#pragma once

#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/app.hpp"
#include "support/engine_env.hpp"
#include "support/eventually.hpp"

namespace warmpool::test {

class Stack {
 public:
  // `tune` may change the configuration before anything starts.
  explicit Stack(const std::function<void(Config&)>& tune = {}, bool run_scheduler = true)
      : app_(std::make_unique<App>(make_config(tune))),
        config(app_->config),
        store(app_->store),
        pool(app_->pool),
        scheduler(app_->scheduler) {
    require_image(app_->engine);
    port = app_->serve_in_background();
    if (run_scheduler) app_->start_scheduling();
  }

  ~Stack() {
    app_->stop();
    for (const auto& c : app_->engine.list({{engine::kManagerLabel, config.manager_id}})) {
      try {
        app_->engine.remove(c.id);
      } catch (const std::exception&) {
      }
    }
    const std::string dir = config.data_dir;
    app_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  static Config make_config(const std::function<void(Config&)>& tune) {
    Config c;
    const unsigned r = std::random_device{}();
    c.manager_id = "test-" + std::to_string(r % 1'000'000);
    c.insecure = true;  // open routes unless a test gives tokens
    c.data_dir = (std::filesystem::temp_directory_path() / ("warmpool-" + c.manager_id)).string();
    c.engine = engine_options().endpoint;
    // Worker ports of the integration tests, apart so that one test's
    // leftovers never meet another's: shutdown drill 21000-21999, crash
    // drill 22000-22999, API tests (node) 24000-24999, stacks 25000-30999,
    // load test 31000-31999.
    c.port_first = 25000 + static_cast<int>(r % 300) * 20;
    c.port_last = c.port_first + 19;
    c.min_idle = 0;
    c.host_limit = 1.0;  // tests share the host with the build: never refuse for load
    c.scheduler_period_ms = 500;
    c.pause_via = "engine";  // the drills of the freezer path say so themselves
    // The pool's shape as its flags say (idle released at once to paused
    // beyond --keep-running); the demand tests turn the adaptive policy on.
    c.pool_policy = "fixed";
    c.pause_grace_ms = 0;
    if (tune) tune(c);
    return c;
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_tcp_nodelay(true);
    c.set_read_timeout(30, 0);
    return c;
  }

  engine::DockerEngine& engine() { return app_->engine; }
  engine::EngineSet& engines() { return app_->engines.set; }
  App& app() { return *app_; }

  // Polls `pred` until it holds or `limit` passes.
  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    return test::eventually(pred, limit, std::chrono::milliseconds(20));
  }

  int count_idle() {
    int n = 0;
    for (const auto& i : store.instances(Show::Current)) n += is_idle(i.state);
    return n;
  }

 private:
  std::unique_ptr<App> app_;

 public:
  const Config& config;
  Store& store;
  Pool& pool;
  Scheduler& scheduler;
  int port = 0;
};

}  // namespace warmpool::test
