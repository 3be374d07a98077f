// PATCH /pools/{name} on the real engine: a BusyBox pool becomes a pool of
// pi workers (image, health, reset and limits in one change) while one of
// its instances is allocated. The idle ones are replaced with the new
// settings, nothing made before is handed out after the change, and the
// allocated one keeps serving, then is replaced when it is released.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "busybox.hpp"
#include "pool_calls.hpp"

using namespace warmpool;
using nlohmann::json;
using test::call;
using test::get_body;

namespace {

// This test's worker ports: 20000-20479, 40 a run (default's 20, the
// changed pool's 20).
int first_port() { return 20000 + static_cast<int>(std::random_device{}() % 12) * 40; }

}  // namespace

// On demand (`pools_integration_tests "[patch-drill]"`), not in CI: it fails
// intermittently (the pool's counts after a refill; a create of the new image
// not ready within 30 s), so it does not yet show the PATCH path works.
TEST_CASE("PATCH of a pool's image and limits: idle instances replaced at once, the allocated one on release",
          "[.][patch-drill]") {
  test::ensure_busybox_image();
  const int first = first_port();
  test::Stack stack([&](Config& c) {
    c.max_instances = 6;
    c.port_first = first;
    c.port_last = first + 19;
  });
  auto client = stack.client();
  REQUIRE(call(client, "POST", "/pools",
               {{"name", "edited"}, {"image", test::kBusyboxImage}, {"portFirst", first + 20},
                {"portLast", first + 39}, {"minIdle", 2}, {"maxIdle", 3}, {"memoryMb", 32}, {"pids", 16},
                {"health", "http"}, {"healthPath", "/"}, {"reset", "restart"}})
              .first == 201);
  auto idle_of_pool = [&] {
    std::vector<Instance> idle;
    for (const auto& i : stack.store.instances_of("edited", Show::Current))
      if (is_idle(i.state)) idle.push_back(i);
    return idle;
  };
  auto image_of = [&](const std::string& container) {
    for (const auto& c : stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}}))
      if (c.id == container) return c.image;
    return std::string("(gone)");
  };
  REQUIRE(stack.eventually([&] { return idle_of_pool().size() == 2; }));

  auto [ok, held] = call(client, "POST", "/allocations", {{"pool", "edited"}, {"timeout_ms", 20000}});
  REQUIRE(ok == 201);
  const std::string held_endpoint = held["endpoint"];
  const auto held_instance = held["instance"].get<std::int64_t>();
  CHECK(get_body(held_endpoint, "/").find("BusyBox httpd") != std::string::npos);
  REQUIRE(stack.eventually([&] { return idle_of_pool().size() == 2; }));
  std::set<std::int64_t> before;
  for (const auto& i : stack.store.instances_of("edited", Show::Current)) before.insert(i.id);

  auto [patched, pool] = call(client, "PATCH", "/pools/edited",
                              {{"image", stack.config.image}, {"health", "worker"}, {"reset", "worker"},
                               {"memoryMb", 128}, {"pids", 64}});
  REQUIRE(patched == 200);
  CHECK(pool["image"] == stack.config.image);
  CHECK(pool["memoryMb"] == 128);
  CHECK(stack.store.pool("edited")->image == stack.config.image);

  // Right after the change, a hand-out gets a pi worker made with the new settings.
  auto [ok2, fresh] = call(client, "POST", "/allocations", {{"pool", "edited"}, {"timeout_ms", 30000}});
  REQUIRE(ok2 == 201);
  CHECK(before.count(fresh["instance"].get<std::int64_t>()) == 0);
  CHECK(fresh["token"].get<std::string>().size() == 64);
  CHECK(get_body(fresh["endpoint"], "/ping").find("ok") != std::string::npos);
  CHECK(call(client, "DELETE", "/allocations/" + fresh["id"].get<std::string>()).first == 200);

  // The idle ones made before are replaced: the floor is kept with the new image.
  REQUIRE(stack.eventually([&] {
    const auto idle = idle_of_pool();
    if (idle.size() != 2) return false;
    for (const auto& i : idle)
      if (before.count(i.id) || image_of(i.container_id) != stack.config.image) return false;
    return true;
  }));

  // The allocated one kept serving; released, it is removed, not made idle.
  const auto held_container = stack.store.instance(held_instance)->container_id;
  CHECK(stack.store.instance(held_instance)->state == InstanceState::Allocated);
  CHECK(get_body(held_endpoint, "/").find("BusyBox httpd") != std::string::npos);
  CHECK(call(client, "DELETE", "/allocations/" + held["id"].get<std::string>()).first == 200);
  REQUIRE(stack.eventually([&] { return stack.store.instance(held_instance)->state == InstanceState::Deleted; }));
  REQUIRE(stack.eventually([&] { return image_of(held_container) == "(gone)"; }));
  for (const auto& c :
       stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}, {engine::kPoolLabel, "edited"}}))
    CHECK(c.image == stack.config.image);

  // Every later hand-out is a pi worker.
  for (int k = 0; k < 3; ++k) {
    auto [got, a] = call(client, "POST", "/allocations", {{"pool", "edited"}, {"timeout_ms", 30000}});
    REQUIRE(got == 201);
    CHECK(before.count(a["instance"].get<std::int64_t>()) == 0);
    CHECK(get_body(a["endpoint"], "/ping").find("ok") != std::string::npos);
  }
}
