#include "app.hpp"

#include <filesystem>

#include "api/dashboard.hpp"
#include "api/docs.hpp"
#include "jobs/routes.hpp"

namespace warmpool {

namespace {
const Config& prepared(const Config& config) {
  config.validate();
  std::filesystem::create_directories(config.data_dir);
  return config;
}
}  // namespace

engine::DockerEngine::Options engine_options(const Config& config) {
  auto options = engine::DockerEngine::Options::from_env();
  if (!config.engine.empty()) options.endpoint = config.engine;
  options.timeout = std::chrono::milliseconds(config.engine_timeout_ms);
  return options;
}

void add_module_routes(api::Server& server, const Config& config, Store& store, Pool& pool,
                       Lanes& lanes, jobs::JobRunner& pi_jobs, const Clock& clock) {
  api::add_docs_routes(server, config);
  jobs::add_pi_job_routes(server, pi_jobs, store, clock);
  api::add_dashboard_routes(server, config, store, pool, lanes, clock,
                            {.pi_jobs = [&store, &clock] { return jobs::recent_jobs_json(store, clock, 20); }});
}

App::App(Config c)
    : config(prepared(std::move(c))),
      engine(engine_options(config)),
      timed_engine(engine,
                   [this](const std::string& operation, bool ok, double seconds) {
                     metrics.observe_engine_call(operation, ok, seconds);
                   }),
      store(config.database_path()),
      lanes({.high_threads = config.high_threads,
             .normal_threads = config.normal_threads,
             .high_capacity = static_cast<std::size_t>(config.queue_capacity),
             .normal_capacity = static_cast<std::size_t>(config.queue_capacity)},
            [this](Lane lane, std::chrono::nanoseconds waited) {
              metrics.observe_queue_wait(lane, std::chrono::duration<double>(waited).count());
            }),
      pool(config.pool_settings(), store, timed_engine, worker, lanes, clock, &host, &metrics),
      pi_jobs(config.job_settings(), store, pool, compute, clock, &metrics),
      scheduler({.period = std::chrono::milliseconds(config.scheduler_period_ms)}, pool, store,
                timed_engine, worker, clock, host),
      server(config, pool, store, timed_engine, lanes,
             {[this] { return scheduler.engine_reachable(); },
              [this] { return scheduler.last_error(); }},
             &metrics) {
  host.sample();
  add_module_routes(server, config, store, pool, lanes, pi_jobs, clock);
  pi_jobs.start();
}

App::~App() { stop(); }

int App::serve_in_background(const std::string& listen_host) {
  const int port = server.bind_any_port(listen_host);
  serving_ = std::thread([this] { server.listen_after_bind(); });
  return port;
}

bool App::serve() { return server.listen(config.listen_host, config.listen_port); }

void App::stop() noexcept {
  server.stop();
  if (serving_.joinable()) serving_.join();
  pi_jobs.stop();
  scheduler.stop();
  lanes.stop();
  if (config.remove_on_exit && !removed_) {
    removed_ = true;
    pool.remove_all("the manager stopped with --remove-on-exit");
  }
}

}  // namespace warmpool
