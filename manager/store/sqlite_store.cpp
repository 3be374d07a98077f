// The schema and its migrations.
#include "store/sqlite_store.hpp"

#include "store/sqlite_db.hpp"

namespace warmpool {

namespace {

// Each entry moves the schema from version i to i+1. Append only.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE instances (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      container_id TEXT NOT NULL DEFAULT '',
      host         TEXT NOT NULL,
      port         INTEGER NOT NULL,
      state        TEXT NOT NULL,
      created_ms   INTEGER NOT NULL,
      updated_ms   INTEGER NOT NULL,
      deleted_ms   INTEGER,
      failures     INTEGER NOT NULL DEFAULT 0,
      restarts     INTEGER NOT NULL DEFAULT 0,
      last_error   TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX instances_live_port ON instances(host, port) WHERE state <> 'deleted';
    CREATE TABLE allocations (
      id          TEXT PRIMARY KEY,
      instance_id INTEGER NOT NULL REFERENCES instances(id),
      endpoint    TEXT NOT NULL,
      client      TEXT NOT NULL DEFAULT '',
      created_ms  INTEGER NOT NULL,
      expires_ms  INTEGER NOT NULL,
      deleted_ms  INTEGER,
      end_reason  TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX allocations_one_current ON allocations(instance_id) WHERE deleted_ms IS NULL;
    CREATE INDEX allocations_expiry ON allocations(expires_ms) WHERE deleted_ms IS NULL;
    )sql",
    // 2: pi jobs. Ids are given explicitly (from 0, as the earlier pi service).
    R"sql(
    CREATE TABLE jobs (
      id            INTEGER PRIMARY KEY,
      digits        INTEGER NOT NULL CHECK (digits >= 1),
      state         TEXT NOT NULL,
      progress      REAL NOT NULL DEFAULT 0,
      created_ms    INTEGER NOT NULL,
      updated_ms    INTEGER NOT NULL,
      started_ms    INTEGER,
      finished_ms   INTEGER,
      attempts      INTEGER NOT NULL DEFAULT 0,
      allocation_id TEXT NOT NULL DEFAULT '',
      error         TEXT NOT NULL DEFAULT '',
      result_file   TEXT,
      result_sha256 TEXT,
      result_bytes  INTEGER,
      source_job    INTEGER REFERENCES jobs(id),
      CHECK ((state = 'complete') = (result_file IS NOT NULL))
    );
    CREATE INDEX jobs_by_state ON jobs(state, id);
    CREATE INDEX jobs_complete_by_digits ON jobs(digits) WHERE state = 'complete';
    )sql",
    // 3: instance events, bounded (see Store::events).
    R"sql(
    CREATE TABLE instance_events (
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      instance_id INTEGER NOT NULL,
      at_ms       INTEGER NOT NULL,
      from_state  TEXT,
      to_state    TEXT NOT NULL,
      detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX instance_events_by_instance ON instance_events(instance_id, id);
    )sql",
    // 4: allocation numbers, the compatibility view's integer ids. Existing
    // allocations take their rowid: unique, in the order they were made.
    R"sql(
    ALTER TABLE allocations ADD COLUMN number INTEGER;
    UPDATE allocations SET number = rowid;
    CREATE UNIQUE INDEX allocations_number ON allocations(number);
    )sql",
    // 5: what an allocation keeps of its session: the init payload's size
    // and SHA-256 (not its content), its metadata, and its token's SHA-256.
    R"sql(
    ALTER TABLE allocations ADD COLUMN init_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE allocations ADD COLUMN init_sha256 TEXT NOT NULL DEFAULT '';
    ALTER TABLE allocations ADD COLUMN metadata TEXT NOT NULL DEFAULT '';
    ALTER TABLE allocations ADD COLUMN token_sha256 TEXT NOT NULL DEFAULT '';
    )sql",
    // 6: retention (Store::prune_finished) finds old finished rows, and the
    // instances no allocation names, by index. IF NOT EXISTS: a database
    // taken back to an older version may still have them.
    R"sql(
    CREATE INDEX IF NOT EXISTS allocations_finished ON allocations(deleted_ms) WHERE deleted_ms IS NOT NULL;
    CREATE INDEX IF NOT EXISTS allocations_by_instance ON allocations(instance_id);
    CREATE INDEX IF NOT EXISTS instances_deleted ON instances(deleted_ms) WHERE deleted_ms IS NOT NULL;
    )sql",
    // 7: pools as records. Every instance and allocation made before belongs
    // to the pool named default, whose record the flags write at each start.
    // An allocation keeps its pool, so history still says where it ran.
    R"sql(
    CREATE TABLE pools (
      name         TEXT PRIMARY KEY,
      image        TEXT NOT NULL,
      memory_mb    INTEGER NOT NULL,
      cpus         REAL NOT NULL,
      pids         INTEGER NOT NULL,
      tmpfs_mb     INTEGER NOT NULL,
      port_first   INTEGER NOT NULL,
      port_last    INTEGER NOT NULL,
      min_idle     INTEGER NOT NULL,
      max_idle     INTEGER NOT NULL,
      keep_running INTEGER NOT NULL,
      health       TEXT NOT NULL,
      health_path  TEXT NOT NULL,
      reset        TEXT NOT NULL,
      data_volume  TEXT NOT NULL DEFAULT '',
      client_quota INTEGER NOT NULL DEFAULT 0,
      state        TEXT NOT NULL DEFAULT 'active',
      created_ms   INTEGER NOT NULL,
      updated_ms   INTEGER NOT NULL
    );
    ALTER TABLE instances ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE allocations ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX instances_by_pool ON instances(pool) WHERE state <> 'deleted';
    )sql",
    // 8: the engine that holds each instance's container (several engines;
    // one engine is named `default`).
    R"sql(
    ALTER TABLE instances ADD COLUMN engine TEXT NOT NULL DEFAULT 'default';
    )sql",
    // 9: the pool a pi job's submitter named (NULL: none; the job runs on
    // the smallest pool that holds its digits).
    R"sql(
    ALTER TABLE jobs ADD COLUMN pool TEXT;
    )sql",
    // 10: engines added through the admin API (POST /engines); the flags'
    // engines are not recorded.
    R"sql(
    CREATE TABLE IF NOT EXISTS engines (
      name       TEXT PRIMARY KEY,
      endpoint   TEXT NOT NULL,
      capacity   INTEGER NOT NULL DEFAULT 0,
      weight     REAL NOT NULL DEFAULT 1,
      tls_ca     TEXT NOT NULL DEFAULT '',
      tls_cert   TEXT NOT NULL DEFAULT '',
      tls_key    TEXT NOT NULL DEFAULT '',
      created_ms INTEGER NOT NULL
    );
    )sql",
};
static_assert(std::size(kMigrations) == Store::kSchemaVersion);

int read_int(SQLite::Statement& q) { return q.getColumn(0).getInt(); }

}  // namespace

SqliteStore::SqliteStore(const std::string& path) : db_(std::make_unique<SqliteDb>(path)) {
  migrate();
}

SqliteStore::~SqliteStore() = default;

// One write transaction: of two managers opening a new file at once, the
// second waits and finds the schema current.
void SqliteStore::migrate() {
  db_->write_transaction("open database", [&] {
    int version = db_->one("PRAGMA user_version", read_int).value_or(0);
    if (version > kSchemaVersion)
      throw StoreError("database schema version " + std::to_string(version) +
                       " is newer than this warmpool understands (" +
                       std::to_string(kSchemaVersion) + ")");
    if (version == kSchemaVersion) return 0;
    for (; version < kSchemaVersion; ++version) db_->script(kMigrations[version]);
    db_->script("PRAGMA user_version=" + std::to_string(version));
    return 0;
  });
}

void SqliteStore::check_writable() {
  // Rewriting user_version with its own value is a committed write that
  // touches no record.
  db_->transaction("write check", [&] {
    const int version = db_->one("PRAGMA user_version", read_int).value_or(0);
    db_->script("PRAGMA user_version=" + std::to_string(version));
    return 0;
  });
}

int SqliteStore::schema_version() {
  return db_->locked("read schema version",
                     [&] { return db_->one("PRAGMA user_version", read_int).value_or(0); });
}

}  // namespace warmpool
