// GET /health: what it says about the database and the engine, and that it
// never waits on the engine when the scheduler has looked already.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "config/config.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"
#include "support/faulty_store.hpp"

using namespace warmpool;
using nlohmann::json;
using test::StoreOp;

namespace {

struct Health {
  explicit Health(api::HealthSource source = {})
      : lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 16, .normal_capacity = 16}),
        pool(PoolSettings{}, store, engine, worker, lanes, clock),
        server(config, pool, store, engine, lanes, std::move(source)) {
    port = server.bind_any_port("127.0.0.1");
    serving = std::thread([this] { server.listen_after_bind(); });
  }
  ~Health() {
    server.stop();
    serving.join();
    lanes.stop();
  }
  std::pair<int, json> get() {
    httplib::Client client("127.0.0.1", port);
    auto res = client.Get("/health");
    REQUIRE(res);
    return {res->status, json::parse(res->body)};
  }

  Config config;
  SqliteStore real{":memory:"};
  test::FaultyStore store{real};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  ManualClock clock;
  Lanes lanes;
  Pool pool;
  api::Server server;
  int port = 0;
  std::thread serving;
};

}  // namespace

TEST_CASE("/health is degraded while the database reads but cannot take writes, and ok once it can") {
  Health h;
  auto [status, body] = h.get();
  CHECK(status == 200);
  CHECK(body["database"]["ok"] == true);

  h.store.fail_always(StoreOp::CheckWritable);
  // The write check runs at most once a second: the next one finds it.
  REQUIRE(test::eventually([&] {
    std::tie(status, body) = h.get();
    return status == 503;
  }));
  CHECK(body["status"] == "degraded");
  CHECK(body["database"]["ok"] == false);
  CHECK(body["database"]["error"].get<std::string>().find("check_writable") != std::string::npos);

  h.store.clear();
  std::tie(status, body) = h.get();  // a failing database is looked at again at once
  CHECK(status == 200);
  CHECK(body["database"]["ok"] == true);
}

TEST_CASE("/health reports the engine as the scheduler saw it, without calling the engine") {
  bool reachable = false;
  Health h({.scheduler_ok = [&] { return reachable; },
            .scheduler_error = [&] { return reachable ? std::string() : std::string("version: engine unreachable"); },
            .engine = [&]() -> std::optional<json> {
              if (!reachable) return json{{"reachable", false}, {"error", "version: engine unreachable"}};
              return json{{"reachable", true}, {"version", "20.10.24"}, {"apiVersion", "1.41"}};
            }});
  // An engine that would hang: /health must not ask it.
  h.engine.delay("version", std::chrono::seconds(30));
  auto [status, body] = h.get();
  CHECK(status == 503);
  CHECK(body["engine"] == json{{"reachable", false}, {"error", "version: engine unreachable"}});
  CHECK(body["scheduler"]["lastError"] == "version: engine unreachable");
  reachable = true;
  std::tie(status, body) = h.get();
  CHECK(status == 200);
  CHECK(body["engine"]["version"] == "20.10.24");
  CHECK(h.engine.count("version") == 0);
}

TEST_CASE("/health asks the engine itself (at most once a second) only before the scheduler has looked") {
  Health h({.scheduler_ok = {}, .scheduler_error = {}, .engine = [] { return std::optional<json>(); }});
  auto [status, body] = h.get();
  CHECK(status == 200);
  CHECK(body["engine"]["reachable"] == true);
  h.get();
  CHECK(h.engine.count("version") == 1);  // the second answer came from the cache
}
