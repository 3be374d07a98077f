// The pool on the freezer path: paused means frozen through the container's
// cgroup (a FakeFreezer), which the engine does not see. pool_test.cpp runs
// the same pool on the engine's pause.
#include <catch2/catch.hpp>

#include "support/pool_fixture.hpp"

using namespace warmpool;
using test::eventually;
using namespace std::chrono_literals;
using S = InstanceState;
using engine::ContainerStatus;
using engine::FreezerError;

namespace {

// The shared pool fixture on the freezer path.
struct FreezerFixture : test::PoolFixture {
  FreezerFixture(int max_instances, int keep_running)
      : PoolFixture({.policy = {.max_instances = max_instances, .min_idle = 0, .keep_running = keep_running},
                     .port_first = 30100,
                     .max_restarts = 1,
                     .freezer = true}) {}
};

}  // namespace

TEST_CASE("freezer path: paused instances are frozen, the engine still says running, a hand-out thaws") {
  FreezerFixture f(2, 0);
  f.warm(2);
  CHECK(f.count(S::Paused) == 2);
  CHECK(f.engine.count("pause") == 0);
  for (const auto& [id, c] : f.engine.containers()) {
    CHECK(c.status == ContainerStatus::Running);  // the engine did not pause it
    CHECK(c.frozen);
    CHECK(f.pauser.inspect(id).status == ContainerStatus::Paused);  // the pool's view
  }
  const Allocation a = f.allocate();
  CHECK(f.engine.count("unpause") == 0);
  CHECK(f.freezer.count("thaw") == 1);
  CHECK_FALSE(*f.engine.frozen(f.container_of(a.instance_id)));
  CHECK(f.store.instance(a.instance_id)->state == S::Allocated);
  CHECK(f.pauser.status().freezer);

  f.pool->release(a.id);  // keep_running 0: it goes back frozen
  REQUIRE(eventually([&] { return f.count(S::Paused) == 2 && f.pool->claimed().empty(); }));
  CHECK(*f.engine.frozen(f.container_of(a.instance_id)));
  CHECK(f.engine.count("pause") == 0);
}

TEST_CASE("freezer path: a thaw that fails puts that instance in error and the next one serves") {
  FreezerFixture f(2, 0);
  f.warm(2);
  f.freezer.fail("thaw", FreezerError::Kind::Timeout);
  const Allocation a = f.allocate();
  CHECK(f.store.instance(a.instance_id)->state == S::Allocated);
  bool reason_kept = false;
  for (const auto& i : f.store.instances(Show::Current))
    reason_kept |= i.last_error.find("freezer.state: still freezing") != std::string::npos;
  CHECK(reason_kept);
  CHECK(f.pauser.status().freezer);  // one failure does not switch
}

TEST_CASE("freezer path: a freezer that fails on every instance switches to the engine's pause") {
  FreezerFixture f(5, 0);
  f.freezer.fail("freeze", FreezerError::Kind::Denied, -1);
  for (int i = 0; i < 4; ++i) f.pool->add_instance();
  // Each fails to freeze and goes to error, with the freezer's reason, until
  // the third in a row switches (a fourth may already come after the switch).
  REQUIRE(eventually([&] { return f.count(S::Error) + f.count(S::Paused) == 4 && f.pool->claimed().empty(); }));
  CHECK(f.count(S::Error) >= Pauser::kSwitchAfter);
  CHECK_FALSE(f.pauser.status().freezer);
  CHECK_THAT(f.pauser.status().why, Catch::Contains("Permission denied"));
  CHECK_THAT(f.pauser.status().why, Catch::Contains("using the engine's pause"));
  // From now on the engine pauses: the pool is not dead.
  if (f.count(S::Paused) == 0) f.pool->add_instance();
  REQUIRE(eventually([&] { return f.count(S::Paused) == 1 && f.pool->claimed().empty(); }));
  CHECK(f.engine.count("pause") == 1);
  const Allocation a = f.allocate();
  CHECK(f.store.instance(a.instance_id)->state == S::Allocated);
}

TEST_CASE("freezer path: a frozen container is thawed before it is removed") {
  FreezerFixture f(1, 0);
  f.warm(1);
  const auto id = f.store.instances(Show::Current).front().id;
  const std::string container = f.container_of(id);
  REQUIRE(*f.engine.frozen(container));
  f.pool->delete_instance(id, "test");
  REQUIRE(eventually([&] { return f.store.instance(id)->state == S::Deleted; }));
  CHECK(f.engine.containers().empty());
  CHECK(f.freezer.count("thaw") == 1);
}

TEST_CASE("freezer path: a restart of a frozen instance thaws it first") {
  FreezerFixture f(1, 0);
  f.warm(1);
  const auto id = f.store.instances(Show::Current).front().id;
  f.pool->restart_instance(id);
  REQUIRE(eventually([&] { return f.count(S::Paused) == 1 && f.pool->claimed().empty(); }));
  CHECK(f.engine.count("stop") == 1);
  CHECK(f.store.instance(id)->restarts == 1);
  CHECK(*f.engine.frozen(f.container_of(id)));  // settled frozen again
}
