// Several pools on the fake engine and workers: the default pool and its
// scheduler, the registry of the others, and the HTTP API serving them all,
// on a free loopback port. Schedulers tick every 20 ms.
#pragma once

#include <thread>
#include <utility>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/pools_routes.hpp"
#include "api/server.hpp"
#include "config/config.hpp"
#include "metrics/metrics.hpp"
#include "pools/pools.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_host.hpp"
#include "support/fake_worker.hpp"

namespace warmpool::test {

struct PoolsOnFakes {
  static PoolSettings default_settings(PoolPolicy policy) {
    PoolSettings s;
    s.policy = policy;
    s.manager_id = "fakes";
    s.port_first = 30000;
    s.port_last = 30099;
    s.ready_timeout = std::chrono::seconds(2);
    return s;
  }
  static PoolSettings with_quotas(PoolSettings s, ClientQuotas quotas) {
    s.client_quota = quotas.pool;
    s.overall_quota = quotas.overall;
    return s;
  }
  static Scheduler::Settings scheduling() {
    return {.period = std::chrono::milliseconds(20), .watch_events = false};
  }

  // `quotas`: the default pool's per-client quota and the overall one.
  explicit PoolsOnFakes(PoolPolicy policy = {.max_instances = 8, .min_idle = 1, .max_idle = 4, .keep_running = 1},
                        ClientQuotas quotas = {})
      : lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 256, .normal_capacity = 256}),
        pool(with_quotas(default_settings(policy), quotas), store, engine, worker, lanes, clock, &host, &metrics),
        scheduler(default_scheduling(), pool, store, engine, clock, host, nullptr),
        pools({store, engine, worker, lanes, clock, host, &metrics, nullptr}, scheduling(), pool, scheduler),
        server(config, pool, store, engine, lanes, {}, &metrics) {
    config.insecure = true;
    pools.load();
    server.serve_pools(pools);
    api::add_pools_routes(server, pools, store);
    port = server.bind_any_port("127.0.0.1");
    serving = std::thread([this] { server.listen_after_bind(); });
    scheduler.start();
    pools.start();
  }
  ~PoolsOnFakes() {
    server.stop();
    serving.join();
    pools.stop();
    scheduler.stop();
    lanes.stop();
  }

  Scheduler::Settings default_scheduling() {
    Scheduler::Settings s = scheduling();
    s.reconciles = [this](const std::string& label) { return pools.reconciled_by_default(label); };
    return s;
  }

  std::pair<int, nlohmann::json> call(const std::string& method, const std::string& path,
                                      const nlohmann::json& body = nullptr) {
    httplib::Client client("127.0.0.1", port);
    const std::string text = body.is_null() ? "" : body.dump();
    httplib::Result res = method == "GET"      ? client.Get(path)
                          : method == "DELETE" ? client.Delete(path)
                          : method == "PATCH"  ? client.Patch(path, text, "application/json")
                                               : client.Post(path, text, "application/json");
    REQUIRE(res);
    return {res->status, res->body.empty() ? nlohmann::json() : nlohmann::json::parse(res->body)};
  }

  int live_of(const std::string& name) { return static_cast<int>(store.instances_of(name, Show::Current).size()); }
  int idle_of(const std::string& name) {
    int n = 0;
    for (const auto& i : store.instances_of(name, Show::Current)) n += is_idle(i.state);
    return n;
  }

  Config config;
  SqliteStore store{":memory:"};
  FakeEngine engine;
  FakeWorker worker{engine};
  ManualClock clock;
  FixedHostUsage host;
  Lanes lanes;
  Metrics metrics;
  Pool pool;
  Scheduler scheduler;
  Pools pools;
  api::Server server;
  int port = 0;
  std::thread serving;
};

}  // namespace warmpool::test
