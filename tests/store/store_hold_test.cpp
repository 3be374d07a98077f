// A hand-out's claim (hold_instance) and what several managers, or several
// threads of one manager, see of each other's holds and changes.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "store_pg/pg_conn.hpp"
#include "support/test_database.hpp"

using namespace warmpool;
using S = InstanceState;

namespace {

// Another session's lock on one instance's row, held until unlock().
class RowLock {
 public:
  RowLock(const std::string& target, std::int64_t instance_id) : conn_(target) {
    conn_.locked("lock the row", [&] {
      conn_.script("BEGIN; SELECT 1 FROM instances WHERE id=" + std::to_string(instance_id) + " FOR UPDATE");
      return 0;
    });
  }
  // Returns once a statement waits for a lock.
  void wait_for_a_waiter() {
    while (waiters() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void unlock() {
    conn_.locked("unlock the row", [&] {
      conn_.script("COMMIT");
      return 0;
    });
  }

 private:
  std::int64_t waiters() {
    return conn_.locked("read locks", [&] {
      return *conn_.one("SELECT count(*) FROM pg_locks WHERE NOT granted", +[](const PgRow& r) { return r.int64(0); });
    });
  }
  PgConn conn_;
};

}  // namespace

TEST_CASE("a claim holds the instance and reads its record; no such instance holds nothing") {
  test::TestDatabase db;
  Store& store = db.store();
  const auto i = store.add_instance("127.0.0.1", 9000, 1);
  store.transition(i.id, S::Ready, 2);
  const auto held = store.hold_instance(i.id);
  REQUIRE(held);
  CHECK(held->id == i.id);
  CHECK(held->state == S::Ready);
  CHECK(held->endpoint() == "127.0.0.1:9000");
  store.let_go(Hold::Instance, i.id);
  CHECK_THROWS_AS(store.hold_instance(i.id + 100), StoreError);
  if (!db.postgres()) return;
  auto other = db.open("other");
  CHECK(other->hold(Hold::Instance, i.id + 100));  // the failed claim kept no hold
}

TEST_CASE("a claim is refused while another manager holds the instance", "[postgresql]") {
  test::TestDatabase db;
  auto a = db.open("a");
  auto b = db.open("b");
  const auto i = a->add_instance("127.0.0.1", 9000, 1);
  a->transition(i.id, S::Ready, 2);
  REQUIRE(a->hold_instance(i.id));
  CHECK_FALSE(b->hold_instance(i.id));
  CHECK_FALSE(b->hold(Hold::Instance, i.id));
  a->let_go(Hold::Instance, i.id);
  const auto taken = b->hold_instance(i.id);
  REQUIRE(taken);
  CHECK(taken->state == S::Ready);
}

// A manager spreads its holds over several sessions. Each instance's still
// keeps every other manager out, and a second hold of it by the same manager
// is counted on the same session: it takes two let-gos to free it.
TEST_CASE("every hold keeps other managers out, and one taken twice is let go twice", "[postgresql]") {
  test::TestDatabase db;
  auto a = db.open("a");
  auto b = db.open("b");
  std::vector<std::int64_t> ids;
  for (int k = 0; k < 8; ++k) {
    const auto i = a->add_instance("127.0.0.1", 9000 + k, 1);
    a->transition(i.id, S::Ready, 2);
    ids.push_back(i.id);
  }
  for (auto id : ids) {
    REQUIRE(a->hold_instance(id));
    REQUIRE(a->hold(Hold::Instance, id));
  }
  for (auto id : ids) CHECK_FALSE(b->hold_instance(id));
  for (auto id : ids) a->let_go(Hold::Instance, id);
  for (auto id : ids) CHECK_FALSE(b->hold(Hold::Instance, id));
  for (auto id : ids) a->let_go(Hold::Instance, id);
  for (auto id : ids) CHECK(b->hold(Hold::Instance, id));
}

// Manager b allocates an instance under its hold and lets go right after the
// commit; manager a claims it as soon as it can. a must see the allocation,
// never the idle record of before: it would reset b's client's session.
TEST_CASE("a claim taken just after another manager's hand-out reads the instance allocated", "[postgresql]") {
  test::TestDatabase db;
  auto a = db.open("a");
  auto b = db.open("b");
  for (int round = 0; round < 100; ++round) {
    const auto i = a->add_instance("127.0.0.1", 9000 + round, 1);
    a->transition(i.id, S::Ready, 2);
    REQUIRE(b->hold_instance(i.id));
    std::atomic<bool> go{false};
    std::thread hand_out([&] {
      while (!go) std::this_thread::yield();
      b->allocate(i.id, "r" + std::to_string(round), "", 3, 100);
      b->let_go(Hold::Instance, i.id);
    });
    go = true;
    std::optional<Instance> seen;
    while (!(seen = a->hold_instance(i.id))) std::this_thread::yield();
    hand_out.join();
    CHECK(seen->state == S::Allocated);
    a->let_go(Hold::Instance, i.id);
  }
}

// One manager's store calls run side by side: a call that waits for a row
// another session has locked leaves the others to go on.
TEST_CASE("a store call waiting on a lock does not hold up the manager's other calls", "[postgresql]") {
  test::TestDatabase db;
  Store& store = db.store();
  const auto i = store.add_instance("127.0.0.1", 9000, 1);
  RowLock other(db.target(), i.id);
  auto waiting = std::async(std::launch::async, [&] { return store.transition(i.id, S::Ready, 2); });
  other.wait_for_a_waiter();
  // Meanwhile, the same manager reads, claims and writes.
  auto others = std::async(std::launch::async, [&] {
    const auto j = store.add_instance("127.0.0.1", 9001, 3);
    store.transition(j.id, S::Ready, 4);
    return store.hold_instance(j.id).has_value() && store.instances(Show::Current).size() == 2;
  });
  const bool went_on = others.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  other.unlock();
  REQUIRE(went_on);
  CHECK(others.get());
  CHECK(waiting.get().state == S::Ready);
}

// Concurrent hand-outs of one manager hold, allocate and let go of different
// instances: one whose allocation waits for a row lock leaves the others to
// claim and allocate theirs.
TEST_CASE("a hand-out waiting on a lock does not hold up the manager's hand-outs of other instances",
          "[postgresql]") {
  test::TestDatabase db;
  Store& store = db.store();
  std::vector<Instance> idle;  // ids one apart: their holds live on different sessions
  for (int k = 0; k < 2; ++k) {
    idle.push_back(store.add_instance("127.0.0.1", 9000 + k, 1));
    store.transition(idle.back().id, S::Ready, 2);
  }
  const Instance stuck = idle.front();
  REQUIRE(store.hold_instance(stuck.id));
  RowLock other(db.target(), stuck.id);
  auto waiting = std::async(std::launch::async, [&] { return store.allocate(stuck.id, "stuck", "", 3, 100); });
  other.wait_for_a_waiter();
  auto others = std::async(std::launch::async, [&] {
    for (std::size_t k = 1; k < idle.size(); ++k) {
      if (!store.hold_instance(idle[k].id)) return false;
      store.allocate(idle[k].id, "other-" + std::to_string(k), "", 3, 100);
    }
    return true;
  });
  const bool went_on = others.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  other.unlock();
  REQUIRE(went_on);
  CHECK(others.get());
  CHECK(waiting.get().instance_id == stuck.id);
}

TEST_CASE("an allocation under a hold lets go of it once committed; a refused one keeps it", "[postgresql]") {
  test::TestDatabase db;
  auto a = db.open("a");
  auto b = db.open("b");
  const auto i = a->add_instance("127.0.0.1", 9000, 1);
  a->transition(i.id, S::Ready, 2);
  REQUIRE(a->hold_instance(i.id));
  a->allocate(i.id, "first", "", 3, 100);
  CHECK(b->hold(Hold::Instance, i.id));  // let go with the commit
  a->let_go(Hold::Instance, i.id);       // the caller's let_go still comes; it lets go of nothing more
  CHECK_FALSE(a->hold(Hold::Instance, i.id));
  b->let_go(Hold::Instance, i.id);

  // Allocated already: refused, and the hold stays until let go.
  REQUIRE(a->hold_instance(i.id));
  CHECK_THROWS_AS(a->allocate(i.id, "second", "", 4, 100), StaleState);
  CHECK_FALSE(b->hold(Hold::Instance, i.id));
  a->let_go(Hold::Instance, i.id);
  CHECK(b->hold(Hold::Instance, i.id));
  b->let_go(Hold::Instance, i.id);

  // Held twice: the allocation lets go of one.
  const auto j = a->add_instance("127.0.0.1", 9001, 5);
  a->transition(j.id, S::Ready, 6);
  REQUIRE(a->hold(Hold::Instance, j.id));
  REQUIRE(a->hold_instance(j.id));
  a->allocate(j.id, "third", "", 7, 100);
  CHECK_FALSE(b->hold(Hold::Instance, j.id));
  a->let_go(Hold::Instance, j.id);
  CHECK(b->hold(Hold::Instance, j.id));
}

// What a hand-out asks of the store (Pool::claim_idle, then commit): list,
// claim, allocate, let go. On PostgreSQL each round trip is most of its cost
// beyond SQLite's (bench_alloc --database): three, once the statements are
// prepared on each connection (holds are spread over a few sessions).
TEST_CASE("a hand-out's store calls take three round trips on PostgreSQL", "[postgresql]") {
  test::TestDatabase db;
  Store& store = db.store();
  auto hand_out = [&](int k) {
    const auto i = store.add_instance("127.0.0.1", 9000 + k, 1);
    store.transition(i.id, S::Ready, 2);
    const auto before = PgConn::round_trips();
    REQUIRE(store.instances(Show::Current).size() == static_cast<std::size_t>(k + 1));
    REQUIRE(store.hold_instance(i.id));
    store.allocate(i.id, "a" + std::to_string(k), "", 3, 100);
    store.let_go(Hold::Instance, i.id);
    return PgConn::round_trips() - before;
  };
  constexpr int kWarmUp = 16;  // instances enough to have used every session connection
  for (int k = 0; k < kWarmUp; ++k) hand_out(k);
  CHECK(hand_out(kWarmUp) == 3);
}
