#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite_store.hpp"
#include "support/test_database.hpp"

using namespace warmpool;
using S = InstanceState;

namespace {
// Takes a SQLite file back to schema 6 (before engines and pools), as the
// older migration tests need before going further back.
void undo_pools_schema(SQLite::Database& db) {
  db.exec("ALTER TABLE jobs DROP COLUMN pool");
  db.exec("ALTER TABLE instances DROP COLUMN engine");
  db.exec("DROP INDEX instances_by_pool");
  db.exec("ALTER TABLE instances DROP COLUMN pool");
  db.exec("ALTER TABLE allocations DROP COLUMN pool");
  db.exec("DROP TABLE pools");
}
}  // namespace

TEST_CASE("store migrates a new database to the current schema, and reopens it") {
  test::TestDatabase db;
  CHECK(db.store().schema_version() == Store::kSchemaVersion);
  db.store().add_instance("127.0.0.1", 9000, 1);
  Store& again = db.reopen();
  CHECK(again.schema_version() == Store::kSchemaVersion);
  CHECK(again.instances(Show::Current).size() == 1);
}

TEST_CASE("a database whose schema is newer than this warmpool is refused") {
  test::TestDatabase db;
  db.store();
  db.exec(db.postgres() ? "UPDATE warmpool_schema SET version = 99" : "PRAGMA user_version=99");
  CHECK_THROWS_WITH(db.reopen(), Catch::Contains("database schema version 99 is newer"));
}

TEST_CASE("store records instance transitions and refuses illegal ones") {
  test::TestDatabase db;
  Store& store = db.store();
  Instance i = store.add_instance("127.0.0.1", 9000, 10);
  CHECK(i.state == S::Starting);
  CHECK(i.endpoint() == "127.0.0.1:9000");
  CHECK_THROWS_AS(store.transition(i.id, S::Allocated, 11), StaleState);
  CHECK(store.instance(i.id)->state == S::Starting);  // nothing written
  store.transition(i.id, S::Ready, 12);
  auto failed = store.transition(i.id, S::Error, 13, "ping timed out");
  CHECK(failed.failures == 1);
  CHECK(failed.last_error == "ping timed out");
  auto restarted = store.restart(i.id, 14);
  CHECK(restarted.state == S::Starting);
  CHECK(restarted.restarts == 1);
  CHECK(store.transition(i.id, S::Ready, 15).failures == 0);
  store.transition(i.id, S::Deleting, 16);
  auto gone = store.transition(i.id, S::Deleted, 17);
  CHECK(gone.deleted_ms == 17);
  CHECK(store.instances(Show::Current).empty());
  CHECK(store.instances(Show::Finished).size() == 1);
}

TEST_CASE("store keeps ports unique among live instances") {
  test::TestDatabase db;
  Store& store = db.store();
  auto a = store.add_instance("127.0.0.1", 9000, 1);
  CHECK_THROWS_AS(store.add_instance("127.0.0.1", 9000, 2), PortTaken);
  CHECK_THROWS_WITH(store.add_instance("127.0.0.1", 9000, 2), "add instance: port 9000 on 127.0.0.1 is held by a live instance");
  CHECK(store.instances(Show::All).size() == 1);  // nothing written
  store.transition(a.id, S::Deleting, 3);
  store.transition(a.id, S::Deleted, 4);
  CHECK_NOTHROW(store.add_instance("127.0.0.1", 9000, 5));  // a deleted instance frees its port
}

TEST_CASE("store allocates in one transaction, at most one current allocation per instance") {
  test::TestDatabase db;
  Store& store = db.store();
  auto i = store.add_instance("127.0.0.1", 9000, 1);
  store.transition(i.id, S::Ready, 2);
  auto a = store.allocate(i.id, "alloc-1", "frontend", 3, 1003);
  CHECK(a.endpoint == "127.0.0.1:9000");
  CHECK(a.current());
  CHECK(store.instance(i.id)->state == S::Allocated);
  // a second allocation of the same instance is refused and changes nothing
  CHECK_THROWS(store.allocate(i.id, "alloc-2", "", 4, 1004));
  CHECK_FALSE(store.allocation("alloc-2"));

  bool ended = false;
  auto done = store.end_allocation("alloc-1", "released", 5, &ended);
  CHECK(ended);
  CHECK(done->deleted_ms == 5);
  CHECK(done->end_reason == "released");
  CHECK(store.instance(i.id)->state == S::Resetting);
  // idempotent
  auto again = store.end_allocation("alloc-1", "other", 6, &ended);
  CHECK_FALSE(ended);
  CHECK(again->deleted_ms == 5);
  CHECK(again->end_reason == "released");
  CHECK_FALSE(store.end_allocation("nope", "x", 7));
}

TEST_CASE("the database itself refuses a second current allocation") {
  test::TestDatabase db;
  Store& store = db.store();
  auto i = store.add_instance("127.0.0.1", 9000, 1);
  store.transition(i.id, S::Ready, 2);
  store.allocate(i.id, "a1", "", 3, 100);
  CHECK_THROWS(db.exec("INSERT INTO allocations(id, instance_id, endpoint, created_ms, expires_ms) "
                       "VALUES('a2', " + std::to_string(i.id) + ", 'x', 1, 2)"));
  CHECK(store.allocations(Show::All).size() == 1);
}

TEST_CASE("store lists allocations by show and finds expired leases") {
  test::TestDatabase db;
  Store& store = db.store();
  for (int p = 0; p < 3; ++p) {
    auto i = store.add_instance("127.0.0.1", 9000 + p, 1);
    store.transition(i.id, S::Ready, 2);
    store.allocate(i.id, "a" + std::to_string(p), "", 10 + p, 100 * (p + 1));
  }
  store.end_allocation("a0", "released", 50);
  CHECK(store.allocations(Show::Current).size() == 2);
  CHECK(store.allocations(Show::Finished).size() == 1);
  CHECK(store.allocations(Show::All).size() == 3);
  auto expired = store.expired_allocations(200);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].id == "a1");
  store.renew("a1", 1000);
  CHECK(store.expired_allocations(200).empty());
  CHECK(store.renew("a0", 5000)->expires_ms == 100);  // finished: unchanged
}

TEST_CASE("every state change is an event, newest first, bounded per instance") {
  test::TestDatabase db;
  Store& store = db.store();
  const Instance a = store.add_instance("127.0.0.1", 9000, 100);
  const Instance b = store.add_instance("127.0.0.1", 9001, 101);
  store.transition(a.id, InstanceState::Ready, 200);
  store.transition(a.id, InstanceState::Error, 300, "ping: timed out");
  store.restart(a.id, 400);

  const auto mine = store.events(a.id, 10);
  REQUIRE(mine.size() == 4);
  CHECK(mine[0].from == InstanceState::Error);
  CHECK(mine[0].to == InstanceState::Starting);
  CHECK(mine[0].at_ms == 400);
  CHECK(mine[1].to == InstanceState::Error);
  CHECK(mine[1].detail == "ping: timed out");
  CHECK_FALSE(mine[3].from);  // created
  CHECK(mine[3].to == InstanceState::Starting);
  CHECK(mine[3].at_ms == 100);
  CHECK(store.events(b.id, 10).size() == 1);
  CHECK(store.events(std::nullopt, 10).size() == 5);
  CHECK(store.events(std::nullopt, 2).size() == 2);

  // A refused change records nothing.
  CHECK_THROWS_AS(store.transition(b.id, InstanceState::Allocated, 500), StaleState);
  CHECK(store.events(b.id, 10).size() == 1);

  for (int k = 0; k < 40; ++k) {
    store.transition(b.id, InstanceState::Ready, 1000 + 2 * k);
    store.transition(b.id, InstanceState::Paused, 1001 + 2 * k);
  }
  const auto kept = store.events(b.id, 1000);
  CHECK(kept.size() == static_cast<std::size_t>(Store::kEventsPerInstance));
  CHECK(kept.front().at_ms == 1079);
  CHECK(store.events(a.id, 10).size() == 4);  // another instance's are its own
}

TEST_CASE("store numbers allocations 1, 2, 3 in the transaction that makes them, never reused") {
  test::TestDatabase db;
  Store& store = db.store();
  auto i = store.add_instance("127.0.0.1", 9000, 1);
  for (int n = 1; n <= 3; ++n) {
    store.transition(i.id, S::Ready, 2);
    const auto a = store.allocate(i.id, "a" + std::to_string(n), "", 10 + n, 100);
    CHECK(a.number == n);
    store.end_allocation(a.id, "released", 20 + n);
    store.transition(i.id, S::Ready, 30 + n);
    store.transition(i.id, S::Paused, 30 + n);
  }
  REQUIRE(store.allocation_by_number(2));
  CHECK(store.allocation_by_number(2)->id == "a2");
  CHECK(store.allocation("a3")->number == 3);
  CHECK_FALSE(store.allocation_by_number(4));
  CHECK_FALSE(store.allocation_by_number(0));
}

TEST_CASE("the numbering migration numbers existing allocations in the order they were made", "[sqlite]") {
  auto path = std::filesystem::temp_directory_path() / ("warmpool-numbers-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  {
    SqliteStore store(path.string());
    auto i = store.add_instance("127.0.0.1", 9000, 1);
    store.transition(i.id, S::Ready, 2);
    store.allocate(i.id, "first", "", 3, 100);
    store.end_allocation("first", "released", 4);
    store.transition(i.id, S::Ready, 5);
    store.allocate(i.id, "second", "", 6, 100);
  }
  {
    // Back to schema 3, as a manager before the numbers left it.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    undo_pools_schema(db);
    for (const char* column : {"init_bytes", "init_sha256", "metadata", "token_sha256"})
      db.exec(std::string("ALTER TABLE allocations DROP COLUMN ") + column);
    db.exec("DROP INDEX allocations_number");
    db.exec("ALTER TABLE allocations DROP COLUMN number");
    db.exec("PRAGMA user_version=3");
  }
  {
    SqliteStore store(path.string());
    CHECK(store.schema_version() == Store::kSchemaVersion);
    CHECK(store.allocation("first")->number == 1);
    CHECK(store.allocation("second")->number == 2);
    store.end_allocation("second", "released", 7);
    const auto i = store.instances(Show::Current).front();
    store.transition(i.id, S::Ready, 8);
    CHECK(store.allocate(i.id, "third", "", 9, 100).number == 3);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST_CASE("store: an allocation keeps its session's init size, SHA-256, metadata and token hash; schema 4 gains them") {
  const auto path = std::filesystem::temp_directory_path() / ("warmpool-session-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  {
    SqliteStore store(path.string());
    auto i = store.add_instance("127.0.0.1", 9000, 1);
    store.transition(i.id, S::Ready, 2);
    store.allocate(i.id, "before", "", 3, 100);
  }
  {
    // Back to schema 4, as a manager before sessions left it.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    undo_pools_schema(db);
    for (const char* column : {"init_bytes", "init_sha256", "metadata", "token_sha256"})
      db.exec(std::string("ALTER TABLE allocations DROP COLUMN ") + column);
    db.exec("PRAGMA user_version=4");
  }
  SqliteStore store(path.string());
  CHECK(store.schema_version() == Store::kSchemaVersion);
  const auto before = store.allocation("before");
  REQUIRE(before);
  CHECK(before->session.init_bytes == 0);
  CHECK(before->session.init_sha256.empty());
  CHECK(before->session.metadata.empty());

  store.end_allocation("before", "released", 4);
  const auto i = store.instances(Show::Current).front();
  store.transition(i.id, S::Ready, 5);
  AllocationSession session;
  session.init_bytes = 65536;
  session.init_sha256 = std::string(64, 'a');
  session.metadata = R"({"user":"ada"})";
  session.token_sha256 = std::string(64, 'b');
  const Allocation made = store.allocate(i.id, "after", "", 6, 100, session);
  const auto read = store.allocation("after");
  REQUIRE(read);
  for (const Allocation& a : {made, *read}) {
    CHECK(a.session.init_bytes == 65536);
    CHECK(a.session.init_sha256 == std::string(64, 'a'));
    CHECK(a.session.metadata == R"({"user":"ada"})");
    CHECK(a.session.token_sha256 == std::string(64, 'b'));
    CHECK(a.token.empty());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST_CASE("a client's quota is counted in the allocation's transaction; over it nothing is written") {
  test::TestDatabase db;
  Store& store = db.store();
  std::vector<std::int64_t> ids;
  for (int k = 0; k < 3; ++k) {
    const auto i = store.add_instance("127.0.0.1", 9300 + k, 1);
    store.transition(i.id, InstanceState::Ready, 2);
    ids.push_back(i.id);
  }
  store.allocate(ids[0], "q1", "front", 3, 100, {}, {.pool = 2, .overall = 0});
  store.allocate(ids[1], "q2", "front", 3, 100, {}, {.pool = 2, .overall = 0});
  CHECK(store.current_allocations_of_client("front") == 2);
  try {
    store.allocate(ids[2], "q3", "front", 3, 100, {}, {.pool = 2, .overall = 0});
    FAIL("a third allocation passed a quota of 2");
  } catch (const OverQuota& e) {
    CHECK(e.current() == 2);
  }
  CHECK_FALSE(store.allocation("q3"));
  CHECK(store.instance(ids[2])->state == InstanceState::Ready);
  store.allocate(ids[2], "other", "", 3, 100, {}, {.pool = 2, .overall = 0});  // the client "" counts apart
  CHECK(store.current_allocations_of_client("") == 1);
  store.end_allocation("q1", "released", 4);
  CHECK(store.current_allocations_of_client("front") == 1);
  CHECK(store.allocations(Show::Current).size() == 2);
}

TEST_CASE("an instance records the engine that holds its container") {
  test::TestDatabase db;
  Store& store = db.store();
  auto i = store.add_instance("127.0.0.1", 9000, 1);
  CHECK(i.engine == "default");
  store.set_container(i.id, "c1", "b", 2);
  CHECK(store.instance(i.id)->engine == "b");
  CHECK(store.instance(i.id)->container_id == "c1");
  CHECK(store.transition(i.id, S::Ready, 3).engine == "b");
  CHECK(store.instances(Show::Current).front().engine == "b");
}

TEST_CASE("schema 8 gives the instances of an older database the engine `default`", "[sqlite]") {
  const auto path = std::filesystem::temp_directory_path() / ("warmpool-engine-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  {
    SqliteStore store(path.string());
    auto i = store.add_instance("127.0.0.1", 9000, 1);
    store.set_container(i.id, "c1", "default", 2);
  }
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE jobs DROP COLUMN pool");
    db.exec("ALTER TABLE instances DROP COLUMN engine");
    db.exec("PRAGMA user_version=7");
  }
  SqliteStore store(path.string());
  CHECK(store.schema_version() == Store::kSchemaVersion);
  CHECK(store.instances(Show::Current).front().engine == "default");
  CHECK(store.instances(Show::Current).front().container_id == "c1");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST_CASE("schema 9: the jobs of an older database name no pool; new ones may", "[sqlite]") {
  const auto path = std::filesystem::temp_directory_path() / ("warmpool-job-pool-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  { SqliteStore(path.string()).add_job(100, 1); }
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE jobs DROP COLUMN pool");
    db.exec("PRAGMA user_version=8");
  }
  SqliteStore store(path.string());
  CHECK(store.schema_version() == Store::kSchemaVersion);
  CHECK(store.job(0)->pool.empty());
  CHECK(store.job(0)->state == JobState::Queued);
  CHECK(store.add_job(200, 2, "large").pool == "large");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}
