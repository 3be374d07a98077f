// PATCH /pools/{name} on fakes: what changes and what is refused; instances
// made under the earlier settings are replaced, idle ones by upkeep and
// allocated ones when they return. And quotas per pool and overall.
#include <catch2/catch.hpp>

#include <set>

#include "support/pools_on_fakes.hpp"

using namespace warmpool;
using namespace warmpool::test;
using nlohmann::json;

namespace {

json small_pool(int min_idle = 2) {
  return {{"name", "small"}, {"image", "warmpool/pi-worker:latest"}, {"portFirst", 30100},
          {"portLast", 30199}, {"minIdle", min_idle}, {"maxIdle", 4}};
}

std::string image_of(PoolsOnFakes& fakes, std::int64_t instance) {
  return fakes.engine.containers().at(fakes.store.instance(instance)->container_id).spec.image;
}

// The images of the pool's idle instances that have a container.
std::multiset<std::string> idle_images(PoolsOnFakes& fakes, const std::string& pool) {
  std::multiset<std::string> out;
  const auto containers = fakes.engine.containers();
  for (const auto& i : fakes.store.instances_of(pool, Show::Current))
    if (is_idle(i.state) && containers.count(i.container_id)) out.insert(containers.at(i.container_id).spec.image);
  return out;
}

}  // namespace

TEST_CASE("pools: PATCH merges the fields it gives, keeps the rest, and persists") {
  PoolsOnFakes fakes;
  REQUIRE(fakes.call("POST", "/pools", small_pool(0)).first == 201);
  auto [ok, changed] = fakes.call("PATCH", "/pools/small", {{"maxIdle", 6}, {"clientQuota", 2}, {"name", "small"}});
  REQUIRE(ok == 200);
  CHECK(changed["maxIdle"] == 6);
  CHECK(changed["clientQuota"] == 2);
  CHECK(changed["portFirst"] == 30100);  // not given: kept
  CHECK(changed["image"] == "warmpool/pi-worker:latest");
  const auto stored = fakes.store.pool("small");
  REQUIRE(stored);
  CHECK(stored->max_idle == 6);
  CHECK(stored->client_quota == 2);
  CHECK(fakes.pools.find("small")->settings().client_quota == 2);  // in effect at once
  CHECK(fakes.call("GET", "/pools/small").second["maxIdle"] == 6);
}

TEST_CASE("pools: PATCH refuses bad input naming the field, and changes nothing") {
  PoolsOnFakes fakes;
  REQUIRE(fakes.call("POST", "/pools", small_pool(0)).first == 201);
  auto refused = [&](const std::string& path, const json& body, int status, const std::string& named) {
    auto [got, problem] = fakes.call("PATCH", path, body);
    CHECK(got == status);
    CHECK(problem["detail"].get<std::string>().find(named) != std::string::npos);
  };
  refused("/pools/small", {{"name", "other"}}, 400, "name");
  refused("/pools/small", {{"memoryMb", 1}}, 400, "memoryMb");
  refused("/pools/small", {{"maxIdle", 1}, {"minIdle", 3}}, 400, "maxIdle");
  refused("/pools/small", {{"portFirst", 30050}}, 409, "portFirst");  // overlaps default's 30000-30099
  refused("/pools/small", {{"health", "http"}}, 400, "reset");         // a worker reset needs a worker
  refused("/pools/small", {{"colour", "blue"}}, 400, "colour");
  fakes.engine.lose_image("warmpool/missing:latest");
  refused("/pools/small", {{"image", "warmpool/missing:latest"}}, 400, "warmpool/missing:latest");
  refused("/pools/nope", {{"maxIdle", 2}}, 404, "nope");
  CHECK(fakes.store.pool("small")->image == "warmpool/pi-worker:latest");
  CHECK(fakes.store.pool("small")->port_first == 30100);
  CHECK(fakes.store.pool("small")->memory_mb == 512);

  REQUIRE(fakes.call("DELETE", "/pools/small").first == 202);
  if (fakes.store.pool("small")) refused("/pools/small", {{"maxIdle", 2}}, 409, "draining");
}

TEST_CASE("pools: PATCH of the image replaces idle instances at once and the allocated one on its return") {
  PoolsOnFakes fakes;
  REQUIRE(fakes.call("POST", "/pools", small_pool(2)).first == 201);
  REQUIRE(eventually([&] { return fakes.idle_of("small") == 2; }));
  auto [ok, held] = fakes.call("POST", "/allocations", {{"pool", "small"}});
  REQUIRE(ok == 201);
  const auto held_instance = held["instance"].get<std::int64_t>();
  REQUIRE(eventually([&] { return fakes.idle_of("small") == 2; }));
  const std::set<std::int64_t> before = [&] {
    std::set<std::int64_t> ids;
    for (const auto& i : fakes.store.instances_of("small", Show::Current)) ids.insert(i.id);
    return ids;
  }();

  auto [patched, pool] = fakes.call("PATCH", "/pools/small", {{"image", "warmpool/pi-worker:next"}, {"memoryMb", 256}});
  REQUIRE(patched == 200);
  fakes.clock.advance_ms(10);  // instances made from now on are recorded after the change
  // Nothing made before is handed out any more.
  for (int k = 0; k < 2; ++k) {
    auto [got, a] = fakes.call("POST", "/allocations", {{"pool", "small"}, {"timeout_ms", 3000}});
    REQUIRE(got == 201);
    CHECK(before.count(a["instance"].get<std::int64_t>()) == 0);
    CHECK(image_of(fakes, a["instance"]) == "warmpool/pi-worker:next");
    CHECK(fakes.call("DELETE", "/allocations/" + a["id"].get<std::string>()).first == 200);
  }
  // The idle ones are replaced, with the new image and limits (the floor
  // of 2 kept; the released ones may be idle beside them).
  REQUIRE(eventually([&] {
    const auto images = idle_images(fakes, "small");
    return images.size() >= 2 && images.count("warmpool/pi-worker:next") == images.size();
  }));
  for (const auto& i : fakes.store.instances_of("small", Show::Current))
    if (i.id != held_instance) {
      CHECK(before.count(i.id) == 0);
      CHECK(fakes.engine.containers().at(i.container_id).spec.memory_bytes == 256ll << 20);
    }
  // The allocated one kept serving its allocation, then goes when it returns.
  CHECK(fakes.store.instance(held_instance)->state == InstanceState::Allocated);
  CHECK(fakes.call("DELETE", "/allocations/" + held["id"].get<std::string>()).first == 200);
  REQUIRE(eventually([&] { return fakes.store.instance(held_instance)->state == InstanceState::Deleted; }));
  REQUIRE(eventually([&] { return idle_images(fakes, "small").count("warmpool/pi-worker:latest") == 0; }));
  CHECK(fakes.live_of("default") >= 1);  // default untouched
}

TEST_CASE("pools: PATCH of the floor or the quota replaces no instance") {
  PoolsOnFakes fakes;
  REQUIRE(fakes.call("POST", "/pools", small_pool(2)).first == 201);
  REQUIRE(eventually([&] { return fakes.idle_of("small") == 2; }));
  const auto before = fakes.store.pool("small")->updated_ms;
  auto [ok, pool] = fakes.call("PATCH", "/pools/small", {{"minIdle", 3}, {"clientQuota", 5}, {"keepRunning", 2}});
  REQUIRE(ok == 200);
  fakes.clock.advance_ms(10);
  REQUIRE(eventually([&] { return fakes.idle_of("small") == 3; }));  // the new floor, at once
  CHECK(fakes.engine.count("remove") == 0);
  CHECK(fakes.store.pool("small")->updated_ms == before);
}

TEST_CASE("pools: PATCH of default changes its settings until the next start") {
  PoolsOnFakes fakes;
  REQUIRE(eventually([&] { return fakes.idle_of("default") >= 1; }));
  auto [ok, pool] = fakes.call("PATCH", "/pools/default", {{"image", "warmpool/pi-worker:next"}});
  REQUIRE(ok == 200);
  fakes.clock.advance_ms(10);
  CHECK(fakes.pool.settings().image == "warmpool/pi-worker:next");
  CHECK(fakes.store.pool("default")->image == "warmpool/pi-worker:next");
  REQUIRE(eventually([&] {
    const auto images = idle_images(fakes, "default");
    return !images.empty() && images.count("warmpool/pi-worker:next") == images.size();
  }));
}

TEST_CASE("quotas: a pool's quota counts the client's allocations in that pool; the overall one in all") {
  PoolsOnFakes fakes({.max_instances = 12, .min_idle = 0, .max_idle = 8, .keep_running = 1}, {.pool = 2, .overall = 3});
  json other = small_pool(0);
  other["clientQuota"] = 2;
  REQUIRE(fakes.call("POST", "/pools", other).first == 201);
  auto take = [&](const std::string& pool, const std::string& client) {
    return fakes.call("POST", "/allocations", {{"pool", pool}, {"client", client}, {"timeout_ms", 3000}});
  };
  // Two in default: its quota is reached there, not in small.
  REQUIRE(take("default", "front").first == 201);
  REQUIRE(take("default", "front").first == 201);
  auto [full, pool_problem] = take("default", "front");
  CHECK(full == 429);
  CHECK(pool_problem["scope"] == "pool");
  CHECK(pool_problem["pool"] == "default");
  CHECK(pool_problem["quota"] == 2);
  CHECK(pool_problem["current"] == 2);
  REQUIRE(take("small", "front").first == 201);
  // Three in all: the overall quota stops the fourth, though small has room.
  auto [over, overall_problem] = take("small", "front");
  CHECK(over == 429);
  CHECK(overall_problem["scope"] == "overall");
  CHECK(overall_problem["quota"] == 3);
  CHECK(overall_problem["current"] == 3);
  CHECK(overall_problem["detail"].get<std::string>().find("overall quota is 3") != std::string::npos);
  // Another client has its own counts.
  REQUIRE(take("small", "back").first == 201);
  REQUIRE(take("small", "back").first == 201);
  CHECK(take("small", "back").second["scope"] == "pool");
  CHECK(fakes.store.current_allocations_of_client("front") == 3);
  CHECK(fakes.store.current_allocations_of_client("front", "small") == 1);
}
