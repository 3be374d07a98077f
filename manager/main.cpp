// warmpool: the pool manager (`serve`) and a small client for its API.
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "api/server.hpp"
#include "client/commands.hpp"
#include "config.hpp"
#include "engine/docker_engine.hpp"
#include "host.hpp"
#include "pool/worker_client.hpp"
#include "scheduler/scheduler.hpp"
#include "warmpool/version.hpp"

namespace {

warmpool::api::Server* g_server = nullptr;

void on_signal(int) {
  if (g_server) g_server->stop();
}

int serve(const warmpool::Config& config) {
  using namespace warmpool;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  config.validate();
  std::filesystem::create_directories(config.data_dir);

  engine::DockerEngine::Options engine_options = engine::DockerEngine::Options::from_env();
  if (!config.engine.empty()) engine_options.endpoint = config.engine;
  engine_options.timeout = std::chrono::milliseconds(config.engine_timeout_ms);
  engine::DockerEngine engine(engine_options);

  Store store(config.database_path());
  HttpWorkerClient worker;
  SystemClock clock;
  HostMonitor host;
  host.sample();
  Lanes lanes({.high_threads = config.high_threads,
               .normal_threads = config.normal_threads,
               .high_capacity = static_cast<std::size_t>(config.queue_capacity),
               .normal_capacity = static_cast<std::size_t>(config.queue_capacity)});
  Pool pool(config.pool_settings(), store, engine, worker, lanes, clock, &host);
  Scheduler scheduler({.period = std::chrono::milliseconds(config.scheduler_period_ms)}, pool,
                      store, engine, worker, clock, host);
  api::Server server(config, pool, store, engine, lanes,
                     {[&] { return scheduler.engine_reachable(); },
                      [&] { return scheduler.last_error(); }});

  try {
    auto v = engine.version();
    spdlog::info("engine {} at {} (API {})", v.version, engine_options.endpoint, engine.api_version());
    if (!engine.image_exists(config.image))
      spdlog::warn("image {} not found on the engine: build it with scripts/build-image", config.image);
  } catch (const std::exception& e) {
    spdlog::warn("engine not reachable yet ({}); serving anyway, /health says degraded", e.what());
  }

  scheduler.start();
  g_server = &server;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  spdlog::info("warmpool {} listening on http://{}:{} (database {})", kVersion, config.listen_host,
               config.listen_port, config.database_path());
  const bool ok = server.listen(config.listen_host, config.listen_port);
  g_server = nullptr;
  if (!ok) {
    spdlog::error("cannot listen on {}:{}", config.listen_host, config.listen_port);
    scheduler.stop();
    lanes.stop();
    return 1;
  }
  spdlog::info("stopping: finishing queued work; containers stay for the next start to adopt");
  scheduler.stop();
  lanes.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"warmpool: a pool of warm containers handed out in milliseconds"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("warmpool ") + warmpool::kVersion);

  warmpool::Config config;
  auto* serve_cmd = app.add_subcommand("serve", "Run the pool manager and its HTTP API");
  warmpool::add_serve_options(*serve_cmd, config);

  warmpool::client::Options client;
  warmpool::client::add_commands(app, client);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (serve_cmd->parsed()) return serve(config);
    return warmpool::client::run(app, client);
  } catch (const std::exception& e) {
    std::cerr << "warmpool: " << e.what() << "\n";
    return 1;
  }
}
