// Job records in the Store: ids from 0, changes only from the states they
// name, results, and durability across a reopen.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite_store.hpp"
#include "support/test_database.hpp"

using namespace warmpool;

namespace {
ResultFile result(const std::string& name, std::int64_t bytes) { return {name + ".txt", name, bytes}; }
}  // namespace

TEST_CASE("job ids count up from 0; a new job is queued with nothing done") {
  test::TestDatabase db;
  Store& store = db.store();
  const Job first = store.add_job(1000, 5);
  CHECK(first.id == 0);
  CHECK(first.digits == 1000);
  CHECK(first.state == JobState::Queued);
  CHECK(first.progress == 0);
  CHECK(first.created_ms == 5);
  CHECK_FALSE(first.started_ms);
  CHECK_FALSE(first.finished_ms);
  CHECK_FALSE(first.result);
  CHECK(store.add_job(7, 6).id == 1);
  CHECK(store.add_complete_job(5, result("abc", 7), 0, 7).id == 2);
  CHECK_FALSE(store.job(3));
  CHECK_THROWS_AS(store.add_job(0, 8), StoreError);  // the table refuses digits < 1
}

TEST_CASE("a job runs, records progress, and completes with its result") {
  test::TestDatabase db;
  Store& store = db.store();
  const Job job = store.add_job(100, 1);
  CHECK_FALSE(store.set_job_progress(job.id, 0.5, 2));  // not running yet
  REQUIRE(store.start_job(job.id, "alloc-1", 3));
  CHECK_FALSE(store.start_job(job.id, "alloc-2", 3));  // once
  REQUIRE(store.set_job_progress(job.id, 0.25, 4));
  Job running = *store.job(job.id);
  CHECK(running.state == JobState::Running);
  CHECK(running.allocation_id == "alloc-1");
  CHECK(running.progress == 0.25);
  CHECK(running.started_ms == 3);
  REQUIRE(store.complete_job(job.id, result("f00d", 102), 9));
  const Job done = *store.job(job.id);
  CHECK(done.state == JobState::Complete);
  CHECK(done.progress == 1);
  CHECK(done.finished_ms == 9);
  CHECK(done.allocation_id.empty());
  REQUIRE(done.result);
  CHECK(done.result->name == "f00d.txt");
  CHECK(done.result->sha256 == "f00d");
  CHECK(done.result->bytes == 102);
  // Final: nothing moves it any more.
  CHECK_FALSE(store.requeue_job(job.id, "lost", 10));
  CHECK_FALSE(store.fail_job(job.id, "x", 10));
  CHECK(store.cancel_job(job.id, 10)->state == JobState::Complete);
}

TEST_CASE("a lost run re-queues the job and counts an attempt; a restart does not count") {
  test::TestDatabase db;
  Store& store = db.store();
  const Job job = store.add_job(100, 1);
  REQUIRE(store.start_job(job.id, "a", 2));
  REQUIRE(store.requeue_job(job.id, "the worker stopped answering", 3));
  Job again = *store.job(job.id);
  CHECK(again.state == JobState::Queued);
  CHECK(again.attempts == 1);
  CHECK(again.error == "the worker stopped answering");
  CHECK(again.allocation_id.empty());
  CHECK(again.progress == 0);
  CHECK(again.started_ms == 2);  // the first start is kept
  REQUIRE(store.start_job(job.id, "b", 4));
  REQUIRE(store.requeue_job(job.id, "", 5));
  CHECK(store.job(job.id)->attempts == 1);
  CHECK_FALSE(store.requeue_job(job.id, "", 6));  // only a running job
  REQUIRE(store.fail_job(job.id, "gave up", 7));
  CHECK(store.job(job.id)->state == JobState::Failed);
  CHECK(store.job(job.id)->error == "gave up");
  CHECK(store.job(job.id)->finished_ms == 7);
}

TEST_CASE("cancel: queued or running jobs only; unknown ids are nullopt") {
  test::TestDatabase db;
  Store& store = db.store();
  const Job queued = store.add_job(10, 1);
  const Job running = store.add_job(10, 1);
  store.start_job(running.id, "a", 2);
  CHECK(store.cancel_job(queued.id, 3)->state == JobState::Cancelled);
  CHECK(store.cancel_job(running.id, 3)->state == JobState::Cancelled);
  CHECK(store.job(running.id)->finished_ms == 3);
  CHECK_FALSE(store.start_job(queued.id, "b", 4));
  CHECK_FALSE(store.complete_job(running.id, result("aa", 12), 4));
  CHECK(store.cancel_job(queued.id, 5)->finished_ms == 3);  // unchanged
  CHECK_FALSE(store.cancel_job(42, 5));
}

TEST_CASE("lists: queued jobs oldest first, recent jobs newest first, the smallest result that covers N") {
  test::TestDatabase db;
  Store& store = db.store();
  for (int i = 0; i < 5; ++i) store.add_job(100 * (i + 1), i);
  store.start_job(1, "a", 9);
  auto queued = store.jobs_in_state(JobState::Queued, 3);
  REQUIRE(queued.size() == 3);
  CHECK(queued[0].id == 0);
  CHECK(queued[1].id == 2);
  CHECK(queued[2].id == 3);
  auto recent = store.recent_jobs(2);
  REQUIRE(recent.size() == 2);
  CHECK(recent[0].id == 4);
  CHECK(recent[1].id == 3);

  CHECK_FALSE(store.complete_job_with_at_least(1));
  store.complete_job(4, result("five", 502), 10);  // 500 digits
  store.complete_job(2, result("three", 302), 10);  // 300 digits
  CHECK(store.complete_job_with_at_least(250)->id == 2);
  CHECK(store.complete_job_with_at_least(300)->id == 2);
  CHECK(store.complete_job_with_at_least(301)->id == 4);
  CHECK_FALSE(store.complete_job_with_at_least(501));
}

TEST_CASE("jobs survive a reopen; a version 1 database gains the jobs table and keeps its records", "[sqlite]") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("warmpool-jobs-store-" + std::to_string(getpid()) + ".db");
  auto remove = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  };
  remove();
  {
    // A database as the previous release left it (schema 1, one instance).
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE instances (id INTEGER PRIMARY KEY AUTOINCREMENT, container_id TEXT NOT NULL DEFAULT '', "
            "host TEXT NOT NULL, port INTEGER NOT NULL, state TEXT NOT NULL, created_ms INTEGER NOT NULL, "
            "updated_ms INTEGER NOT NULL, deleted_ms INTEGER, failures INTEGER NOT NULL DEFAULT 0, "
            "restarts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')");
    db.exec("CREATE TABLE allocations (id TEXT PRIMARY KEY, instance_id INTEGER NOT NULL REFERENCES instances(id), "
            "endpoint TEXT NOT NULL, client TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL, "
            "expires_ms INTEGER NOT NULL, deleted_ms INTEGER, end_reason TEXT NOT NULL DEFAULT '')");
    db.exec("INSERT INTO instances(host, port, state, created_ms, updated_ms) VALUES('127.0.0.1', 9000, 'ready', 1, 1)");
    db.exec("PRAGMA user_version=1");
  }
  {
    SqliteStore store(path.string());
    CHECK(store.schema_version() == Store::kSchemaVersion);  // every migration since ran
    CHECK(store.instances(Show::All).size() == 1);
    store.add_job(10, 1);
    const Job j = store.add_job(20, 1);
    store.start_job(j.id, "a", 2);
  }
  SqliteStore again(path.string());
  REQUIRE(again.job(1));
  CHECK(again.job(1)->state == JobState::Running);
  CHECK(again.job(1)->allocation_id == "a");
  CHECK(again.add_job(30, 3).id == 2);
  remove();
}

TEST_CASE("a job keeps the pool its submitter named through its runs and a reopen; none named reads empty") {
  test::TestDatabase db;
  const Job named = db.store().add_job(100, 1, "large");
  const Job any = db.store().add_job(100, 1);
  CHECK(named.pool == "large");
  CHECK(any.pool.empty());
  REQUIRE(db.store().start_job(named.id, "alloc-1", 2));
  REQUIRE(db.store().requeue_job(named.id, "worker lost", 3));
  Store& again = db.reopen();  // a manager restarting
  CHECK(again.job(named.id)->pool == "large");
  CHECK(again.job(named.id)->state == JobState::Queued);
  CHECK(again.jobs_in_state(JobState::Queued, 10).front().pool == "large");
  CHECK(again.job(any.id)->pool.empty());
  CHECK(again.recent_jobs(10).front().pool.empty());  // newest first: the unnamed one
}
