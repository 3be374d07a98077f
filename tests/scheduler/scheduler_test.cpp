// The scheduler against the fake engine: ticks forced by the test, faults
// injected at precise points.
#include <catch2/catch.hpp>

#include <thread>

#include "support/scheduler_fixture.hpp"

using namespace warmpool;
using test::eventually;
using namespace std::chrono_literals;
using S = InstanceState;
using engine::ContainerStatus;
using engine::EngineError;

namespace {


PoolPolicy policy(int max_instances, int min_idle, int keep_running) {
  PoolPolicy p;
  p.max_instances = max_instances;
  p.min_idle = min_idle;
  p.max_idle = std::max(min_idle, max_instances);
  p.keep_running = keep_running;
  return p;
}

struct Fixture : test::SchedulerFixture {
  explicit Fixture(PoolPolicy policy, std::chrono::milliseconds period = 10s)
      : SchedulerFixture({.policy = policy, .port_first = 31000}, period) {}
};

}  // namespace

TEST_CASE("upkeep fills the warm pool to min_idle, keep_running of them running") {
  Fixture f(policy(4, 3, 1));
  f.settle_pool(3);
  CHECK(f.count(S::Ready) == 1);
  CHECK(f.count(S::Paused) == 2);
  CHECK(f.engine.count("create") == 3);
}

TEST_CASE("a crashed idle instance is restarted, and replaced after max_restarts") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const Instance first = f.only(S::Paused);
  for (int crash = 1; crash <= 2; ++crash) {
    f.engine.crash(f.store.instance(first.id)->container_id);
    auto report = f.scheduler->tick();
    CHECK(report.faults == 1);
    f.settle_pool(1);
    CHECK(f.store.instance(first.id)->restarts == crash);
    CHECK(f.store.instance(first.id)->last_error.find("exited") != std::string::npos);
  }
  f.engine.crash(f.store.instance(first.id)->container_id);
  f.scheduler->tick();
  REQUIRE(eventually([&] { return f.store.instance(first.id)->state == S::Deleted; }));
  f.settle_pool(1);
  CHECK(f.only(S::Paused).id != first.id);
  CHECK(f.engine.containers().size() == 1);  // the old container is gone, not leaked
}

TEST_CASE("the container of an allocated instance dies: the allocation ends with a reason") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  auto a = f.allocate();
  f.engine.crash(f.store.instance(a.instance_id)->container_id);
  f.scheduler->tick();
  auto ended = f.store.allocation(a.id);
  CHECK_FALSE(ended->current());
  CHECK(ended->end_reason.rfind("instance lost: container is exited", 0) == 0);
  f.settle_pool(1);
  CHECK(f.store.allocations(Show::Current).empty());
}

TEST_CASE("leases that expired are released by the tick") {
  Fixture f(policy(2, 1, 0));
  f.settle_pool(1);
  auto a = f.pool->allocate({1000, "lease", std::chrono::steady_clock::now() + 2s});
  f.clock.advance_ms(999);
  CHECK(f.scheduler->tick().expired == 0);
  f.clock.advance_ms(1);
  CHECK(f.scheduler->tick().expired == 1);
  CHECK(f.store.allocation(a.id)->end_reason == "lease expired");
}

TEST_CASE("reconcile adopts matching containers, removes unmatched ones, marks lost records") {
  Fixture f(policy(3, 3, 0));
  f.settle_pool(3);
  auto instances = f.store.instances(Show::Current);
  auto a = f.allocate();
  const Instance lost = *f.store.instance(a.instance_id);
  f.engine.lose(lost.container_id);
  const auto orphan = f.engine.add_stray(f.labels(999));
  const auto unlabelled = f.engine.add_stray({{engine::kManagerLabel, "someone-else"}});

  auto report = f.scheduler->reconcile();
  CHECK(report.adopted == 2);
  CHECK(report.removed_orphans == 1);
  CHECK(report.lost == 1);
  CHECK(f.engine.containers().count(orphan) == 0);
  CHECK(f.engine.containers().count(unlabelled) == 1);  // not ours: left alone
  CHECK(f.store.allocation(a.id)->end_reason == "instance lost: its container is gone");
  // The lost record gets a new container for the same instance.
  REQUIRE(eventually([&] { return is_idle(f.store.instance(lost.id)->state); }));
  CHECK(f.store.instance(lost.id)->container_id != lost.container_id);
}

// Bug: a scheduler check holds the instance's claim; a hand-out that found
// nothing idle meanwhile waited until its deadline, as releasing the claim
// woke nobody.
TEST_CASE("an allocation arriving while the scheduler checks the only idle instance is served") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const Instance idle = f.only(S::Paused);
  f.engine.delay("inspect", 300ms);
  std::thread ticker([&] { f.scheduler->tick(); });
  REQUIRE(eventually([&] { return f.pool->claimed().count(idle.id) == 1; }));
  const auto started = std::chrono::steady_clock::now();
  CHECK_NOTHROW(f.allocate(3s));
  const auto waited = std::chrono::steady_clock::now() - started;
  ticker.join();
  CHECK(waited < 2s);
}

// Bug: reconcile removed the container of an instance whose creation was in
// flight (created by the engine, not yet recorded).
TEST_CASE("reconcile leaves alone a container whose creation is in flight") {
  Fixture f(policy(2, 0, 0));
  std::optional<Scheduler::ReconcileReport> during;
  f.engine.after("create", [&](const std::string&) {
    if (!during) during = f.scheduler->reconcile();
  });
  auto added = f.pool->add_instance();
  REQUIRE(eventually([&] { return is_idle(f.store.instance(added.id)->state); }));
  REQUIRE(during);
  CHECK(during->removed_orphans == 0);
  CHECK(f.engine.containers().count(f.store.instance(added.id)->container_id) == 1);
}

// Bug: reconcile marked an instance lost when its container was created
// between the engine's listing and the check of the record.
TEST_CASE("reconcile does not mark lost an instance whose container appeared after the listing") {
  Fixture f(policy(2, 0, 0));
  f.engine.delay("create", 100ms);
  std::optional<Instance> added;
  int listed = -1;
  f.engine.after("list", [&](const std::string&) {
    if (listed >= 0) return;
    listed = static_cast<int>(f.engine.containers().size());
    // The creation finishes between the listing and the records' check.
    REQUIRE(eventually([&] { return is_idle(f.store.instance(added->id)->state) && f.pool->claimed().empty(); }));
  });
  added = f.pool->add_instance();
  auto report = f.scheduler->reconcile();
  CHECK(listed == 0);
  CHECK(report.lost == 0);
  CHECK(is_idle(f.store.instance(added->id)->state));
  CHECK(f.store.instance(added->id)->restarts == 0);
}

// Bug: a labelled container that no record claims (a crash between the
// engine's create and the record, or a failed record write) was only removed
// by the next start-up reconcile: it leaked while the manager ran.
TEST_CASE("every tick removes labelled containers that no live record holds") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const Instance live = f.only(S::Paused);
  const auto stray_of_live = f.engine.add_stray(f.labels(live.id));
  const auto stray_unknown = f.engine.add_stray(f.labels(4242), ContainerStatus::Exited);
  auto report = f.scheduler->tick();
  CHECK(report.orphans == 2);
  CHECK(f.engine.containers().count(stray_of_live) == 0);
  CHECK(f.engine.containers().count(stray_unknown) == 0);
  CHECK(f.engine.containers().count(live.container_id) == 1);
  CHECK(f.store.instance(live.id)->state == S::Paused);
}

TEST_CASE("after the engine was unreachable, the next tick reconciles again") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  f.engine.set_reachable(false);
  CHECK_THROWS_AS(f.scheduler->tick(), EngineError);
  // The engine comes back having lost a container and gained one nobody owns.
  const Instance idle = f.only(S::Paused);
  f.engine.lose(idle.container_id);
  const auto stray = f.engine.add_stray(f.labels(777));
  f.engine.set_reachable(true);
  f.scheduler->tick();
  CHECK(f.engine.containers().count(stray) == 0);
  f.settle_pool(1);
  CHECK(f.store.instance(idle.id)->container_id != idle.container_id);
}

// Bug: every pause and unpause, including the pool's own on each hand-out and
// release, woke a full tick (and its claims) at once.
TEST_CASE("engine events: a death wakes the loop at once; the pool's own pause/unpause do not") {
  Fixture f(policy(2, 2, 0), 1h);
  f.settle_pool(2);
  const int before_start = f.engine.count("version");
  f.scheduler->start();
  REQUIRE(eventually([&] { return f.engine.count("version") > before_start && f.pool->claimed().empty(); }));
  std::this_thread::sleep_for(50ms);
  const int ticks = f.engine.count("version");

  // Our own hand-out unpauses, our own release pauses: no tick, even when
  // the unpause event arrives late, after the instance was paused again.
  auto a = f.allocate();
  const auto container = f.store.instance(a.instance_id)->container_id;
  f.engine.emit({"unpause", container, f.labels(a.instance_id), 0});
  f.pool->release(a.id);
  REQUIRE(eventually([&] { return f.store.instance(a.instance_id)->state == S::Paused; }));
  f.engine.emit({"pause", container, f.labels(a.instance_id), 0});
  f.engine.emit({"unpause", container, f.labels(a.instance_id), 0});  // late
  std::this_thread::sleep_for(100ms);
  CHECK(f.engine.count("version") == ticks);

  // Someone else unpauses an idle paused instance: the loop looks at once.
  Instance other;
  for (const auto& i : f.store.instances(Show::Current))
    if (i.id != a.instance_id) other = i;
  REQUIRE(other.state == S::Paused);
  f.engine.unpause(other.container_id);
  f.engine.emit({"unpause", other.container_id, f.labels(other.id), 0});
  REQUIRE(eventually([&] { return f.engine.count("version") > ticks; }, 2s));

  // A container dies: the loop looks at once and recovers it.
  const int before_death = f.engine.count("version");
  const Instance victim = *f.store.instance(a.instance_id);
  f.engine.crash(victim.container_id);
  f.engine.emit({"die", victim.container_id, f.labels(victim.id), 0});
  REQUIRE(eventually([&] { return f.engine.count("version") > before_death; }, 2s));
  REQUIRE(eventually([&] { return f.store.instance(victim.id)->restarts == 1; }, 2s));
}

// Bug: a release while the engine was unreachable failed the pause after the
// reset and sent a healthy instance to `error` (and a restart later).
TEST_CASE("release while the engine is unreachable keeps the reset instance running-idle") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  auto a = f.allocate();
  f.engine.set_reachable(false);
  f.pool->release(a.id);
  REQUIRE(eventually([&] {
    return f.store.instance(a.instance_id)->state != S::Resetting && f.pool->claimed().empty();
  }));
  CHECK(f.store.instance(a.instance_id)->state == S::Ready);
  CHECK(f.store.instance(a.instance_id)->failures == 0);
  // Served again without the engine: it runs and its worker answers.
  auto b = f.allocate();
  CHECK(b.instance_id == a.instance_id);
  f.pool->release(b.id);
  REQUIRE(eventually([&] {
    return f.store.instance(a.instance_id)->state != S::Resetting && f.pool->claimed().empty();
  }));
  CHECK(f.store.instance(a.instance_id)->state == S::Ready);
  f.engine.set_reachable(true);
  // Upkeep pauses it once the engine is back (keep_running = 0).
  f.settle_pool(1);
  f.scheduler->tick();
  CHECK(f.store.instance(a.instance_id)->state == S::Paused);
}

// Bug (drill 5): while the engine went down, restarts that failed for want of
// the engine used up an instance's restarts, and it was deleted and replaced
// as if it were faulty.
TEST_CASE("a restart that fails for want of the engine does not count against max_restarts") {
  Fixture f(policy(1, 1, 1));
  f.settle_pool(1);
  const Instance instance = f.only(S::Ready);
  f.engine.fail("inspect", EngineError::Kind::Unreachable, 3);
  f.engine.crash(instance.container_id);
  for (int k = 0; k < 5; ++k) {
    f.scheduler->tick();
    REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  }
  f.settle_pool(1);
  CHECK(f.store.instance(instance.id)->state == S::Ready);
  CHECK(f.store.instance(instance.id)->restarts == 1);
}

// Bug (drill 5): an engine that failed every start made the pool create,
// restart and delete containers in a tight loop (eight instances in half a
// second), as each failed recovery started the next one at once.
TEST_CASE("a failed recovery is retried on the next tick, not at once") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const Instance instance = f.only(S::Paused);
  f.engine.fail("start", EngineError::Kind::Server, 1000);
  f.engine.crash(instance.container_id);
  auto step = [&] {
    f.scheduler->tick();
    std::this_thread::sleep_for(100ms);  // room for a tight loop to show itself
    REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  };
  step();  // the fault, and the first restart, which fails
  CHECK(f.store.instance(instance.id)->state == S::Error);
  CHECK(f.store.instance(instance.id)->restarts == 1);
  step();  // the second restart, which fails
  CHECK(f.store.instance(instance.id)->state == S::Error);
  CHECK(f.store.instance(instance.id)->restarts == 2);
  // Each restart the engine refuses to start makes one new container, once.
  CHECK(f.engine.count("create") == 1 + 2);
  step();  // deleted, to be replaced
  CHECK(f.store.instance(instance.id)->state == S::Deleted);
  step();  // the replacement, whose start fails too
  step();  // and perhaps its first restart: a tick's worth, not a loop
  CHECK(f.engine.count("create") >= 3 + 1);
  CHECK(f.engine.count("create") <= 3 + 1 + 2);
}

// Bug (drill 7): a manager killed between pausing a released instance and
// recording it left a `resetting` record on a paused container; on restart
// its reset timed out against the frozen worker and it was restarted.
TEST_CASE("resuming a reset interrupted after the pause finishes it without a restart") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  auto a = f.allocate();
  const auto container = f.store.instance(a.instance_id)->container_id;
  // What the killed manager left: the allocation ended, the container paused.
  f.store.end_allocation(a.id, "released", f.clock.now_ms());
  f.engine.pause(container);
  f.settle_pool(1);
  CHECK(f.store.instance(a.instance_id)->state == S::Paused);
  CHECK(f.store.instance(a.instance_id)->restarts == 0);
  CHECK(f.store.instance(a.instance_id)->failures == 0);
}

// Drill 7 and others' unpause: a paused idle instance found running (a hand-out
// the manager did not live to finish, or someone else's unpause) was restarted,
// using up one of its restarts, though its worker was reset before the pause.
TEST_CASE("an idle paused instance found running is taken back as running-idle, not restarted") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const Instance instance = f.only(S::Paused);
  f.engine.unpause(instance.container_id);
  f.scheduler->tick();
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(f.store.instance(instance.id)->restarts == 0);
  CHECK(f.store.instance(instance.id)->state == S::Paused);  // upkeep paused it again (keep_running = 0)
  CHECK(f.engine.containers().at(instance.container_id).status == ContainerStatus::Paused);
  SECTION("unless its worker does not answer") {
    f.engine.unpause(instance.container_id);
    f.worker.fail(instance.endpoint(), "ping", 1);
    f.scheduler->tick();
    REQUIRE(eventually([&] { return f.store.instance(instance.id)->restarts == 1; }));
  }
}

// Bug (drill 6, an engine that accepts connections and never answers): each
// paused instance's unpause timed out in turn (the engine's 5 s each), the
// request was answered long after its deadline, and every instance tried was
// failed and restarted though only the engine was at fault.
TEST_CASE("an engine that hangs: hand-outs answer by their deadline, and no instance is failed for it") {
  Fixture f(policy(2, 2, 0));
  f.settle_pool(2);
  for (const char* op : {"unpause", "version", "inspect"}) {
    f.engine.delay(op, 1500ms);
    f.engine.fail(op, EngineError::Kind::Timeout, 1000);
  }
  auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(f.allocate(500ms), AllocateError);
  CHECK(std::chrono::steady_clock::now() - started < 1000ms);
  // Once the engine is known to hang, a hand-out that needs it fails at once.
  REQUIRE(eventually([&] { return f.pool->engine_down().has_value(); }));
  started = std::chrono::steady_clock::now();
  try {
    f.allocate(2s);
    FAIL("expected EngineDown");
  } catch (const AllocateError& e) {
    CHECK(e.kind() == AllocateError::Kind::EngineDown);
  }
  CHECK(std::chrono::steady_clock::now() - started < 200ms);
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(f.count(S::Paused) == 2);
  for (const auto& i : f.store.instances(Show::Current)) CHECK(i.failures == 0);
}

// Bug (drill 6b): a paused instance whose container was running after all
// (an unpause whose answer was lost, someone else's unpause) failed its
// hand-out on the engine's "not paused" and was restarted.
TEST_CASE("a hand-out of a paused instance that is running after all serves it, health-gated") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const Instance instance = f.only(S::Paused);
  f.engine.unpause(instance.container_id);  // behind the pool's back
  auto a = f.allocate();
  CHECK(a.instance_id == instance.id);
  CHECK(f.engine.count("stop") == 0);  // served as it was: no restart
  SECTION("but not when it has exited") {
    f.pool->release(a.id);
    REQUIRE(eventually([&] { return f.store.instance(instance.id)->state == S::Paused && f.pool->claimed().empty(); }));
    f.engine.crash(instance.container_id);
    auto b = f.allocate();  // served once restarted
    CHECK(f.engine.count("stop") == 1);
    CHECK(f.store.instance(b.instance_id)->last_error.rfind("hand-out: unpause", 0) == 0);
  }
}

TEST_CASE("upkeep shrinks idle instances above min_idle after idle_shrink, and beyond max_idle at once; ports are freed") {
  PoolPolicy p = policy(6, 1, 0);
  p.max_idle = 3;
  p.idle_shrink_ms = 60'000;
  Fixture f(p);
  for (int i = 0; i < 4; ++i) f.pool->add_instance();
  REQUIRE(eventually([&] { return f.count(S::Paused) == 4 && f.pool->claimed().empty(); }));
  auto report = f.scheduler->tick();
  CHECK(report.removed == 1);  // beyond max_idle
  REQUIRE(eventually([&] { return f.count(S::Paused) == 3 && f.pool->claimed().empty(); }));
  f.clock.advance_ms(59'999);
  CHECK(f.scheduler->tick().removed == 0);
  f.clock.advance_ms(1);
  CHECK(f.scheduler->tick().removed == 2);  // down to min_idle
  REQUIRE(eventually([&] { return f.store.instances(Show::Current).size() == 1 && f.pool->claimed().empty(); }));
  CHECK(f.engine.containers().size() == 1);
  // The freed ports are taken again by new instances.
  const int kept_port = f.store.instances(Show::Current).front().port;
  f.pool->add_instance();
  std::set<int> ports;
  for (const auto& i : f.store.instances(Show::Current)) ports.insert(i.port);
  CHECK(ports.size() == 2);
  CHECK(*ports.begin() == 31000);
  CHECK(ports.count(kept_port) == 1);
}

TEST_CASE("a container the engine will not remove is retried after a growing back-off, not every tick") {
  Fixture f(policy(1, 1, 0));
  f.settle_pool(1);
  const auto stray = f.engine.add_stray(f.labels(4242), ContainerStatus::Exited);
  f.engine.fail("remove", EngineError::Kind::Server, 3);
  const int before = f.engine.count("remove");
  auto attempts = [&] { return f.engine.count("remove") - before; };

  CHECK(f.scheduler->tick().orphans == 0);  // refused: 2 s before the next try
  CHECK(attempts() == 1);
  f.scheduler->tick();
  CHECK(attempts() == 1);
  f.clock.advance_ms(2000);
  f.scheduler->tick();  // refused again: 4 s now
  CHECK(attempts() == 2);
  f.clock.advance_ms(2000);
  f.scheduler->tick();
  CHECK(attempts() == 2);
  f.clock.advance_ms(2000);
  f.scheduler->tick();  // refused a third time: 8 s
  CHECK(attempts() == 3);
  f.clock.advance_ms(8000);
  CHECK(f.scheduler->tick().orphans == 1);
  CHECK(attempts() == 4);
  CHECK(f.engine.containers().count(stray) == 0);
}

TEST_CASE("an instance whose container the engine will not remove stays deleting and is retried with back-off") {
  Fixture f(policy(3, 2, 1));
  f.settle_pool(2);
  const Instance victim = f.only(S::Paused);
  f.engine.fail("remove", EngineError::Kind::Server, 2);
  const int before = f.engine.count("remove");
  auto attempts = [&] { return f.engine.count("remove") - before; };
  REQUIRE(f.pool->delete_instance(victim.id, "test"));
  REQUIRE(eventually([&] { return attempts() == 1 && f.pool->claimed().empty(); }));
  CHECK(f.store.instance(victim.id)->state == S::Deleting);

  f.scheduler->tick();  // not due yet: no new attempt
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(attempts() == 1);
  f.clock.advance_ms(2000);
  f.scheduler->tick();  // due: refused again (4 s now)
  REQUIRE(eventually([&] { return attempts() == 2 && f.pool->claimed().empty(); }));
  f.clock.advance_ms(4000);
  f.scheduler->tick();
  REQUIRE(eventually([&] { return f.store.instance(victim.id)->state == S::Deleted; }));
  CHECK(attempts() == 3);
}

TEST_CASE("failing ticks are counted in a row, reported, and reset by a good one") {
  Fixture f(policy(1, 1, 0), 20ms);
  f.settle_pool(1);
  f.engine.set_reachable(false);
  f.scheduler->start();
  REQUIRE(eventually([&] { return f.scheduler->failing_ticks() >= 2; }));
  CHECK_FALSE(f.scheduler->engine_reachable());
  CHECK_FALSE(f.scheduler->last_error().empty());
  f.engine.set_reachable(true);
  f.scheduler->wake();
  REQUIRE(eventually([&] { return f.scheduler->failing_ticks() == 0; }));
  CHECK(f.scheduler->last_error().empty());
  CHECK(f.scheduler->engine_reachable());
}

TEST_CASE("Scheduler::describe names what a tick did") {
  Scheduler::TickReport r;
  CHECK(Scheduler::describe(r) == "nothing to do");
  r.expired = 2;
  r.created = 1;
  CHECK(Scheduler::describe(r) == "expired=2 created=1");
}
