// Quotas: a client holds at most --quota-per-client current allocations.
// A refusal comes before any instance is claimed, and the count is taken
// again in the transaction that records the allocation, so racing requests
// of one client cannot both take the last place.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <vector>

#include "support/pool_fixture.hpp"

using namespace warmpool;
using test::eventually;
using S = InstanceState;

namespace {

struct Fixture : test::PoolFixture {
  explicit Fixture(int quota, int instances = 6) : PoolFixture({.policy = policy(instances), .client_quota = quota}) {}
  static PoolPolicy policy(int instances) {
    PoolPolicy p;
    p.max_instances = instances;
    p.min_idle = 0;
    p.keep_running = instances;
    return p;
  }
  Allocation allocate_for(const std::string& client) {
    return pool->allocate({0, client, std::chrono::steady_clock::now() + std::chrono::seconds(2)});
  }
};

}  // namespace

TEST_CASE("quota: the client's next allocation over its quota is refused with its count; others are not") {
  Fixture f(2);
  f.warm(4);
  const Allocation a1 = f.allocate_for("a");
  f.allocate_for("a");
  const int claims_before = f.engine.count("unpause");
  try {
    f.allocate_for("a");
    FAIL("a third allocation passed a quota of 2");
  } catch (const AllocateError& e) {
    CHECK(e.kind() == AllocateError::Kind::OverQuota);
    CHECK(e.current() == 2);
    CHECK(std::string(e.what()).find("quota is 2") != std::string::npos);
  }
  CHECK(f.count(S::Allocated) == 2);
  CHECK(f.engine.count("unpause") == claims_before);
  f.allocate_for("b");  // another client
  f.allocate_for("");   // no client: the client "" has a quota of its own
  CHECK(f.count(S::Allocated) == 4);

  f.pool->release(a1.id);
  REQUIRE(eventually([&] { return f.count(S::Ready) == 1 && f.pool->claimed().empty(); }));
  f.allocate_for("a");  // a place is free again
}

TEST_CASE("quota: requests of one client racing for its last places: exactly the quota passes") {
  Fixture f(3, 8);
  f.warm(8);
  std::atomic<bool> go{false};
  std::vector<std::future<int>> racers;
  for (int i = 0; i < 8; ++i)
    racers.push_back(std::async(std::launch::async, [&] {
      while (!go) std::this_thread::yield();
      try {
        f.allocate_for("racer");
        return 1;
      } catch (const AllocateError& e) {
        CHECK(e.kind() == AllocateError::Kind::OverQuota);
        return 0;
      }
    }));
  go = true;
  int passed = 0;
  for (auto& r : racers) passed += r.get();
  CHECK(passed == 3);
  CHECK(f.store.current_allocations_of_client("racer") == 3);
  // Instances a refused commit had claimed went back to the idle pool.
  REQUIRE(eventually([&] { return f.count(S::Ready) + f.count(S::Paused) == 5 && f.pool->claimed().empty(); }));
}

TEST_CASE("quota: the store counts in the allocation's transaction and writes nothing over quota") {
  Fixture f(0);
  f.warm(2);
  const auto instances = f.store.instances(Show::Current);
  f.store.allocate(instances[0].id, "x1", "c", 1, 1000, {}, {.pool = 1, .overall = 0});
  CHECK_THROWS_AS(f.store.allocate(instances[1].id, "x2", "c", 1, 1000, {}, {.pool = 1, .overall = 0}), OverQuota);
  CHECK(is_idle(f.store.instance(instances[1].id)->state));
  CHECK_FALSE(f.store.allocation("x2"));
  CHECK(f.store.current_allocations_of_client("c") == 1);
  f.store.end_allocation("x1", "released", 2);
  CHECK(f.store.current_allocations_of_client("c") == 0);
}
