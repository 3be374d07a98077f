// warmpool: the pool manager (`serve`) and a small client for its API.
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app/app.hpp"
#include "client/commands.hpp"
#include "base/logging.hpp"
#include "warmpool/version.hpp"

namespace {

// SIGINT and SIGTERM are taken by one thread with sigtimedwait, so that
// stopping runs as ordinary code rather than in a signal handler. A second
// signal while stopping exits at once.
class StopSignals {
 public:
  // Blocks the signals in the calling thread; threads started after this
  // inherit the mask, so none of them is interrupted.
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  ~StopSignals() { finish(); }

  // Stops watching. REQUIRES: before the watched server is destroyed.
  void finish() {
    done_ = true;
    if (waiter_.joinable()) waiter_.join();
  }

  // Stops `server` on the first signal. A stop that comes before the server
  // listens would be lost, so it is applied once the server runs.
  void watch(warmpool::api::Server& server) {
    waiter_ = std::thread([this, &server] {
      int received = 0;
      bool stopped = false;
      while (!done_) {
        const timespec tick{0, 100'000'000};
        const int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig > 0 && ++received == 1) {
          spdlog::info("{}: stopping; a second signal exits at once", strsignal(sig));
        } else if (sig > 0) {
          spdlog::warn("{} again: exiting now", strsignal(sig));
          std::_Exit(1);
        }
        if (received > 0 && !stopped && server.running()) {
          server.stop();
          stopped = true;
        }
      }
    });
  }

 private:
  sigset_t set_{};
  std::atomic<bool> done_{false};
  std::thread waiter_;
};

// Every engine at start, before anything else: its endpoint and TLS files
// must be usable and it must answer (within --engine-timeout-ms, TLS agreed
// on), else the manager stops with the reason instead of serving without it.
bool engine_answers(const warmpool::Config& config) {
  using namespace warmpool;
  std::string name;
  try {
    const auto specs = engine_specs(config);
    for (const auto& spec : specs) {
      name = specs.size() > 1 ? "engine " + spec.name + ": " : "";
      const auto options = engine_options(config, spec);
      check_engine_options(options);
      engine::DockerEngine engine(options);
      auto v = engine.version();
      spdlog::info("engine {} {} at {} (API {})", spec.name, v.version, engine.endpoint().text(), engine.api_version());
      if (!engine.image_exists(config.image))
        spdlog::warn("image {} not found on engine {}: build it with scripts/build-image", config.image, spec.name);
      require_data_volume(engine, config);
    }
  } catch (const std::exception& e) {  // EngineError, std::invalid_argument, std::runtime_error
    spdlog::error("refusing to start: {}{}", name, e.what());
    return false;
  }
  return true;
}

int serve(const warmpool::Config& config) {
  using namespace warmpool;
  logging::setup(logging::format_from(config.log_format), config.log_level);
  StopSignals signals;
  if (!engine_answers(config)) return 1;
  App app(config);
  // Bind before the scheduler starts: a manager that cannot serve must not
  // create or adopt containers on its way out.
  if (!app.server.bind(config.listen_host, config.listen_port)) {
    spdlog::error("cannot listen on {}:{}: {}", config.listen_host, config.listen_port, std::strerror(errno));
    app.stop();
    return 1;
  }
  app.start_scheduling();
  signals.watch(app.server);
  spdlog::info("warmpool {} listening on http://{}:{} (database {})", kVersion, config.listen_host,
               config.listen_port, config.uses_postgres() ? "PostgreSQL (--database)" : config.database_path());
  const bool ok = app.server.listen_after_bind();
  if (!ok) spdlog::error("stopped serving on {}:{}", config.listen_host, config.listen_port);
  else if (config.remove_on_exit) spdlog::info("stopping: finishing running work, then removing our containers");
  else spdlog::info("stopping: finishing running work; containers stay for the next start to adopt");
  app.stop();  // a second signal meanwhile still exits at once
  signals.finish();
  spdlog::info("stopped");
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
    // --help and --version exit 0; any other usage error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (serve_cmd->parsed()) return serve(config);
    return warmpool::client::run(app, client);
  } catch (const std::exception& e) {
    std::cerr << "warmpool: " << e.what() << "\n";
    return 1;
  }
}
