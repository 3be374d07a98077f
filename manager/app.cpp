#include "app.hpp"

#include <filesystem>

#include "api/dashboard.hpp"
#include "api/docs.hpp"

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

App::App(Config c)
    : config(prepared(std::move(c))),
      engine(engine_options(config)),
      store(config.database_path()),
      lanes({.high_threads = config.high_threads,
             .normal_threads = config.normal_threads,
             .high_capacity = static_cast<std::size_t>(config.queue_capacity),
             .normal_capacity = static_cast<std::size_t>(config.queue_capacity)}),
      pool(config.pool_settings(), store, engine, worker, lanes, clock, &host),
      scheduler({.period = std::chrono::milliseconds(config.scheduler_period_ms)}, pool, store,
                engine, worker, clock, host),
      server(config, pool, store, engine, lanes,
             {[this] { return scheduler.engine_reachable(); },
              [this] { return scheduler.last_error(); }}) {
  host.sample();
  api::add_docs_routes(server, config);
  api::add_dashboard_routes(server, config, store, pool, lanes, clock);
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
  scheduler.stop();
  lanes.stop();
}

}  // namespace warmpool
