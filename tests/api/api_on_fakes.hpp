// The HTTP API of one manager on fakes: a pool on the fake engine and
// workers, its store behind a FaultyStore, served on a free loopback port.
#pragma once

#include <thread>
#include <utility>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "config/config.hpp"
#include "metrics/metrics.hpp"
#include "store/sqlite_store.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"
#include "support/faulty_store.hpp"

namespace warmpool::test {

using nlohmann::json;

inline constexpr Lanes::Settings kLanes{.high_threads = 1, .normal_threads = 1, .high_capacity = 16,
                                        .normal_capacity = 16};

struct ApiOnFakes {
  explicit ApiOnFakes(api::HealthSource source = {}, Lanes::Settings lane_settings = kLanes,
                      PoolSettings pool_settings = {})
      : lanes(lane_settings),
        pool(std::move(pool_settings), store, engine, worker, lanes, clock, nullptr, &metrics),
        server(config, pool, store, engine, lanes, std::move(source), &metrics) {
    port = server.bind_any_port("127.0.0.1");
    serving = std::thread([this] { server.listen_after_bind(); });
  }
  ~ApiOnFakes() {
    server.stop();
    serving.join();
    lanes.stop();
  }
  std::pair<int, json> get(const std::string& path = "/health") {
    httplib::Client client("127.0.0.1", port);
    auto res = client.Get(path);
    REQUIRE(res);
    return {res->status, json::parse(res->body)};
  }

  Config config;
  SqliteStore real{":memory:"};
  FaultyStore store{real};
  FakeEngine engine;
  FakeWorker worker{engine};
  ManualClock clock;
  Lanes lanes;
  Metrics metrics;
  Pool pool;
  api::Server server;
  int port = 0;
  std::thread serving;
};

}  // namespace warmpool::test
