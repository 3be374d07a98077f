// One pool over three fake engines in an EngineSet: placement, hand-outs
// and ticks while one engine is down, the grace, and the engine's return.
#include <catch2/catch.hpp>

#include "scheduler/three_engines.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using test::eventually;
using test::FakeEngine;
using S = InstanceState;

using test::Engines;

TEST_CASE("upkeep spreads the pool over three engines and records each instance's engine") {
  Engines e(6);
  e.settle(6);
  CHECK(e.by_engine() == std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}});
  for (const auto& i : e.store.instances(Show::Current)) CHECK(i.container_id.rfind(i.engine, 0) == 0);
}

TEST_CASE("with one engine down, hand-outs and ticks go on with the others") {
  Engines e(6);
  e.settle(6);
  e.b.set_reachable(false);
  CHECK_NOTHROW(e.scheduler->tick());  // finds b down; does not fail
  CHECK_FALSE(e.set.engine_up("b"));
  CHECK_FALSE(e.pool->engine_down());
  for (int i = 0; i < 4; ++i) CHECK(e.engine_of(e.allocate()) != "b");
  // b's idle instances count for nothing: upkeep brings the idle pool back on a and c.
  e.settle(6);
  CHECK(e.by_engine()["b"] == 2);  // kept, in their grace
  CHECK(e.by_engine()["a"] + e.by_engine()["c"] == 10);
  CHECK(e.scheduler->engine_reachable());
}

TEST_CASE("an idle instance whose engine dies at hand-out is skipped for one elsewhere") {
  Engines e(3, 0);  // paused: a hand-out unpauses through the engine
  e.settle(3);
  e.a.set_reachable(false);  // not noticed yet: the hand-out finds out
  e.b.set_reachable(false);
  const Allocation got = e.allocate();
  CHECK(e.engine_of(got) == "c");
  CHECK_FALSE(e.pool->engine_down());
}

TEST_CASE("allocations on a down engine last the grace; then they end and the instances go") {
  Engines e(3);
  e.settle(3);
  std::vector<Allocation> held;
  for (int i = 0; i < 3; ++i) held.push_back(e.allocate());
  std::string on_b;
  for (const auto& a : held)
    if (e.engine_of(a) == "b") on_b = a.id;
  REQUIRE_FALSE(on_b.empty());
  e.b.set_reachable(false);
  e.scheduler->tick();
  e.clock.advance_ms(29'000);
  e.scheduler->tick();
  CHECK(e.store.allocation(on_b)->current());
  e.clock.advance_ms(2'000);
  auto report = e.scheduler->tick();
  CHECK(report.engine_lost == 1);
  const auto ended = *e.store.allocation(on_b);
  CHECK_FALSE(ended.current());
  CHECK_THAT(ended.end_reason, Catch::Contains("engine b down for more than 30 s"));
  CHECK(e.store.instance(ended.instance_id)->state == S::Deleted);
  for (const auto& a : held)
    if (a.id != on_b) CHECK(e.store.allocation(a.id)->current());
  // b comes back: its old container has no live record and is removed.
  e.b.set_reachable(true);
  const auto before = e.b.containers().size();
  e.scheduler->tick();
  CHECK(e.b.containers().size() < before);
}

TEST_CASE("an engine back within the grace keeps its instances and allocations") {
  Engines e(3);
  e.settle(3);
  std::vector<Allocation> held;
  for (int i = 0; i < 3; ++i) held.push_back(e.allocate());
  e.c.set_reachable(false);
  e.scheduler->tick();
  e.clock.advance_ms(10'000);
  e.scheduler->tick();
  e.c.set_reachable(true);
  auto report = e.scheduler->tick();
  CHECK(e.set.engine_up("c"));
  CHECK(report.lost == 0);
  CHECK(report.engine_lost == 0);
  for (const auto& a : held) CHECK(e.store.allocation(a.id)->current());
  CHECK(e.by_engine(Show::Current)["c"] >= 1);
}

TEST_CASE("an engine back without its containers: they are removed, not restarted, and the pool stays elsewhere") {
  Engines e(6);
  e.settle(6);
  const std::string on_b = e.allocate_on("b");
  REQUIRE_FALSE(on_b.empty());
  e.b.set_reachable(false);
  e.settle(6);  // b's idle ones replaced on a and c
  for (const auto& [id, container] : e.b.containers()) e.b.crash(id);  // its dockerd was killed
  e.b.set_reachable(true);
  const int starts_on_b = e.b.count("start");
  const int created = e.a.count("create") + e.c.count("create");
  e.scheduler->tick();
  REQUIRE(eventually([&] { return e.by_engine()["b"] == 0 && e.pool->claimed().empty(); }));
  CHECK(e.b.count("start") == starts_on_b);
  CHECK(e.b.containers().empty());
  const auto ended = *e.store.allocation(on_b);
  CHECK_FALSE(ended.current());
  CHECK_THAT(ended.end_reason, Catch::Contains("instance lost"));
  e.settle(6);
  CHECK(e.a.count("create") + e.c.count("create") == created);  // nothing more was needed
}

TEST_CASE("every engine down: hand-outs are refused as the engine being down") {
  Engines e(0);
  e.settle(0);
  e.a.set_reachable(false);
  e.b.set_reachable(false);
  e.c.set_reachable(false);
  CHECK_THROWS(e.scheduler->tick());
  try {
    e.allocate();
    FAIL("expected a refusal");
  } catch (const AllocateError& err) {
    CHECK((err.kind() == AllocateError::Kind::EngineDown || err.kind() == AllocateError::Kind::Timeout));
  }
}
