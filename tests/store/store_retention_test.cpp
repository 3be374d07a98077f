// Retention (Store::prune_finished): old finished records go, everything a
// user can still act on stays, and one call does bounded work.
#include <catch2/catch.hpp>

#include <string>

#include "support/test_database.hpp"

using namespace warmpool;
using S = InstanceState;

namespace {

Instance ready(Store& store, int port, std::int64_t now_ms) {
  Instance i = store.add_instance("127.0.0.1", port, now_ms);
  return store.transition(i.id, S::Ready, now_ms);
}

// Hands `instance` out at from_ms and takes it back at to_ms (ready again).
void hand_out(Store& store, std::int64_t instance, const std::string& id, std::int64_t from_ms,
              std::int64_t to_ms) {
  store.allocate(instance, id, "test", from_ms, from_ms + 60'000);
  store.end_allocation(id, "released", to_ms);
  store.transition(instance, S::Ready, to_ms);
}

void remove(Store& store, std::int64_t instance, std::int64_t now_ms) {
  store.transition(instance, S::Deleting, now_ms);
  store.transition(instance, S::Deleted, now_ms);
}

}  // namespace

TEST_CASE("retention removes old finished allocations and keeps current and recent ones") {
  test::TestDatabase db;
  Store& store = db.store();
  const Instance a = ready(store, 9000, 1);
  const Instance b = ready(store, 9001, 1);
  hand_out(store, a.id, "old", 10, 20);
  hand_out(store, a.id, "recent", 30, 150);
  store.allocate(b.id, "current", "test", 10, 1'000'000);  // older than the cutoff, still held

  const Store::Pruned pruned = store.prune_finished(100, 1000);
  CHECK(pruned.allocations == 1);
  CHECK(pruned.instances == 0);
  CHECK_FALSE(store.allocation("old"));
  CHECK(store.allocation("recent"));
  CHECK(store.allocation("current"));
  CHECK(store.current_allocation_of(b.id)->id == "current");
  CHECK(store.instances(Show::Current).size() == 2);
  CHECK(store.prune_finished(100, 1000).allocations == 0);  // nothing left to do
}

TEST_CASE("retention removes old deleted instances with their events, unless a kept allocation names them") {
  test::TestDatabase db;
  Store& store = db.store();
  const Instance gone = ready(store, 9000, 1);
  hand_out(store, gone.id, "gone", 10, 20);
  remove(store, gone.id, 30);
  // Lost while handed out: deleted before the cutoff, its allocation ended after.
  const Instance named = ready(store, 9001, 1);
  store.allocate(named.id, "kept", "test", 10, 1'000'000);
  remove(store, named.id, 40);
  store.end_allocation("kept", "instance lost", 150);
  const Instance recent = ready(store, 9002, 1);
  remove(store, recent.id, 120);
  REQUIRE_FALSE(store.events(gone.id, 100).empty());

  const Store::Pruned pruned = store.prune_finished(100, 1000);
  CHECK(pruned.allocations == 1);
  CHECK(pruned.instances == 1);
  CHECK_FALSE(store.instance(gone.id));
  CHECK(store.events(gone.id, 100).empty());
  CHECK(store.instance(named.id));
  CHECK_FALSE(store.events(named.id, 100).empty());
  CHECK(store.allocation("kept"));
  CHECK(store.instance(recent.id));
}

TEST_CASE("retention removes at most one batch a call") {
  test::TestDatabase db;
  Store& store = db.store();
  const Instance a = ready(store, 9000, 1);
  for (int k = 0; k < 5; ++k) hand_out(store, a.id, "a" + std::to_string(k), 10 + k, 20 + k);
  remove(store, a.id, 30);

  CHECK(store.prune_finished(100, 2).allocations == 2);
  CHECK(store.allocations(Show::All).size() == 3);
  CHECK(store.prune_finished(100, 2).allocations == 2);
  CHECK(store.prune_finished(100, 2).allocations == 0);  // the newest stays
  CHECK(store.allocations(Show::All).size() == 1);
}

TEST_CASE("retention keeps the newest allocation, so allocation numbers never repeat") {
  // The compatibility view's clients know allocations by number: a number
  // must not name a second allocation after a long quiet pruned the rest.
  test::TestDatabase db;
  Store& store = db.store();
  const Instance a = ready(store, 9000, 1);
  for (int k = 0; k < 3; ++k) hand_out(store, a.id, "a" + std::to_string(k), 10 + k, 20 + k);
  const std::int64_t highest = store.allocation("a2")->number;
  const Instance gone = ready(store, 9001, 1);
  remove(store, gone.id, 30);

  while (store.prune_finished(100, 1000).allocations > 0) {
  }
  const auto kept = store.allocations(Show::All);
  REQUIRE(kept.size() == 1);
  CHECK(kept.front().id == "a2");
  CHECK_FALSE(store.instance(gone.id));  // instances no allocation names still go
  CHECK(store.allocate(a.id, "next", "test", 200, 60'000).number > highest);
}

TEST_CASE("allocations are listed a page at a time, in the order they were made, filtered by client") {
  test::TestDatabase db;
  Store& store = db.store();
  const Instance a = ready(store, 9000, 1);
  const Instance b = ready(store, 9001, 1);
  // Made in this order; "b1" is still current.
  hand_out(store, a.id, "a1", 10, 20);
  store.allocate(b.id, "b1", "other", 15, 60'000);
  hand_out(store, a.id, "a2", 30, 40);
  hand_out(store, a.id, "a3", 50, 60);
  auto ids = [](const std::vector<Allocation>& page) {
    std::vector<std::string> out;
    for (const auto& x : page) out.push_back(x.id);
    return out;
  };
  const auto first = store.allocations({.show = Show::All, .limit = 2});
  CHECK(ids(first) == std::vector<std::string>{"a1", "b1"});
  const auto second = store.allocations({.show = Show::All, .after_number = first.back().number, .limit = 2});
  CHECK(ids(second) == std::vector<std::string>{"a2", "a3"});
  CHECK(store.allocations({.show = Show::All, .after_number = second.back().number, .limit = 2}).empty());
  CHECK(ids(store.allocations({.show = Show::Finished, .client = "test"})) ==
        std::vector<std::string>{"a1", "a2", "a3"});
  CHECK(ids(store.allocations({.show = Show::Current, .client = "other"})) == std::vector<std::string>{"b1"});
  CHECK(store.allocations({.show = Show::Current, .client = "test"}).empty());
  CHECK(ids(store.allocations(Show::All)).size() == 4);
}
