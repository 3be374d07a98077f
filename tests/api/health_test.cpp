// GET /health: what it says about the database and the engine, and that it
// never waits on the engine when the scheduler has looked already.
#include <catch2/catch.hpp>

#include "api_on_fakes.hpp"
#include "support/eventually.hpp"

using namespace warmpool;
using nlohmann::json;
using test::StoreOp;


TEST_CASE("/health is degraded while the database reads but cannot take writes, and ok once it can") {
  test::ApiOnFakes h;
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
  test::ApiOnFakes h({.scheduler_ok = [&] { return reachable; },
            .scheduler_error = [&] { return reachable ? std::string() : std::string("version: engine unreachable"); },
            .engine = [&]() -> std::optional<json> {
              if (!reachable) return json{{"reachable", false}, {"error", "version: engine unreachable"}};
              return json{{"reachable", true}, {"version", "20.10.24"}, {"apiVersion", "1.41"}};
            },
            .managers = [] {
              return json{{"self", "a:8080/1"}, {"leading", false}, {"leader", "b:8080/2"}, {"database", "postgresql"}};
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
  CHECK(body["managers"]["leader"] == "b:8080/2");  // several managers: who leads
}

TEST_CASE("/health asks the engine itself (at most once a second) only before the scheduler has looked") {
  test::ApiOnFakes h({.scheduler_ok = {}, .scheduler_error = {}, .engine = [] { return std::optional<json>(); }, .managers = {}});
  auto [status, body] = h.get();
  CHECK(status == 200);
  CHECK(body["engine"]["reachable"] == true);
  h.get();
  CHECK(h.engine.count("version") == 1);  // the second answer came from the cache
}
