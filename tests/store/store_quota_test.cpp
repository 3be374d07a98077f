// Quotas in the allocation's transaction, on both stores: a pool's quota
// counts the client's current allocations in the instance's pool, the
// overall one in every pool; over either, nothing is written and the
// refusal says which.
#include <catch2/catch.hpp>

#include "support/test_database.hpp"

using namespace warmpool;

namespace {
std::int64_t ready_instance(Store& store, const std::string& pool, int port) {
  const auto i = store.add_instance("127.0.0.1", port, 1, pool);
  store.transition(i.id, InstanceState::Ready, 2);
  return i.id;
}
}  // namespace

TEST_CASE("quotas: a pool's quota counts that pool only; the overall quota counts every pool") {
  test::TestDatabase db;
  Store& store = db.store();
  const ClientQuotas quotas{.pool = 2, .overall = 3};
  store.allocate(ready_instance(store, kDefaultPool, 9400), "d1", "front", 3, 100, {}, quotas);
  store.allocate(ready_instance(store, kDefaultPool, 9401), "d2", "front", 3, 100, {}, quotas);
  const auto third_default = ready_instance(store, kDefaultPool, 9402);
  try {
    store.allocate(third_default, "d3", "front", 3, 100, {}, quotas);
    FAIL("a third allocation in default passed its pool quota of 2");
  } catch (const OverQuota& e) {
    CHECK(e.scope() == QuotaScope::Pool);
    CHECK(e.quota() == 2);
    CHECK(e.current() == 2);
  }
  CHECK_FALSE(store.allocation("d3"));
  CHECK(store.instance(third_default)->state == InstanceState::Ready);

  // The same client in another pool: that pool's count is 0.
  store.allocate(ready_instance(store, "small", 9500), "s1", "front", 3, 100, {}, quotas);
  CHECK(store.current_allocations_of_client("front", "small") == 1);
  CHECK(store.current_allocations_of_client("front", kDefaultPool) == 2);
  CHECK(store.current_allocations_of_client("front") == 3);
  const auto second_small = ready_instance(store, "small", 9501);
  try {
    store.allocate(second_small, "s2", "front", 3, 100, {}, quotas);
    FAIL("a fourth allocation passed the overall quota of 3");
  } catch (const OverQuota& e) {
    CHECK(e.scope() == QuotaScope::Overall);
    CHECK(e.quota() == 3);
    CHECK(e.current() == 3);
  }
  CHECK_FALSE(store.allocation("s2"));
  CHECK(store.instance(second_small)->state == InstanceState::Ready);

  // A pool quota alone lets the client hold it in each pool.
  store.allocate(second_small, "s2", "front", 3, 100, {}, {.pool = 2, .overall = 0});
  CHECK(store.current_allocations_of_client("front") == 4);
  // An ended allocation frees its place in both counts.
  store.end_allocation("d1", "released", 4);
  store.allocate(third_default, "d3", "front", 5, 100, {}, {.pool = 2, .overall = 4});
  CHECK(store.allocation("d3"));
}
