// The scheduler when the store fails: a tick whose read or write fails is
// caught and reported, leaves no instance claimed and no allocation lost, and
// the next tick after the store is back does what the failed one could not.
#include <catch2/catch.hpp>

#include "metrics/metrics.hpp"
#include "scheduler/scheduler.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_worker.hpp"
#include "support/fake_engine.hpp"
#include "support/faulty_store.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using S = InstanceState;
using test::eventually;
using test::StoreOp;

namespace {

struct Fixture {
  explicit Fixture(std::chrono::milliseconds period = 10s, Retention retention = {})
      : lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 1024, .normal_capacity = 1024}) {
    PoolSettings s;
    s.policy.max_instances = 2;
    s.policy.min_idle = 1;
    s.policy.max_idle = 2;
    s.policy.keep_running = 0;
    s.capacity.host_limit = 1.0;
    s.port_first = 33000;
    s.port_last = 33099;
    s.ready_timeout = 2s;
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock);
    scheduler = std::make_unique<Scheduler>(Scheduler::Settings{.period = period, .retention = retention}, *pool, store,
                                            engine, clock, host, &metrics);
  }
  ~Fixture() {
    scheduler->stop();
    lanes.stop();
  }

  // Ticks until an instance is idle and no operation is in flight.
  void settle_pool() {
    REQUIRE(eventually([&] {
      scheduler->tick();
      return idle() >= 1 && pool->claimed().empty();
    }));
  }
  int idle() {
    int n = 0;
    for (const auto& i : real.instances(Show::Current)) n += is_idle(i.state);
    return n;
  }
  Allocation allocate(std::int64_t lease_ms = 0) {
    return pool->allocate({lease_ms, "test", std::chrono::steady_clock::now() + 2s});
  }
  bool reported(const std::string& what) {
    return scheduler->last_error().find(what) != std::string::npos;
  }

  SqliteStore real{":memory:"};
  test::FaultyStore store{real};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  ManualClock clock;
  HostMonitor host;
  Lanes lanes;
  Metrics metrics;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<Scheduler> scheduler;
};

// A line of the Prometheus text, as `name value`.
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("store faults: the loop reports a tick whose read fails, and fills the pool once it works") {
  Fixture f(5ms);
  f.store.fail_always(StoreOp::Instances);
  f.scheduler->start();
  REQUIRE(eventually([&] { return f.reported("instances: injected store fault"); }));
  CHECK(f.real.instances(Show::All).empty());
  f.store.clear();
  REQUIRE(eventually([&] { return f.idle() == 1 && f.scheduler->last_error().empty(); }));
}

TEST_CASE("store faults: the loop reports a lease it cannot end, and ends it once the store works") {
  Fixture f(5ms);
  f.settle_pool();
  const Allocation a = f.allocate(1000);
  f.clock.advance_ms(1000);
  f.store.fail_always(StoreOp::EndAllocation);
  f.scheduler->start();
  REQUIRE(eventually([&] { return f.reported("end_allocation: injected store fault"); }));
  CHECK(f.real.allocation(a.id)->current());
  f.store.clear();
  REQUIRE(eventually([&] { return !f.real.allocation(a.id)->current(); }));
  CHECK(f.real.allocation(a.id)->end_reason == "lease expired");
  REQUIRE(eventually([&] { return f.scheduler->last_error().empty(); }));
  CHECK(f.real.allocations(Show::All).size() == 1);
}

TEST_CASE("store faults: a failing re-read under the claim leaves the instance unclaimed") {
  Fixture f;
  f.settle_pool();
  f.store.fail(StoreOp::Instance);
  CHECK_THROWS_WITH(f.scheduler->tick(), Catch::Contains("instance: injected store fault"));
  CHECK(f.pool->claimed().empty());
  f.scheduler->tick();
  CHECK(f.pool->claimed().empty());
  CHECK(f.allocate().id.size() == 32);
}

TEST_CASE("store faults: an allocation on a dead container survives a failing write, then ends") {
  Fixture f;
  f.settle_pool();
  const Allocation a = f.allocate();
  f.engine.crash(f.real.instance(a.instance_id)->container_id);
  f.store.fail(StoreOp::EndAllocation);
  CHECK_THROWS_WITH(f.scheduler->tick(), Catch::Contains("end_allocation: injected store fault"));
  CHECK(f.pool->claimed().empty());
  CHECK(f.real.allocation(a.id)->current());

  f.scheduler->tick();
  CHECK_FALSE(f.real.allocation(a.id)->current());
  CHECK(f.real.allocation(a.id)->end_reason.rfind("instance lost: container is exited", 0) == 0);
  f.settle_pool();
  CHECK(f.real.allocations(Show::Current).empty());
}

TEST_CASE("several managers: a follower's tick checks the engine and does no leader work") {
  Fixture f;
  f.settle_pool();
  const Allocation a = f.allocate(1000);
  f.clock.advance_ms(1000);
  f.store.follow();  // another manager leads
  const auto report = f.scheduler->tick();
  CHECK(report.following);
  CHECK(f.real.allocation(a.id)->current());  // its lease is the leader's to expire
  CHECK(f.real.instances(Show::Current).size() == 1);  // nor does it refill the pool
  CHECK_FALSE(f.scheduler->leadership().leading());
  CHECK(has_line(f.metrics.render(f.real, f.lanes), "warmpool_leader 0"));
  f.store.follow(false);  // the leader is gone: this one takes over
  CHECK_FALSE(f.scheduler->tick().following);
  CHECK(f.scheduler->leadership().leading());
  CHECK(has_line(f.metrics.render(f.real, f.lanes), "warmpool_leader 1"));
  CHECK(has_line(f.metrics.render(f.real, f.lanes), "warmpool_leadership_changes_total 3"));
  CHECK_FALSE(f.real.allocation(a.id)->current());
}

TEST_CASE("several managers: a manager that cannot ask the database who leads does not lead") {
  Fixture f;
  f.settle_pool();
  const Allocation a = f.allocate(1000);
  f.clock.advance_ms(1000);
  f.store.fail_always(StoreOp::Lead);
  CHECK(f.scheduler->tick().following);
  CHECK_FALSE(f.scheduler->leadership().leading());
  CHECK(f.real.allocation(a.id)->current());
  f.store.clear();
  CHECK_FALSE(f.scheduler->tick().following);
  CHECK_FALSE(f.real.allocation(a.id)->current());
}

namespace {

// A hand-out that ended, on an instance since deleted, all at `at_ms`.
std::string finished_record(Store& store, int port, std::int64_t at_ms) {
  const Instance i = store.add_instance("127.0.0.1", port, at_ms);
  store.transition(i.id, S::Ready, at_ms);
  const std::string id = "old-" + std::to_string(port);
  store.allocate(i.id, id, "test", at_ms, at_ms + 1000);
  store.end_allocation(id, "released", at_ms);
  store.transition(i.id, S::Deleting, at_ms);
  store.transition(i.id, S::Deleted, at_ms);
  return id;
}

constexpr std::int64_t kHour = 3'600'000;

}  // namespace

TEST_CASE("retention: the leader's upkeep removes old finished records, at most once a minute") {
  Fixture f(10s, {.keep_ms = kHour});
  const std::int64_t old = f.clock.now_ms() - 2 * kHour;
  const std::string first = finished_record(f.real, 33500, old);
  const std::string newest = finished_record(f.real, 33510, old);  // kept: it holds the numbering
  CHECK(f.scheduler->tick().pruned == 2);  // the first allocation and its instance
  CHECK_FALSE(f.real.allocation(first));
  CHECK(f.real.allocation(newest));

  const std::string second = finished_record(f.real, 33501, old);  // now `newest` may go
  f.clock.advance_ms(59'999);
  CHECK(f.scheduler->tick().pruned == 0);
  CHECK(f.real.allocation(newest));  // a minute has not passed since the last prune
  f.clock.advance_ms(1);
  CHECK(f.scheduler->tick().pruned == 2);
  CHECK_FALSE(f.real.allocation(newest));

  finished_record(f.real, 33502, old);
  f.clock.advance_ms(60'000);
  f.store.follow();  // another manager leads: pruning is its work
  CHECK(f.scheduler->tick().pruned == 0);
  CHECK(f.real.allocation(second));
  f.store.follow(false);
  CHECK(f.scheduler->tick().pruned == 2);
  CHECK_FALSE(f.real.allocation(second));
}

TEST_CASE("retention: with --keep-finished-hours 0 nothing is removed") {
  Fixture f;
  const std::string old = finished_record(f.real, 33500, f.clock.now_ms() - 1000 * kHour);
  CHECK(f.scheduler->tick().pruned == 0);
  CHECK(f.real.allocation(old));
}

TEST_CASE("retention: one prune works off a backlog in batches, up to its cap") {
  SqliteStore store{":memory:"};
  for (int port = 0; port < 8; ++port) finished_record(store, 40000 + port, 1000);
  const Retention r{.keep_ms = 10, .batch = 2, .max_batches = 3};
  const Store::Pruned first = prune_finished(store, r, 10'000);
  CHECK(first.allocations == 6);  // three batches of two, then the cap
  CHECK(store.allocations(Show::All).size() == 2);
  const Store::Pruned second = prune_finished(store, r, 10'000);
  CHECK(second.allocations == 1);
  CHECK(store.allocations(Show::All).size() == 1);  // the newest stays
  CHECK(store.instances(Show::All).size() == 1);    // the instance it names
}
