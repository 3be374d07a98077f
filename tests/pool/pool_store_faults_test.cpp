// The pool when the store fails: each StoreError path leaves no instance
// claimed, no allocation lost or doubled, says what failed, and the pool
// works again once the store does.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "pool/pool.hpp"
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

// Holds the normal lane's threads busy until it goes out of scope, so that a
// test can arrange the store before the pool's next normal-lane task runs.
class NormalLaneHold {
 public:
  NormalLaneHold(Lanes& lanes, int threads) {
    std::shared_future<void> open = gate_.get_future().share();
    for (int i = 0; i < threads; ++i)
      lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + 1h, [open] { open.wait(); });
  }
  ~NormalLaneHold() { gate_.set_value(); }

 private:
  std::promise<void> gate_;
};

struct Fixture {
  explicit Fixture(int keep_running = 0, int max_instances = 4)
      : lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 1024, .normal_capacity = 1024}) {
    PoolSettings s;
    s.policy.max_instances = max_instances;
    s.policy.min_idle = 0;
    s.policy.keep_running = keep_running;
    s.port_first = 32000;
    s.port_last = 32099;
    s.ready_timeout = 2s;
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock);
  }
  ~Fixture() { lanes.stop(); }

  // Adds one instance and waits until it is idle and unclaimed.
  Instance warm() {
    const Instance added = pool->add_instance();
    REQUIRE(eventually([&] { return idle(added.id); }));
    return *real.instance(added.id);
  }
  bool idle(std::int64_t id) {
    return is_idle(real.instance(id)->state) && pool->claimed().empty();
  }
  Allocation allocate() {
    return pool->allocate({0, "test", std::chrono::steady_clock::now() + 2s});
  }
  NormalLaneHold hold_normal_lane() { return NormalLaneHold(lanes, 2); }
  // What the scheduler does for an instance left unfinished: claim, resume.
  void resume(std::int64_t id) {
    REQUIRE(pool->claim(id));
    pool->resume(id);
  }

  SqliteStore real{":memory:"};
  test::FaultyStore store{real};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  ManualClock clock;
  Lanes lanes;
  std::unique_ptr<Pool> pool;
};

}  // namespace

TEST_CASE("store faults: a failing allocation commit gives the instance back, idle and unclaimed") {
  Fixture f;
  const Instance instance = f.warm();
  REQUIRE(instance.state == S::Paused);
  f.store.fail(StoreOp::Allocate);
  CHECK_THROWS_WITH(f.allocate(), Catch::Contains("allocate: injected store fault"));
  CHECK(f.real.allocations(Show::All).empty());
  // Unpaused for the hand-out, and recorded so: running-idle, no claim left.
  CHECK(f.real.instance(instance.id)->state == S::Ready);
  CHECK(f.pool->claimed().empty());

  const Allocation a = f.allocate();
  CHECK(a.instance_id == instance.id);
  CHECK(f.real.allocations(Show::All).size() == 1);
}

TEST_CASE("store faults: a failing read during a hand-out leaves no instance claimed") {
  Fixture f;
  const Instance instance = f.warm();
  SECTION("the list of instances") { f.store.fail(StoreOp::Instances); }
  SECTION("the claimed instance's record") { f.store.fail(StoreOp::Instance); }
  CHECK_THROWS_WITH(f.allocate(), Catch::Contains("injected store fault"));
  CHECK(f.pool->claimed().empty());
  CHECK(f.allocate().instance_id == instance.id);
}

TEST_CASE("store faults: a hand-out whose request for a new instance fails is no longer counted waiting") {
  // A waiter counted for good would hold pi jobs back for good: they yield
  // to every public request that waits.
  Fixture f;
  f.store.fail(StoreOp::AddInstance);
  CHECK_THROWS_WITH(f.allocate(), Catch::Contains("add_instance: injected store fault"));
  CHECK(f.pool->counts().waiting == 0);
  CHECK(f.pool->waiting() == 0);
  CHECK(f.allocate().instance_id > 0);
}

TEST_CASE("several managers: a port another manager records first is given up for the next free one") {
  Fixture f;
  int raced = 0;
  f.store.before_add_instance = [&](const std::string& host, int port) {
    if (raced++ == 0) f.real.add_instance(host, port, f.clock.now_ms());  // the other manager's
  };
  const Instance mine = f.pool->add_instance();
  const auto all = f.real.instances(Show::Current);
  REQUIRE(all.size() == 2);
  CHECK(all[0].port != all[1].port);
  CHECK(raced == 2);
  CHECK(mine.port != all[0].port);
}

TEST_CASE("store faults: a failing release keeps the allocation; releasing again ends it once") {
  Fixture f;
  f.warm();
  const Allocation a = f.allocate();
  f.store.fail(StoreOp::EndAllocation);
  CHECK_THROWS_WITH(f.pool->release(a.id), Catch::Contains("end_allocation: injected store fault"));
  CHECK(f.real.allocation(a.id)->current());
  CHECK(f.real.instance(a.instance_id)->state == S::Allocated);

  const auto ended = f.pool->release(a.id);
  REQUIRE(ended);
  CHECK_FALSE(ended->current());
  REQUIRE(eventually([&] { return f.idle(a.instance_id); }));
  CHECK(f.real.allocations(Show::Finished).size() == 1);
  CHECK(f.real.allocations(Show::Current).empty());
}

TEST_CASE("store faults: a failing write while recycling records the fault and recovers") {
  Fixture f;
  f.warm();
  const Allocation a = f.allocate();
  f.store.fail(StoreOp::Transition);  // resetting -> paused, after the reset
  REQUIRE(f.pool->release(a.id));
  REQUIRE(eventually([&] { return f.idle(a.instance_id); }));
  const Instance after = *f.real.instance(a.instance_id);
  CHECK(after.last_error.find("reset after release: transition: injected store fault") !=
        std::string::npos);
  CHECK(after.restarts == 1);
  CHECK(f.allocate().instance_id == a.instance_id);
}

TEST_CASE("store faults: a failing read while recycling gives the claim back for the scheduler") {
  Fixture f;
  f.warm();
  const Allocation a = f.allocate();
  f.store.fail(StoreOp::Instance);  // the recycle's read of the record
  REQUIRE(f.pool->release(a.id));
  REQUIRE(eventually([&] { return !f.store.armed(StoreOp::Instance) && f.pool->claimed().empty(); }));
  CHECK(f.real.instance(a.instance_id)->state == S::Resetting);
  f.resume(a.instance_id);
  REQUIRE(eventually([&] { return f.idle(a.instance_id); }));
  CHECK(f.allocate().instance_id == a.instance_id);
}

TEST_CASE("store faults: a failing write while creating records the fault; a resume finishes it") {
  Fixture f;
  SECTION("starting -> ready") { f.store.fail(StoreOp::Transition); }
  SECTION("the container id") { f.store.fail(StoreOp::SetContainer); }
  const Instance added = f.pool->add_instance();
  REQUIRE(eventually([&] {
    return f.real.instance(added.id)->state == S::Error && f.pool->claimed().empty();
  }));
  // A container the records do not hold is the scheduler's reconcile's to remove.
  for (const auto& [id, c] : f.engine.containers())
    if (id != f.real.instance(added.id)->container_id) f.engine.remove(id);
  CHECK(f.real.instance(added.id)->last_error.find("create: ") == 0);
  CHECK(f.real.instance(added.id)->last_error.find("injected store fault") != std::string::npos);
  f.resume(added.id);
  REQUIRE(eventually([&] { return f.idle(added.id); }));
  CHECK(f.allocate().instance_id == added.id);
}

TEST_CASE("store faults: add_instance fails with the store's reason and starts nothing") {
  Fixture f;
  SECTION("listing") { f.store.fail(StoreOp::Instances); }
  SECTION("recording") { f.store.fail(StoreOp::AddInstance); }
  CHECK_THROWS_WITH(f.pool->add_instance(), Catch::Contains("injected store fault"));
  CHECK(f.real.instances(Show::All).empty());
  CHECK(f.engine.count("create") == 0);
  CHECK(f.pool->claimed().empty());
  f.warm();
}

TEST_CASE("store faults: a failing delete leaves the instance and its allocation as they were") {
  Fixture f;
  f.warm();
  const Allocation a = f.allocate();
  SECTION("reading the allocation") { f.store.fail(StoreOp::CurrentAllocationOf); }
  SECTION("ending the allocation") { f.store.fail(StoreOp::EndAllocation); }
  CHECK_THROWS_WITH(f.pool->delete_instance(a.instance_id, "test"),
                    Catch::Contains("injected store fault"));
  CHECK(f.pool->claimed().empty());
  CHECK(f.real.allocation(a.id)->current());
  CHECK(f.real.instance(a.instance_id)->state == S::Allocated);

  REQUIRE(f.pool->delete_instance(a.instance_id, "test"));
  REQUIRE(eventually([&] { return f.real.instance(a.instance_id)->state == S::Deleted; }));
  CHECK(f.real.allocation(a.id)->end_reason == "instance deleted: test");
  CHECK(f.engine.containers().empty());
}

TEST_CASE("store faults: a delete whose intent cannot be recorded has ended the allocation only") {
  Fixture f;
  f.warm();
  const Allocation a = f.allocate();
  f.store.fail(StoreOp::Transition);
  CHECK_THROWS_WITH(f.pool->delete_instance(a.instance_id, "test"),
                    Catch::Contains("transition: injected store fault"));
  CHECK(f.pool->claimed().empty());
  CHECK(f.real.allocation(a.id)->end_reason == "instance deleted: test");
  CHECK(f.real.instance(a.instance_id)->state == S::Resetting);
  REQUIRE(f.pool->delete_instance(a.instance_id, "test"));
  REQUIRE(eventually([&] { return f.real.instance(a.instance_id)->state == S::Deleted; }));
  CHECK(f.engine.containers().empty());
}

TEST_CASE("store faults: a removal whose last write fails stays deleting; a resume finishes it") {
  Fixture f;
  const Instance instance = f.warm();
  {
    auto hold = f.hold_normal_lane();
    REQUIRE(f.pool->delete_instance(instance.id, "test"));
    f.store.fail(StoreOp::Transition);  // deleting -> deleted, after the engine removed it
  }
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(f.real.instance(instance.id)->state == S::Deleting);
  CHECK(f.engine.containers().empty());
  f.resume(instance.id);
  // The record is deleted just before the removal lets its claim go.
  REQUIRE(eventually([&] {
    return f.real.instance(instance.id)->state == S::Deleted && f.pool->claimed().empty();
  }));
}

TEST_CASE("store faults: a failing restart leaves the allocation or the instance for recovery") {
  Fixture f;
  f.warm();
  const Allocation a = f.allocate();
  SECTION("ending the allocation: nothing changes") {
    f.store.fail(StoreOp::EndAllocation);
    CHECK_THROWS_WITH(f.pool->restart_instance(a.instance_id),
                      Catch::Contains("end_allocation: injected store fault"));
    CHECK(f.real.allocation(a.id)->current());
    CHECK(f.real.instance(a.instance_id)->state == S::Allocated);
    REQUIRE(f.pool->restart_instance(a.instance_id));
  }
  SECTION("counting the restart: the instance is left in error") {
    f.store.fail(StoreOp::Restart);
    CHECK_THROWS_WITH(f.pool->restart_instance(a.instance_id),
                      Catch::Contains("restart: injected store fault"));
    CHECK_FALSE(f.real.allocation(a.id)->current());
    CHECK(f.real.instance(a.instance_id)->state == S::Error);
    CHECK(f.pool->claimed().empty());
    f.resume(a.instance_id);
  }
  SECTION("recording it ready: the fault is recorded") {
    {
      auto hold = f.hold_normal_lane();
      REQUIRE(f.pool->restart_instance(a.instance_id));
      f.store.fail(StoreOp::Transition);  // starting -> ready, after the restart
    }
    REQUIRE(eventually([&] {
      return f.real.instance(a.instance_id)->state == S::Error && f.pool->claimed().empty();
    }));
    CHECK(f.real.instance(a.instance_id)->last_error.find("restart: transition: injected") == 0);
    f.resume(a.instance_id);
  }
  REQUIRE(eventually([&] { return f.idle(a.instance_id); }));
  CHECK(f.real.allocations(Show::Current).empty());
  CHECK(f.allocate().instance_id == a.instance_id);
}

TEST_CASE("store faults: a failing read when resuming or recovering gives the claim back") {
  Fixture f;
  const Instance instance = f.warm();
  {
    auto hold = f.hold_normal_lane();
    REQUIRE(f.pool->claim(instance.id));
    f.real.transition(instance.id, S::Error, 0, "test fault");
    SECTION("resume") {
      f.store.fail(StoreOp::Instance);
      CHECK_THROWS_WITH(f.pool->resume(instance.id), Catch::Contains("instance: injected store fault"));
    }
    SECTION("recover, on the normal lane") {
      f.pool->resume(instance.id);  // posts the recovery behind the hold
      f.store.fail(StoreOp::Instance);
    }
  }
  REQUIRE(eventually([&] { return !f.store.armed(StoreOp::Instance) && f.pool->claimed().empty(); }));
  CHECK(f.real.instance(instance.id)->state == S::Error);
  f.resume(instance.id);
  REQUIRE(eventually([&] { return f.idle(instance.id); }));
}

TEST_CASE("a release whose reset finds a hand-out's claim is reset when the hand-out lets go") {
  Fixture f(/*keep_running=*/0, /*max_instances=*/1);
  const Instance a = f.warm();
  std::atomic<bool> once{false};
  bool turned_away = false;
  f.store.before_hold = [&](Hold what, std::int64_t id) {
    if (what != Hold::Instance || id != a.id || once.exchange(true)) return;
    // Another hand-out took it after this one listed it idle, and its client
    // released it at once: the reset runs while this hand-out holds the claim.
    f.real.allocate(a.id, "other", "other", f.clock.now_ms(), f.clock.now_ms() + 60'000);
    const auto before = f.lanes.stats(Lane::High).completed;
    f.pool->release("other");
    turned_away = eventually([&] { return f.lanes.stats(Lane::High).completed > before; });
  };
  const Allocation made = f.allocate();  // it finds it resetting, and waits for it
  CHECK(turned_away);
  CHECK(made.instance_id == a.id);
}

TEST_CASE("a hand-out that let go of a busy instance looks again when it is idle by the next listing") {
  Fixture f(/*keep_running=*/0, /*max_instances=*/1);
  const Instance a = f.warm();
  std::atomic<bool> once{false};
  std::atomic<std::thread::id> hand_out;
  bool released = false, idle_again = false;
  f.store.before_hold = [&](Hold what, std::int64_t id) {
    if (what != Hold::Instance || id != a.id || once.exchange(true)) return;
    hand_out = std::this_thread::get_id();
    // Another hand-out took it after this one listed it idle.
    f.real.allocate(a.id, "other", "other", f.clock.now_ms(), f.clock.now_ms() + 60'000);
  };
  f.store.after_let_go = [&](Hold what, std::int64_t id) {
    if (what != Hold::Instance || id != a.id || std::this_thread::get_id() != hand_out.load() ||
        std::exchange(released, true))
      return;
    // This one found it allocated and let go; before it lists again, the
    // client releases it and its reset wakes nobody (no one waits yet).
    f.pool->release("other");
    idle_again = eventually([&] { return f.idle(a.id); }, 2s);
  };
  const Allocation made = f.allocate();
  CHECK(idle_again);
  CHECK(made.instance_id == a.id);
}

TEST_CASE("several managers: instances another manager holds are neither handed out nor claimed") {
  Fixture f;
  const Instance a = f.warm();
  const Instance b = f.warm();
  f.store.hold_elsewhere(Hold::Instance, a.id);
  f.store.hold_elsewhere(Hold::Instance, b.id);
  const Allocation made = f.allocate();  // a third instance, made for it
  CHECK(made.instance_id != a.id);
  CHECK(made.instance_id != b.id);
  CHECK_FALSE(f.pool->claim(a.id));  // nor may the scheduler drive them
  CHECK(f.pool->claimed().empty());
  CHECK(is_idle(f.real.instance(a.id)->state));

  f.store.hold_elsewhere(Hold::Instance, a.id, false);  // let go there
  CHECK(f.allocate().instance_id == a.id);
}

TEST_CASE("several managers: an instance another manager hands out between the listing and the hold is left alone") {
  Fixture f(/*keep_running=*/4);  // running-idle: the other manager's client talks to it at once
  const Instance a = f.warm();
  bool once = false;
  f.store.before_hold = [&](Hold what, std::int64_t id) {
    if (what != Hold::Instance || id != a.id || std::exchange(once, true)) return;
    // The other manager takes it first: records the allocation and starts
    // its client's session on the worker, then lets go.
    f.real.allocate(a.id, "elsewhere", "other", f.clock.now_ms(), f.clock.now_ms() + 60'000);
    f.worker.init(a.endpoint(), R"({"token":"theirs"})", 1s);
  };
  const Allocation made = f.allocate();  // listed a as idle; by the hold it was not
  CHECK(once);
  CHECK(made.instance_id != a.id);
  CHECK(f.worker.session(a.endpoint()) == R"({"token":"theirs"})");  // neither reset nor re-inited
  CHECK(f.real.allocation("elsewhere")->current());
}
