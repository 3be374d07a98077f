// Several managers on one database: each test opens one store per manager on
// the same database and lets them race. The database, not the managers'
// memory, decides who wins.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "support/test_database.hpp"

using namespace warmpool;
using S = InstanceState;

namespace {

constexpr int kManagers = 6;

// Runs body(k) for k in [0, n) on n threads released at once.
template <typename F>
void race(int n, F body) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int k = 0; k < n; ++k)
    threads.emplace_back([&, k] {
      while (!go) std::this_thread::yield();
      body(k);
    });
  go = true;
  for (auto& t : threads) t.join();
}

// The server ends a closed session's backend (and drops its locks) a moment
// after the client closes it: asks again for up to two seconds.
template <typename F>
bool soon(F ok) {
  for (int k = 0; k < 100; ++k) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE("managers starting at once on a new database migrate it once") {
  // Several rounds: the race that once failed a start (two connections
  // switching a new SQLite file to WAL) is lost only now and then.
  for (int round = 0; round < 5; ++round) {
    test::TestDatabase db;
    std::vector<std::unique_ptr<Store>> stores(kManagers);
    std::atomic<int> failed{0};
    race(kManagers, [&](int k) {
      try {
        stores[k] = db.open();
      } catch (const StoreError& e) {
        UNSCOPED_INFO(e.what());
        ++failed;
      }
    });
    REQUIRE(failed == 0);
    for (auto& store : stores) CHECK(store->schema_version() == Store::kSchemaVersion);
    // One schema, usable by all of them.
    auto i = stores[0]->add_instance("127.0.0.1", 9000, 1);
    CHECK(stores[1]->instance(i.id));
  }
}

TEST_CASE("of managers allocating one idle instance at once, exactly one gets it", "[postgresql]") {
  test::TestDatabase db;
  std::vector<std::unique_ptr<Store>> stores;
  for (int k = 0; k < kManagers; ++k) stores.push_back(db.open());
  for (int round = 0; round < 5; ++round) {
    const auto i = stores[0]->add_instance("127.0.0.1", 9000 + round, 1);
    stores[0]->transition(i.id, S::Ready, 2);
    std::atomic<int> won{0}, stale{0};
    race(kManagers, [&](int k) {
      try {
        stores[k]->allocate(i.id, "r" + std::to_string(round) + "-" + std::to_string(k), "", 3, 100);
        ++won;
      } catch (const StaleState&) {
        ++stale;
      } catch (const StoreError& e) {
        UNSCOPED_INFO(e.what());  // SQLite may answer "database is locked" instead
      }
    });
    CHECK(won == 1);
    if (db.postgres()) CHECK(stale == kManagers - 1);  // row locks: the losers see it allocated
    CHECK(stores[0]->instance(i.id)->state == S::Allocated);
    CHECK(stores[0]->current_allocation_of(i.id));
  }
  CHECK(stores[0]->allocations(Show::Current).size() == 5);
}

TEST_CASE("a release on any manager ends the allocation once; the others see it ended", "[postgresql]") {
  test::TestDatabase db;
  std::vector<std::unique_ptr<Store>> stores;
  for (int k = 0; k < kManagers; ++k) stores.push_back(db.open());
  const auto i = stores[0]->add_instance("127.0.0.1", 9000, 1);
  stores[0]->transition(i.id, S::Ready, 2);
  stores[0]->allocate(i.id, "a", "", 3, 100);
  std::atomic<int> ended{0};
  race(kManagers, [&](int k) {
    bool now = false;
    try {
      stores[k]->end_allocation("a", "released", 10 + k, &now);
    } catch (const StoreError& e) {
      UNSCOPED_INFO(e.what());
    }
    if (now) ++ended;
  });
  CHECK(ended == 1);
  CHECK(stores[kManagers - 1]->instance(i.id)->state == S::Resetting);
  CHECK_FALSE(stores[kManagers - 1]->allocation("a")->current());
}

TEST_CASE("of managers starting one queued pi job at once, exactly one runs it", "[postgresql]") {
  test::TestDatabase db;
  std::vector<std::unique_ptr<Store>> stores;
  for (int k = 0; k < kManagers; ++k) stores.push_back(db.open());
  const Job job = stores[0]->add_job(100, 1);
  std::atomic<int> started{0};
  race(kManagers, [&](int k) {
    if (stores[k]->start_job(job.id, "alloc-" + std::to_string(k), 2)) ++started;
  });
  CHECK(started == 1);
  CHECK(stores[0]->job(job.id)->state == JobState::Running);
}

TEST_CASE("managers adding pi jobs and allocations at once get distinct ids and numbers", "[postgresql]") {
  test::TestDatabase db;
  std::vector<std::unique_ptr<Store>> stores;
  for (int k = 0; k < kManagers; ++k) stores.push_back(db.open());
  for (int k = 0; k < kManagers; ++k) {
    const auto i = stores[0]->add_instance("127.0.0.1", 9000 + k, 1);
    stores[0]->transition(i.id, S::Ready, 2);
  }
  const auto idle = stores[0]->instances(Show::Current);
  race(kManagers, [&](int k) {
    try {
      stores[k]->add_job(10, 3);
      stores[k]->allocate(idle[k].id, "a" + std::to_string(k), "", 3, 100);
    } catch (const StoreError& e) {
      UNSCOPED_INFO(e.what());
    }
  });
  std::set<std::int64_t> numbers, ids;
  for (const auto& a : stores[0]->allocations(Show::All)) numbers.insert(a.number);
  for (const auto& j : stores[0]->recent_jobs(100)) ids.insert(j.id);
  CHECK(numbers.size() == kManagers);
  CHECK(ids.size() == kManagers);
}

TEST_CASE("a hold is one manager's at a time, and a manager that goes away lets go", "[postgresql]") {
  test::TestDatabase db;
  auto a = db.open("a");
  auto b = db.open("b");
  CHECK(a->hold(Hold::Instance, 7));
  CHECK(a->hold(Hold::Instance, 7));  // counted within one manager
  CHECK_FALSE(b->hold(Hold::Instance, 7));
  CHECK(b->hold(Hold::Job, 7));  // another kind, another hold
  a->let_go(Hold::Instance, 7);
  CHECK_FALSE(b->hold(Hold::Instance, 7));  // a still holds it once
  a->let_go(Hold::Instance, 7);
  CHECK(b->hold(Hold::Instance, 7));
  b.reset();  // b's connection ends
  CHECK(soon([&] { return a->hold(Hold::Instance, 7); }));
  CHECK(soon([&] { return a->hold(Hold::Job, 7); }));
}

TEST_CASE("one manager leads; when its session ends another takes over", "[postgresql]") {
  test::TestDatabase db;
  auto a = db.open("manager-a");
  auto b = db.open("manager-b");
  CHECK(b->leader().empty());
  REQUIRE(a->lead());
  CHECK(a->lead());  // kept
  CHECK_FALSE(b->lead());
  CHECK(b->leader() == "manager-a");
  CHECK(a->leader() == "manager-a");

  // The database ends a's session (a lost connection): b takes over, and a,
  // reconnected by its next call, finds it no longer leads.
  db.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='manager-a'");
  CHECK(soon([&] { return b->lead(); }));
  bool a_leads = true;
  try {
    a_leads = a->lead();
  } catch (const StoreError&) {
    a_leads = a->lead();  // the first call may find the connection broken
  }
  CHECK_FALSE(a_leads);
  CHECK(a->leader() == "manager-b");

  // A manager that stops (its connection closes) hands over at once.
  b.reset();
  CHECK(soon([&] { return a->lead(); }));
}

TEST_CASE("of managers allocating for one client at its quota's last place, exactly one passes", "[postgresql]") {
  test::TestDatabase db;
  std::vector<std::unique_ptr<Store>> stores;
  for (int k = 0; k < kManagers; ++k) stores.push_back(db.open());
  constexpr int kQuota = 3;
  for (int k = 0; k < kQuota - 1; ++k) {  // the client holds quota - 1
    const auto i = stores[0]->add_instance("127.0.0.1", 9100 + k, 1);
    stores[0]->transition(i.id, S::Ready, 2);
    stores[0]->allocate(i.id, "held-" + std::to_string(k), "front", 3, 100, {}, {.pool = kQuota, .overall = 0});
  }
  std::vector<std::int64_t> idle;
  for (int k = 0; k < kManagers; ++k) {  // one idle instance for each manager
    const auto i = stores[0]->add_instance("127.0.0.1", 9200 + k, 1);
    stores[0]->transition(i.id, S::Ready, 2);
    idle.push_back(i.id);
  }
  std::atomic<int> passed{0}, over{0};
  race(kManagers, [&](int k) {
    try {
      stores[k]->allocate(idle[k], "race-" + std::to_string(k), "front", 4, 100, {}, {.pool = kQuota, .overall = 0});
      ++passed;
    } catch (const OverQuota& e) {
      CHECK(e.current() == kQuota);
      ++over;
    }
  });
  CHECK(passed == 1);
  CHECK(over == kManagers - 1);
  CHECK(stores[0]->current_allocations_of_client("front") == kQuota);
}
