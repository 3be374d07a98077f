// warmpool: the pool manager (`serve`) and a small client for its API.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app.hpp"
#include "client/commands.hpp"
#include "warmpool/version.hpp"

namespace {

warmpool::api::Server* g_server = nullptr;

void on_signal(int) {
  if (g_server) g_server->stop();
}

int serve(const warmpool::Config& config) {
  using namespace warmpool;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  App app(config);
  try {
    auto v = app.engine.version();
    spdlog::info("engine {} at {} (API {})", v.version, app.engine.options().endpoint,
                 app.engine.api_version());
    if (!app.engine.image_exists(config.image))
      spdlog::warn("image {} not found on the engine: build it with scripts/build-image", config.image);
  } catch (const std::exception& e) {
    spdlog::warn("engine not reachable yet ({}); serving anyway, /health says degraded", e.what());
  }

  app.scheduler.start();
  g_server = &app.server;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  spdlog::info("warmpool {} listening on http://{}:{} (database {})", kVersion, config.listen_host,
               config.listen_port, config.database_path());
  const bool ok = app.serve();
  g_server = nullptr;
  if (!ok) spdlog::error("cannot listen on {}:{}", config.listen_host, config.listen_port);
  else spdlog::info("stopping: finishing running work; containers stay for the next start to adopt");
  app.stop();
  return ok ? 0 : 1;
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
