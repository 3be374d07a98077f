// What the hand-out benchmarks share: a manager (App) with its pool filled
// and settled, hand-outs timed from many clients at once, and a table row of
// p50/p99 against a baseline.
#pragma once

#include <barrier>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/app.hpp"
#include "common.hpp"

namespace warmpool::bench {

struct Summary {
  std::vector<double> samples;
  double p50() const { return percentile(samples, 0.5); }
  double p99() const { return percentile(samples, 0.99); }
};

inline Config bench_config(int instances, int keep_running, int port_first, const char* pause_via = "engine") {
  Config c;
  c.pause_via = pause_via;
  c.insecure = true;  // a loopback bench: no tokens
  c.manager_id = "test-bench-" + std::to_string(std::random_device{}() % 100000);
  c.data_dir = (std::filesystem::temp_directory_path() / ("warmpool-" + c.manager_id)).string();
  c.max_instances = instances;
  c.min_idle = instances;
  c.max_idle = instances;
  c.keep_running = keep_running;
  c.port_first = port_first;
  c.port_last = port_first + instances + 10;
  c.listen_port = c.port_last + 1;  // the manager's, beside its workers' (not an ephemeral port)
  c.host_limit = 1.0;
  c.scheduler_period_ms = 1000;
  c.queue_capacity = 4096;
  c.log_level = "warn";
  // Released instances paused at once, beyond keep_running: the paused
  // figures are of paused instances only.
  c.pool_policy = "fixed";
  c.pause_grace_ms = 0;
  return c;
}

// The same pool with the default tiers: released instances stay running
// through --pause-grace-ms, so quick reuse needs no unpause.
inline Config bench_config_with_grace(int instances, int port_first) {
  Config c = bench_config(instances, 0, port_first);
  const Config defaults;
  c.pool_policy = defaults.pool_policy;
  c.pause_grace_ms = defaults.pause_grace_ms;
  return c;
}

// An App with its pool filled and settled; removes its containers at the end.
class Rig {
 public:
  // settle: wait_settled() before returning (a rig of several pools waits its own way).
  Rig(Config config, bool settle = true) : app_(std::make_unique<App>(std::move(config))) {
    app_->start_scheduling();
    port_ = app_->serve_in_background("127.0.0.1", app_->config.listen_port);
    if (settle) wait_settled();
  }
  ~Rig() {
    app_->stop();
    for (const auto& c : app_->engine.list({{engine::kManagerLabel, app_->config.manager_id}}))
      app_->engine.remove(c.id);
    std::filesystem::remove_all(app_->config.data_dir);
  }
  // Waits until every instance is idle in its policy state and nothing is in flight.
  void wait_settled() {
    const int n = app_->config.max_instances;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      int ready = 0, paused = 0;
      for (const auto& i : app_->store.instances(Show::Current)) {
        ready += i.state == InstanceState::Ready;
        paused += i.state == InstanceState::Paused;
      }
      if (ready == app_->config.keep_running && ready + paused == n && app_->pool.claimed().empty())
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("the pool did not settle within 120 s");
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_tcp_nodelay(true);
    c.set_keep_alive(true);
    c.set_read_timeout(30, 0);
    return c;
  }
  App& app() { return *app_; }

 private:
  std::unique_ptr<App> app_;
  int port_ = 0;
};

// The main API, or PT Anywhere's view of it (no body; an integer id).
enum class Via { Main, Compat };
constexpr const char* kCompat = "/compat/ptanywhere";

inline const std::string kPlainBody = R"({"timeout_ms":30000})";

inline std::string allocate(httplib::Client& c, Via via = Via::Main, const std::string& body = kPlainBody) {
  auto r = via == Via::Main ? c.Post("/allocations", body, "application/json")
                            : c.Post(std::string(kCompat) + "/allocations");
  if (!r || r->status != 201)
    throw std::runtime_error("allocation failed: " + (r ? r->body : httplib::to_string(r.error())));
  const auto id = nlohmann::json::parse(r->body)["id"];
  return id.is_string() ? id.get<std::string>() : std::to_string(id.get<std::int64_t>());
}

inline void release(httplib::Client& c, const std::string& id, Via via = Via::Main) {
  auto r = c.Delete((via == Via::Main ? std::string() : std::string(kCompat)) + "/allocations/" + id);
  if (!r || r->status != 200) throw std::runtime_error("release failed");
}

// `clients` threads each take one instance at the same moment, `rounds` times;
// returns the hand-out latencies.
// `settled` waits until the pool is back as it was (default: Rig::wait_settled).
inline Summary hand_out(Rig& rig, int clients, int rounds, Via via = Via::Main, const std::string& body = kPlainBody,
                        const std::function<void()>& settled = {}) {
  Summary s;
  std::mutex mu;
  for (int round = 0; round < rounds; ++round) {
    std::barrier start(clients);
    std::vector<std::string> ids(static_cast<std::size_t>(clients));
    std::vector<std::thread> threads;
    for (int k = 0; k < clients; ++k) {
      threads.emplace_back([&, k] {
        auto c = rig.client();
        c.Get("/health");  // connect first: the hand-out is timed, not the handshake
        start.arrive_and_wait();
        const auto t0 = std::chrono::steady_clock::now();
        ids[static_cast<std::size_t>(k)] = allocate(c, via, body);
        const double ms = ms_since(t0);
        std::lock_guard lock(mu);
        s.samples.push_back(ms);
      });
    }
    for (auto& t : threads) t.join();
    auto c = rig.client();
    for (const auto& id : ids) release(c, id, via);
    if (settled) settled();
    else rig.wait_settled();
  }
  return s;
}

inline void row(const char* what, const Summary& s, const Summary& base) {
  std::printf("%-44s %9.2f %9.2f %10.2fx %10.2fx\n", what, s.p50(), s.p99(), s.p50() / base.p50(),
              s.p99() / base.p99());
}

// Paused hand-outs (the engine's unpause) through the engine the
// environment names (a unix socket) against the same through a tcp:// engine
// with TLS, alternating in one run; prints the table and the ratio.
void compare_engines(const std::string& tls_endpoint, const std::string& cert_dir, int clients, int rounds);

}  // namespace warmpool::bench
