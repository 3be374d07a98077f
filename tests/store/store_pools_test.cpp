// Pool records and the pool every instance and allocation carries, on both
// stores; the schema 7 migration on SQLite.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite_store.hpp"
#include "support/test_database.hpp"

using namespace warmpool;
using S = InstanceState;

namespace {
PoolRecord busybox_pool() {
  PoolRecord p;
  p.name = "busybox";
  p.image = "warmpool/busybox-httpd:latest";
  p.memory_mb = 64;
  p.cpus = 0.5;
  p.pids = 16;
  p.tmpfs_mb = 8;
  p.port_first = 19100;
  p.port_last = 19199;
  p.min_idle = 1;
  p.max_idle = 4;
  p.keep_running = 1;
  p.health = "http";
  p.health_path = "/cgi-bin/visit";
  p.reset = "restart";
  p.data_volume = "shared-data";
  p.client_quota = 3;
  p.created_ms = 10;
  p.updated_ms = 10;
  return p;
}
}  // namespace

TEST_CASE("store keeps pool records: add, read, list by name, update, remove") {
  test::TestDatabase db;
  Store& store = db.store();
  CHECK(store.pools().empty());
  const PoolRecord added = store.add_pool(busybox_pool());
  const auto read = store.pool("busybox");
  REQUIRE(read);
  for (const PoolRecord& p : {added, *read}) {
    CHECK(p.image == "warmpool/busybox-httpd:latest");
    CHECK(p.memory_mb == 64);
    CHECK(p.cpus == Approx(0.5));
    CHECK(p.pids == 16);
    CHECK(p.tmpfs_mb == 8);
    CHECK(p.port_first == 19100);
    CHECK(p.port_last == 19199);
    CHECK(p.min_idle == 1);
    CHECK(p.max_idle == 4);
    CHECK(p.keep_running == 1);
    CHECK(p.health == "http");
    CHECK(p.health_path == "/cgi-bin/visit");
    CHECK(p.reset == "restart");
    CHECK(p.data_volume == "shared-data");
    CHECK(p.client_quota == 3);
    CHECK(p.state == PoolState::Active);
    CHECK(p.created_ms == 10);
  }
  CHECK_THROWS_AS(store.add_pool(busybox_pool()), PoolExists);

  PoolRecord other = busybox_pool();
  other.name = "alpha";
  store.add_pool(other);
  const auto all = store.pools();
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "alpha");
  CHECK(all[1].name == "busybox");

  PoolRecord changed = *read;
  changed.state = PoolState::Draining;
  changed.max_idle = 9;
  changed.updated_ms = 20;
  changed.created_ms = 999;  // not written: a record keeps when it was made
  const auto updated = store.update_pool(changed);
  REQUIRE(updated);
  CHECK(updated->state == PoolState::Draining);
  CHECK(updated->max_idle == 9);
  CHECK(updated->updated_ms == 20);
  CHECK(updated->created_ms == 10);
  PoolRecord unknown = busybox_pool();
  unknown.name = "nobody";
  CHECK_FALSE(store.update_pool(unknown));

  CHECK(store.remove_pool("busybox"));
  CHECK_FALSE(store.remove_pool("busybox"));
  CHECK_FALSE(store.pool("busybox"));
}

TEST_CASE("put_pool writes the record whether or not it exists, keeping when it was made") {
  test::TestDatabase db;
  Store& store = db.store();
  PoolRecord p = busybox_pool();
  p.name = kDefaultPool;
  store.put_pool(p);
  p.image = "warmpool/pi-worker:latest";
  p.created_ms = 50;
  p.updated_ms = 50;
  const PoolRecord again = store.put_pool(p);
  CHECK(again.image == "warmpool/pi-worker:latest");
  CHECK(again.created_ms == 10);
  CHECK(again.updated_ms == 50);
  CHECK(store.pools().size() == 1);
}

TEST_CASE("an instance belongs to its pool, and its allocations carry the pool for good") {
  test::TestDatabase db;
  Store& store = db.store();
  const auto plain = store.add_instance("127.0.0.1", 9000, 1);
  CHECK(plain.pool == kDefaultPool);
  const auto boxed = store.add_instance("127.0.0.1", 9001, 1, "busybox");
  CHECK(boxed.pool == "busybox");
  CHECK(store.instance(boxed.id)->pool == "busybox");
  CHECK(store.transition(boxed.id, S::Ready, 2).pool == "busybox");

  const auto of_box = store.instances_of("busybox", Show::Current);
  REQUIRE(of_box.size() == 1);
  CHECK(of_box[0].id == boxed.id);
  CHECK(store.instances_of(kDefaultPool, Show::Current).size() == 1);

  store.transition(plain.id, S::Ready, 2);
  CHECK(store.allocate(boxed.id, "in-box", "ada", 3, 100).pool == "busybox");
  CHECK(store.allocate(plain.id, "in-default", "ada", 3, 100).pool == kDefaultPool);
  store.end_allocation("in-box", "released", 4);
  store.transition(boxed.id, S::Deleting, 5);
  store.transition(boxed.id, S::Deleted, 6);
  CHECK(store.allocation("in-box")->pool == "busybox");  // history keeps where it ran

  InstanceRepository::AllocationQuery query;
  query.show = Show::All;
  query.pool = "busybox";
  auto listed = store.allocations(query);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == "in-box");
  query.pool = kDefaultPool;
  listed = store.allocations(query);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == "in-default");
}

TEST_CASE("schema 7: instances and allocations made before pools belong to default", "[sqlite]") {
  const auto path = std::filesystem::temp_directory_path() / ("warmpool-pools-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  {
    SqliteStore store(path.string());
    auto i = store.add_instance("127.0.0.1", 9000, 1);
    store.transition(i.id, S::Ready, 2);
    store.allocate(i.id, "before", "", 3, 100);
  }
  {
    // Back to schema 6, as a manager before pools (and engines) left it.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE jobs DROP COLUMN pool");
    db.exec("ALTER TABLE instances DROP COLUMN engine");
    db.exec("DROP INDEX instances_by_pool");
    db.exec("ALTER TABLE instances DROP COLUMN pool");
    db.exec("ALTER TABLE allocations DROP COLUMN pool");
    db.exec("DROP TABLE pools");
    db.exec("PRAGMA user_version=6");
  }
  SqliteStore store(path.string());
  CHECK(store.schema_version() == Store::kSchemaVersion);
  CHECK(store.instances(Show::Current).front().pool == kDefaultPool);
  CHECK(store.allocation("before")->pool == kDefaultPool);
  CHECK(store.pools().empty());  // the default record is written from the flags at start
  store.add_pool(busybox_pool());
  CHECK(store.pool("busybox"));
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}
