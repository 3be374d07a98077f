// bench_api: requests/s on GET /allocations/{id} through the manager's API
// (routing, auth check, SQLite read, JSON), against a bare cpp-httplib server
// tuned the same way that returns the same bytes, with the same keep-alive
// load generator, alternating in one run. No engine is needed.
//
//   bench_api [--connections 32] [--seconds 5] [--runs 2]
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "app/app.hpp"
#include "common.hpp"

using namespace warmpool;

namespace {

// `connections` keep-alive clients GET `path` for `seconds`; returns requests/s.
double load(int port, const std::string& path, int connections, double seconds, const std::string& expect) {
  std::atomic<long> done{0}, wrong{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int k = 0; k < connections; ++k) {
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", port);
      c.set_tcp_nodelay(true);
      c.set_keep_alive(true);
      while (!stop) {
        auto r = c.Get(path);
        if (r && r->status == 200 && r->body == expect) ++done;
        else ++wrong;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  if (wrong > 0) std::fprintf(stderr, "warning: %ld wrong or failed answers on port %d\n", wrong.load(), port);
  return static_cast<double>(done) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"API requests/s against a bare cpp-httplib handler"};
  int connections = 32, runs = 2;
  double seconds = 5;
  cli.add_option("--connections", connections, "Keep-alive connections")->capture_default_str();
  cli.add_option("--seconds", seconds, "Length of each measurement")->capture_default_str();
  cli.add_option("--runs", runs, "Alternating runs of each server (best is kept)")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  Config config;
  config.manager_id = "bench-api";
  config.data_dir = (std::filesystem::temp_directory_path() / "warmpool-bench-api").string();
  std::filesystem::remove_all(config.data_dir);
  config.log_level = "warn";
  config.insecure = true;  // a loopback bench: no tokens
  App app(config);
  // One allocation record to read; no container is involved in this route.
  Instance instance = app.store.add_instance("127.0.0.1", 9, app.clock.now_ms());
  app.store.transition(instance.id, InstanceState::Ready, app.clock.now_ms());
  Allocation a = app.store.allocate(instance.id, "0123456789abcdef0123456789abcdef", "bench",
                                    app.clock.now_ms(), app.clock.now_ms() + 3'600'000);
  const int ours = app.serve_in_background();
  const std::string path = "/allocations/" + a.id;
  auto probe = httplib::Client("127.0.0.1", ours).Get(path);
  if (!probe || probe->status != 200) {
    std::cerr << "bench_api: the manager did not answer " << path << "\n";
    return 1;
  }
  const std::string bytes = probe->body;

  httplib::Server bare;
  bare.set_tcp_nodelay(true);
  const int threads = config.http_threads;
  bare.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  bare.set_keep_alive_max_count(10000);
  bare.Get(R"(/allocations/([^/]+))", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(bytes, "application/json");
  });
  const int bare_port = bare.bind_to_any_port("127.0.0.1");
  std::thread bare_thread([&] { bare.listen_after_bind(); });

  double best_ours = 0, best_bare = 0;
  for (int run = 0; run < runs; ++run) {
    best_bare = std::max(best_bare, load(bare_port, path, connections, seconds, bytes));
    best_ours = std::max(best_ours, load(ours, path, connections, seconds, bytes));
  }
  bare.stop();
  bare_thread.join();
  app.stop();
  std::filesystem::remove_all(config.data_dir);

  std::printf("GET %s, %d keep-alive connections, best of %d x %.0f s\n", "/allocations/{id}",
              connections, runs, seconds);
  std::printf("%-34s %12s\n", "", "requests/s");
  std::printf("%-34s %12.0f\n", "bare cpp-httplib handler", best_bare);
  std::printf("%-34s %12.0f\n", "warmpool API", best_ours);
  std::printf("ratio warmpool / bare: %.2fx (goal >= 0.8x)\n", best_ours / best_bare);
  return 0;
}
