// The adaptive pool on the fake engine: hand-outs ask for refills between
// ticks, released instances keep running through their grace, and the pool
// scales to zero and back.
#include <catch2/catch.hpp>

#include <thread>

#include "support/scheduler_fixture.hpp"

using namespace warmpool;
using test::eventually;
using namespace std::chrono_literals;
using S = InstanceState;

namespace {

PoolPolicy adaptive(int max_instances, int min_idle, int keep_running) {
  PoolPolicy p;
  p.max_instances = max_instances;
  p.min_idle = min_idle;
  p.max_idle = max_instances;
  p.keep_running = keep_running;
  p.adaptive = true;
  p.idle_shrink_ms = 60'000;
  return p;
}

struct Fixture : test::SchedulerFixture {
  explicit Fixture(PoolPolicy policy, std::chrono::milliseconds period = 1h)
      : SchedulerFixture({.policy = policy, .port_first = 34000}, period) {}
  int warm() { return count(S::Ready) + count(S::Paused); }
};

}  // namespace

TEST_CASE("a burst's hand-outs start its creates at once, not at the next tick") {
  Fixture f(adaptive(16, 2, 1));
  f.settle_pool(2);
  const int created_before = f.engine.count("create");
  f.scheduler->start();  // one tick now, the next in an hour
  std::vector<Allocation> held;
  for (int k = 0; k < 6; ++k) held.push_back(f.allocate());
  // Six arrivals within one lead time: six more expected.
  REQUIRE(eventually([&] { return f.warm() >= 6 && f.pool->claimed().empty(); }));
  CHECK(f.engine.count("create") - created_before >= 6);
  CHECK(f.scheduler->last_target().idle == 6);
}

TEST_CASE("a released instance keeps running through its grace, then upkeep pauses it") {
  PoolPolicy p = adaptive(4, 1, 0);
  p.adaptive = false;
  p.pause_grace_ms = 5000;
  Fixture f(p);
  f.settle_pool(1);
  CHECK(f.count(S::Paused) == 1);
  const auto allocation = f.allocate();
  f.pool->release(allocation.id);
  REQUIRE(eventually([&] { return f.count(S::Ready) == 1 && f.pool->claimed().empty(); }));
  f.scheduler->tick();
  CHECK(f.count(S::Ready) == 1);  // within its grace
  f.clock.advance_ms(5000);
  f.scheduler->tick();
  CHECK(f.count(S::Paused) == 1);
}

TEST_CASE("with floor 0 the pool scales to zero when nothing arrives, and back on the next hand-out") {
  Fixture f(adaptive(8, 0, 0));
  f.scheduler->tick();
  CHECK(f.store.instances(Show::Current).empty());  // nothing asked for yet: nothing kept

  // Three at once, cold. Each must be served: a hand-out under way once
  // counted as an instance coming for the others, and the third waited in vain.
  std::vector<std::jthread> clients;
  std::vector<std::string> ids(3), errors(3);
  for (int k = 0; k < 3; ++k)
    clients.emplace_back([&, k] {
      try {
        ids[k] = f.allocate(5s).id;
      } catch (const AllocateError& e) {
        errors[k] = e.what();
      }
    });
  clients.clear();
  for (const auto& e : errors) CHECK(e == "");
  for (const auto& id : ids) f.pool->release(id);
  // Every instance idle: a released one is `resetting` before its reset
  // starts, and one that a tick after the clock moves resets and pauses
  // would count as idle from then on.
  REQUIRE(eventually([&] {
    f.scheduler->tick();
    const auto all = f.store.instances(Show::Current);
    return f.warm() >= 3 && f.warm() == static_cast<int>(all.size()) && f.pool->claimed().empty();
  }));  // three came together: three expected

  f.clock.advance_ms(61'000);  // quiet past --idle-shrink-s
  const bool emptied = eventually([&] {
    f.scheduler->tick();
    return f.store.instances(Show::Current).empty();
  });
  std::string left;
  for (const auto& i : f.store.instances(Show::Current))
    left += " #" + std::to_string(i.id) + " " + to_string(i.state) + " " + i.last_error + ";";
  INFO("left:" << left << " claimed " << f.pool->claimed().size() << ", target idle "
               << f.scheduler->last_target().idle);
  REQUIRE(emptied);

  const auto back = f.allocate(5s);  // cold: nothing was idle
  REQUIRE(eventually([&] {
    f.scheduler->tick();
    return f.warm() >= 3 && f.pool->claimed().empty();  // the burst is expected again
  }));
  f.pool->release(back.id);
}

TEST_CASE("hand-outs while the engine is unreachable start no creates against it") {
  Fixture f(adaptive(16, 2, 0));
  f.settle_pool(2);  // the ticks found the engine answering
  f.engine.set_reachable(false);
  // The first hand-out finds out (its unpause cannot reach the engine); the
  // next ones are told at once. Each arrival raises the demand's target.
  for (int k = 0; k < 6; ++k) CHECK_THROWS_AS(f.allocate(), AllocateError);
  REQUIRE(f.pool->engine_down());
  const int creates = f.engine.count("create");
  CHECK(f.scheduler->refill() == 0);  // what the arrivals' wake-ups run
  CHECK(f.engine.count("create") == creates);
  CHECK(f.count(S::Starting) == 0);
  f.engine.set_reachable(true);
  f.scheduler->tick();  // finds the engine back, and refills
  CHECK(eventually([&] { return f.engine.count("create") > creates; }));
}

TEST_CASE("a create the engine could not answer is resumed once it is back, without using up a restart") {
  Fixture f(adaptive(4, 1, 0));
  f.settle_pool(1);
  f.engine.fail("create", engine::EngineError::Kind::Unreachable);
  f.pool->add_instance();
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(f.pool->engine_down());
  CHECK(f.count(S::Error) == 0);  // the engine's fault, not the instance's
  f.settle_pool(2);  // the ticks find the engine back and resume the create
  for (const auto& i : f.store.instances(Show::Current)) {
    CHECK(i.restarts == 0);
    CHECK(i.failures == 0);
  }
}

TEST_CASE("once no burst is on, upkeep's creates are paced; a hand-out's refill is not") {
  Fixture f(adaptive(16, 6, 0));
  f.scheduler = std::make_unique<Scheduler>(
      Scheduler::Settings{.period = 1h, .refill_pace = {.per_s = 2, .calm_after_ms = 2000}}, *f.pool, f.store,
      f.engine, f.clock, f.host);
  // Nothing arrived yet: filling to the floor of 6 starts one second's worth.
  auto report = f.scheduler->tick();
  CHECK(report.created == 2);
  CHECK(report.paced == 4);
  CHECK(f.scheduler->tick().created == 0);  // no time has passed: no token came back
  f.clock.advance_ms(1000);
  CHECK(f.scheduler->tick().created == 2);
  f.clock.advance_ms(1000);
  CHECK(f.scheduler->tick().created == 2);
  f.settle_pool(6);

  // A burst: its refill starts every create the target lacks at once, with
  // the bucket empty and no time passed.
  f.scheduler->tick();
  std::vector<Allocation> held;
  for (int k = 0; k < 4; ++k) held.push_back(f.allocate());
  const int before = f.count(S::Starting) + f.count(S::Ready) + f.count(S::Paused);
  CHECK(f.scheduler->refill() >= 4);
  CHECK(f.count(S::Starting) + f.count(S::Ready) + f.count(S::Paused) >= before + 4);
}

TEST_CASE("upkeep removes a burst's surplus at most --remove-per-s a second, the rest at later ticks") {
  PoolPolicy p = adaptive(8, 0, 0);
  p.adaptive = false;
  p.max_idle = 2;
  Fixture f(p);
  f.scheduler = std::make_unique<Scheduler>(Scheduler::Settings{.period = 1h, .remove_pace = {.per_s = 2}},
                                            *f.pool, f.store, f.engine, f.clock, f.host);
  std::vector<Allocation> held;
  for (int k = 0; k < 8; ++k) held.push_back(f.allocate());
  for (const auto& a : held) f.pool->release(a.id);
  REQUIRE(eventually([&] { return f.warm() == 8 && f.pool->claimed().empty(); }));
  // Six above --max-idle: two go now, four wait.
  auto report = f.scheduler->tick();
  CHECK(report.removed == 2);
  CHECK(report.paced_removals == 4);
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(f.scheduler->tick().removed == 0);  // no time has passed: no token came back
  for (int second = 1; second <= 2; ++second) {
    f.clock.advance_ms(1000);
    CHECK(f.scheduler->tick().removed == 2);
    REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  }
  CHECK(f.warm() == 2);
  CHECK(f.engine.count("remove") == 6);
}
