// The scheduler on the freezer path: "paused" comes from the freezer, since
// the engine reports a frozen container as running. Freezes and thaws behind
// the manager's back are found by a tick and mended as on the engine path
// (scheduler_test.cpp).
#include <catch2/catch.hpp>

#include "support/scheduler_fixture.hpp"

using namespace warmpool;
using test::eventually;
using namespace std::chrono_literals;
using S = InstanceState;
using engine::ContainerStatus;

namespace {

struct FreezerFixture : test::SchedulerFixture {
  FreezerFixture(int max_instances, int min_idle, int keep_running)
      : SchedulerFixture({.policy = {.max_instances = max_instances,
                                     .min_idle = min_idle,
                                     .max_idle = max_instances,
                                     .keep_running = keep_running},
                          .port_first = 31100,
                          .freezer = true},
                         10s) {}
};

}  // namespace

TEST_CASE("freezer path: frozen idle instances the engine calls running are healthy") {
  FreezerFixture f(3, 3, 1);
  f.settle_pool(3);
  CHECK(f.count(S::Paused) == 2);
  for (const auto& [id, c] : f.engine.containers()) CHECK(c.status == ContainerStatus::Running);
  auto report = f.scheduler->tick();
  CHECK(report.faults == 0);
  CHECK(f.engine.count("pause") == 0);
  CHECK(f.count(S::Paused) == 2);
}

TEST_CASE("freezer path: an idle instance thawed behind our back is running-idle, then frozen again") {
  FreezerFixture f(1, 1, 0);
  f.settle_pool(1);
  const Instance paused = f.only(S::Paused);
  REQUIRE(f.engine.set_frozen(paused.container_id, false));  // a hand writes THAWED
  auto report = f.scheduler->tick();
  CHECK(report.faults == 0);
  // Confirmed running by a ping, then upkeep (keep_running 0) froze it again.
  CHECK(f.store.instance(paused.id)->state == S::Paused);
  CHECK(*f.engine.frozen(paused.container_id));
  CHECK(f.store.instance(paused.id)->restarts == 0);
}

TEST_CASE("freezer path: an allocated instance frozen behind our back is a fault, mended by a restart") {
  FreezerFixture f(1, 1, 0);
  f.settle_pool(1);
  const Allocation a = f.pool->allocate({0, "test", std::chrono::steady_clock::now() + 2s});
  const std::string container = f.store.instance(a.instance_id)->container_id;
  REQUIRE(f.engine.set_frozen(container, true));  // a hand writes FROZEN
  auto report = f.scheduler->tick();
  CHECK(report.faults == 1);
  CHECK_THAT(f.store.allocation(a.id)->end_reason, Catch::Contains("container is paused"));
  f.settle_pool(1);
  CHECK(f.store.instance(a.instance_id)->restarts == 1);
  CHECK(f.engine.count("stop") == 1);  // after a thaw: a frozen process cannot stop
}

TEST_CASE("freezer path: a frozen orphan container is thawed, then removed") {
  FreezerFixture f(1, 0, 0);
  const std::string stray = f.engine.add_stray({{engine::kManagerLabel, "warmpool"}, {engine::kInstanceLabel, "77"}});
  REQUIRE(f.engine.set_frozen(stray, true));
  auto report = f.scheduler->tick();
  CHECK(report.orphans == 1);
  CHECK(f.engine.containers().count(stray) == 0);
}
