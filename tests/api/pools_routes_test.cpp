// Several pools through the API, on fakes: records, hand-outs by pool,
// bad input, draining, and the capacity the pools share.
#include <catch2/catch.hpp>

#include "support/pools_on_fakes.hpp"

using namespace warmpool;
using namespace warmpool::test;
using nlohmann::json;

namespace {
json large_pool(const std::string& name = "large", int first = 30100, int last = 30199) {
  return {{"name", name}, {"image", "warmpool/pi-worker:large"}, {"memoryMb", 1024},
          {"portFirst", first}, {"portLast", last}, {"minIdle", 1}, {"maxIdle", 3}};
}
int port_of(const json& allocation) {
  const std::string endpoint = allocation["endpoint"];
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}
}  // namespace

TEST_CASE("pools: the flags' pool is the record `default`; a new pool is recorded, listed and served") {
  PoolsOnFakes fakes;
  auto [status, list] = fakes.call("GET", "/pools");
  REQUIRE(status == 200);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["name"] == "default");
  CHECK(list[0]["portFirst"] == 30000);
  CHECK(list[0]["state"] == "active");

  auto [created, pool] = fakes.call("POST", "/pools", large_pool());
  REQUIRE(created == 201);
  CHECK(pool["name"] == "large");
  CHECK(pool["memoryMb"] == 1024);
  CHECK(pool["cpus"] == 1.0);  // not given: the default pool's
  CHECK(pool["minIdle"] == 1);
  CHECK(fakes.call("GET", "/pools").second.size() == 2);
  CHECK(fakes.call("GET", "/pools/large").first == 200);
  CHECK(fakes.store.pool("large")->image == "warmpool/pi-worker:large");

  // Its scheduler keeps its floor, in its own port range, with its image and label.
  REQUIRE(eventually([&] { return fakes.idle_of("large") >= 1; }));
  auto [ok, allocation] = fakes.call("POST", "/allocations", {{"pool", "large"}});
  REQUIRE(ok == 201);
  CHECK(allocation["pool"] == "large");
  CHECK(port_of(allocation) >= 30100);
  CHECK(port_of(allocation) <= 30199);
  const auto instance = fakes.store.instance(allocation["instance"].get<std::int64_t>());
  REQUIRE(instance);
  CHECK(instance->pool == "large");
  const auto container = fakes.engine.containers().at(instance->container_id);
  CHECK(container.spec.image == "warmpool/pi-worker:large");
  CHECK(container.spec.labels.at(engine::kPoolLabel) == "large");
  CHECK(container.spec.memory_bytes == 1024ll << 20);

  // Without a pool: default, from default's ports.
  auto [ok2, plain] = fakes.call("POST", "/allocations", json::object());
  REQUIRE(ok2 == 201);
  CHECK(plain["pool"] == "default");
  CHECK(port_of(plain) < 30100);

  // /details shows each pool.
  auto [s0, details] = fakes.call("GET", "/details");
  REQUIRE(s0 == 200);
  REQUIRE(details["pools"].size() == 2);
  CHECK(details["pools"][1]["name"] == "large");
  CHECK(details["pools"][1]["byState"]["allocated"] == 1);

  // Lists filter by pool.
  auto [s1, mine] = fakes.call("GET", "/allocations?pool=large");
  REQUIRE(s1 == 200);
  REQUIRE(mine.size() == 1);
  CHECK(mine[0]["id"] == allocation["id"]);
  auto [s2, instances] = fakes.call("GET", "/instances?pool=large");
  REQUIRE(s2 == 200);
  for (const auto& i : instances) CHECK(i["pool"] == "large");
  CHECK(fakes.call("GET", "/instances?pool=Bad_Name").first == 400);

  // A release goes through the allocation's own pool: its instance comes back idle there.
  CHECK(fakes.call("DELETE", "/allocations/" + allocation["id"].get<std::string>()).first == 200);
  REQUIRE(eventually([&] { return is_idle(fakes.store.instance(instance->id)->state); }));
  CHECK(fakes.store.instance(instance->id)->pool == "large");
}

TEST_CASE("pools: an unknown pool is a 404 naming it, and nothing is handed out") {
  PoolsOnFakes fakes;
  auto [status, problem] = fakes.call("POST", "/allocations", {{"pool", "nope"}});
  CHECK(status == 404);
  CHECK(problem["pool"] == "nope");
  CHECK(problem["detail"].get<std::string>().find("nope") != std::string::npos);
  CHECK(fakes.store.allocations(Show::All).empty());
  CHECK(fakes.call("GET", "/pools/nope").first == 404);
  CHECK(fakes.call("DELETE", "/pools/nope").first == 404);
}

TEST_CASE("pools: bad records are refused with the field named, and change nothing") {
  PoolsOnFakes fakes;
  auto refused = [&](const json& body, int status, const std::string& field) {
    auto [got, problem] = fakes.call("POST", "/pools", body);
    CHECK(got == status);
    CHECK(problem["detail"].get<std::string>().find(field) != std::string::npos);
  };
  for (const char* bad : {"Large", "-x", "a_b", "", "x.y"}) {
    json body = large_pool();
    body["name"] = bad;
    refused(body, 400, "name");
  }
  refused(json{{"name", "x"}, {"image", "i"}, {"portFirst", 30100}}, 400, "portLast");
  refused(large_pool("overlap", 30050, 30150), 409, "portFirst");  // default holds 30000-30099
  json mismatched = large_pool();
  mismatched["health"] = "http";  // a worker reset needs a worker
  refused(mismatched, 400, "reset");
  json unknown_field = large_pool();
  unknown_field["colour"] = "blue";
  refused(unknown_field, 400, "colour");
  fakes.engine.lose_image("warmpool/missing:latest");
  json missing = large_pool();
  missing["image"] = "warmpool/missing:latest";
  refused(missing, 400, "warmpool/missing:latest");
  CHECK(fakes.store.pools().size() == 1);

  REQUIRE(fakes.call("POST", "/pools", large_pool()).first == 201);
  refused(large_pool("large", 30300, 30399), 409, "large");  // the name is taken
  CHECK(fakes.store.pools().size() == 2);
}

TEST_CASE("pools: deleting one drains it; default cannot be deleted") {
  PoolsOnFakes fakes;
  CHECK(fakes.call("DELETE", "/pools/default").first == 409);
  REQUIRE(fakes.call("POST", "/pools", large_pool()).first == 201);
  REQUIRE(eventually([&] { return fakes.idle_of("large") >= 1; }));
  auto [ok, held] = fakes.call("POST", "/allocations", {{"pool", "large"}});
  REQUIRE(ok == 201);
  REQUIRE(eventually([&] { return fakes.idle_of("large") >= 1; }));  // the floor refilled

  auto [accepted, draining] = fakes.call("DELETE", "/pools/large");
  CHECK(accepted == 202);
  CHECK(draining["state"] == "draining");
  auto [refused, problem] = fakes.call("POST", "/allocations", {{"pool", "large"}});
  CHECK(refused == 409);
  CHECK(problem["pool"] == "large");

  // Idle ones go; the allocated one stays with its allocation.
  REQUIRE(eventually([&] { return fakes.live_of("large") == 1; }));
  const auto instance = held["instance"].get<std::int64_t>();
  CHECK(fakes.store.instance(instance)->state == InstanceState::Allocated);
  CHECK(fakes.call("GET", "/pools/large").second["state"] == "draining");

  // Its release empties the pool, and then the pool is gone.
  CHECK(fakes.call("DELETE", "/allocations/" + held["id"].get<std::string>()).first == 200);
  REQUIRE(eventually([&] { return fakes.live_of("large") == 0; }));
  REQUIRE(eventually([&] { return fakes.call("GET", "/pools/large").first == 404; }));
  CHECK(fakes.store.allocation(held["id"])->pool == "large");  // history keeps it
  CHECK(fakes.call("DELETE", "/allocations/" + held["id"].get<std::string>()).first == 200);  // still idempotent
  CHECK(fakes.live_of("default") >= 1);  // default untouched
}

TEST_CASE("pools: one pool's burst leaves the capacity another pool's floor needs") {
  // 4 places; default keeps a floor of 2.
  PoolsOnFakes fakes({.max_instances = 4, .min_idle = 2, .max_idle = 4, .keep_running = 1});
  REQUIRE(eventually([&] { return fakes.idle_of("default") == 2; }));
  json burst = large_pool();
  burst["minIdle"] = 0;
  burst["maxIdle"] = 4;
  REQUIRE(fakes.call("POST", "/pools", burst).first == 201);
  // The burst takes the 2 free places, then waits.
  std::vector<json> held;
  for (int k = 0; k < 2; ++k) {
    auto [ok, a] = fakes.call("POST", "/allocations", {{"pool", "large"}, {"timeout_ms", 2000}});
    REQUIRE(ok == 201);
    held.push_back(a);
  }
  auto [timeout, problem] = fakes.call("POST", "/allocations", {{"pool", "large"}, {"timeout_ms", 200}});
  CHECK(timeout == 503);
  // default's floor was never taken: both its idle instances are still there
  // and a hand-out from default, then its refill, still work.
  CHECK(fakes.live_of("default") == 2);
  auto [ok, a] = fakes.call("POST", "/allocations", json::object());
  REQUIRE(ok == 201);
  CHECK(fakes.live_of("large") == 2);
}
