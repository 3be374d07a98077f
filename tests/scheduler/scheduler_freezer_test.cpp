// The scheduler on the freezer path: "paused" comes from the freezer, since
// the engine reports a frozen container as running. Freezes and thaws behind
// the manager's back are found by a tick and mended as on the engine path
// (scheduler_test.cpp).
#include <catch2/catch.hpp>

#include "scheduler/scheduler.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_freezer.hpp"
#include "support/fake_host.hpp"
#include "support/fake_worker.hpp"

using namespace warmpool;
using test::eventually;
using namespace std::chrono_literals;
using S = InstanceState;
using engine::ContainerStatus;

namespace {

struct FreezerFixture {
  FreezerFixture(int max_instances, int min_idle, int keep_running)
      : lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 1024, .normal_capacity = 1024}) {
    PoolSettings s;
    s.policy.max_instances = max_instances;
    s.policy.min_idle = min_idle;
    s.policy.max_idle = max_instances;
    s.policy.keep_running = keep_running;
    s.port_first = 31100;
    s.port_last = 31199;
    s.ready_timeout = 2s;
    s.max_restarts = 2;
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock, &host, nullptr,
                                  SteadyClock::real(), &pauser);
    scheduler = std::make_unique<Scheduler>(Scheduler::Settings{.period = 10s}, *pool, store, engine,
                                            worker, clock, host);
  }
  ~FreezerFixture() {
    scheduler->stop();
    lanes.stop();
  }
  void settle_pool(int idle) {
    REQUIRE(eventually([&] {
      scheduler->tick();
      return count(S::Ready) + count(S::Paused) == idle && pool->claimed().empty();
    }));
  }
  int count(S state) {
    int n = 0;
    for (const auto& i : store.instances(Show::Current)) n += i.state == state;
    return n;
  }
  Instance only(S state) {
    for (const auto& i : store.instances(Show::Current))
      if (i.state == state) return i;
    FAIL("no instance in state " << to_string(state));
    return {};
  }

  SqliteStore store{":memory:"};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  test::FakeFreezer freezer{engine};
  Pauser pauser{engine, &freezer, "test: the fake freezer"};
  ManualClock clock;
  test::FixedHostUsage host;
  Lanes lanes;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<Scheduler> scheduler;
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
