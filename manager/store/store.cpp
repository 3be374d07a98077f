#include "store/store.hpp"

#include <algorithm>

#include <SQLiteCpp/SQLiteCpp.h>

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
};
static_assert(std::size(kMigrations) == Store::kSchemaVersion);

constexpr const char* kInstanceColumns =
    "id, container_id, host, port, state, created_ms, updated_ms, deleted_ms, failures, restarts, "
    "last_error";
constexpr const char* kAllocationColumns =
    "id, instance_id, endpoint, client, created_ms, expires_ms, deleted_ms, end_reason";
constexpr const char* kJobColumns =
    "id, digits, state, progress, created_ms, updated_ms, started_ms, finished_ms, attempts, "
    "allocation_id, error, result_file, result_sha256, result_bytes, source_job";

std::optional<std::int64_t> optional_int(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

Instance read_instance(SQLite::Statement& q) {
  Instance i;
  i.id = q.getColumn(0).getInt64();
  i.container_id = q.getColumn(1).getString();
  i.host = q.getColumn(2).getString();
  i.port = q.getColumn(3).getInt();
  i.state = instance_state_from(q.getColumn(4).getString()).value_or(InstanceState::Error);
  i.created_ms = q.getColumn(5).getInt64();
  i.updated_ms = q.getColumn(6).getInt64();
  i.deleted_ms = optional_int(q.getColumn(7));
  i.failures = q.getColumn(8).getInt();
  i.restarts = q.getColumn(9).getInt();
  i.last_error = q.getColumn(10).getString();
  return i;
}

Allocation read_allocation(SQLite::Statement& q) {
  Allocation a;
  a.id = q.getColumn(0).getString();
  a.instance_id = q.getColumn(1).getInt64();
  a.endpoint = q.getColumn(2).getString();
  a.client = q.getColumn(3).getString();
  a.created_ms = q.getColumn(4).getInt64();
  a.expires_ms = q.getColumn(5).getInt64();
  a.deleted_ms = optional_int(q.getColumn(6));
  a.end_reason = q.getColumn(7).getString();
  return a;
}

Job read_job(SQLite::Statement& q) {
  Job j;
  j.id = q.getColumn(0).getInt64();
  j.digits = q.getColumn(1).getInt64();
  // An unknown state (a newer manager wrote it) reads as failed, never as runnable.
  j.state = job_state_from(q.getColumn(2).getString()).value_or(JobState::Failed);
  j.progress = q.getColumn(3).getDouble();
  j.created_ms = q.getColumn(4).getInt64();
  j.updated_ms = q.getColumn(5).getInt64();
  j.started_ms = optional_int(q.getColumn(6));
  j.finished_ms = optional_int(q.getColumn(7));
  j.attempts = q.getColumn(8).getInt();
  j.allocation_id = q.getColumn(9).getString();
  j.error = q.getColumn(10).getString();
  if (!q.getColumn(11).isNull())
    j.result = ResultFile{q.getColumn(11).getString(), q.getColumn(12).getString(),
                          q.getColumn(13).getInt64()};
  j.source_job = optional_int(q.getColumn(14));
  return j;
}

// Runs `body`, turning SQLite's exceptions into StoreError("what: detail").
template <typename F>
auto guarded(const char* what, F&& body) {
  try {
    return body();
  } catch (const StaleState&) {
    throw;
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(std::string(what) + ": " + e.what());
  }
}

}  // namespace

// A cached prepared statement, reset on scope exit so that it never holds a
// read snapshot open. Parsing SQL was the largest cost of a read route.
class Store::Reused {
 public:
  explicit Reused(SQLite::Statement& q) : q_(q) {}
  ~Reused() {
    q_.tryReset();  // the step's own error, if any, was thrown already
    q_.clearBindings();
  }
  template <typename T>
  void bind(int i, const T& v) { q_.bind(i, v); }
  int exec() { return q_.exec(); }
  bool executeStep() { return q_.executeStep(); }
  SQLite::Column getColumn(int i) { return q_.getColumn(i); }
  operator SQLite::Statement&() { return q_; }

 private:
  SQLite::Statement& q_;
};

SQLite::Statement& Store::statement(const std::string& sql) {
  auto& cached = statements_[sql];
  if (!cached) cached = std::make_unique<SQLite::Statement>(*db_, sql);
  return *cached;
}

Store::Store(const std::string& path) {
  guarded("open database", [&] {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db_->setBusyTimeout(5000);
    db_->exec("PRAGMA journal_mode=WAL");
    // NORMAL in WAL mode survives a crash of the process; FULL would also
    // survive power loss at the price of an fsync per commit.
    db_->exec("PRAGMA synchronous=NORMAL");
    db_->exec("PRAGMA foreign_keys=ON");
    migrate();
    return 0;
  });
}

Store::~Store() = default;

void Store::migrate() {
  int version = db_->execAndGet("PRAGMA user_version").getInt();
  if (version > kSchemaVersion)
    throw StoreError("database schema version " + std::to_string(version) +
                     " is newer than this warmpool understands (" +
                     std::to_string(kSchemaVersion) + ")");
  for (; version < kSchemaVersion; ++version) {
    SQLite::Transaction tx(*db_);
    db_->exec(kMigrations[version]);
    db_->exec("PRAGMA user_version=" + std::to_string(version + 1));
    tx.commit();
  }
}

int Store::schema_version() {
  std::lock_guard lock(mu_);
  return db_->execAndGet("PRAGMA user_version").getInt();
}

Instance Store::add_instance(const std::string& host, int port, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("add instance", [&] {
    Reused q(statement("INSERT INTO instances(host, port, state, created_ms, updated_ms) "
                        "VALUES(?, ?, 'starting', ?, ?)"));
    q.bind(1, host);
    q.bind(2, port);
    q.bind(3, now_ms);
    q.bind(4, now_ms);
    q.exec();
    return *instance_locked(db_->getLastInsertRowid());
  });
}

void Store::set_container(std::int64_t id, const std::string& container_id, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  guarded("set container", [&] {
    Reused q(statement("UPDATE instances SET container_id=?, updated_ms=? WHERE id=?"));
    q.bind(1, container_id);
    q.bind(2, now_ms);
    q.bind(3, id);
    if (q.exec() != 1) throw StoreError("set container: no instance " + std::to_string(id));
    return 0;
  });
}

Instance Store::transition_locked(std::int64_t id, InstanceState to, std::int64_t now_ms,
                                  const std::string& error) {
  auto current = instance_locked(id);
  if (!current) throw StoreError("no instance " + std::to_string(id));
  if (!can_transition(current->state, to))
    throw StaleState("instance " + std::to_string(id) + ": cannot go from " +
                     to_string(current->state) + " to " + to_string(to));
  const bool healthy = to == InstanceState::Ready || to == InstanceState::Paused ||
                       to == InstanceState::Allocated;
  Reused q(statement("UPDATE instances SET state=?, updated_ms=?, "
                      "deleted_ms = CASE WHEN ?='deleted' THEN ? ELSE deleted_ms END, "
                      "failures = CASE WHEN ? THEN 0 WHEN ?<>'' THEN failures+1 ELSE failures END, "
                      "restarts = CASE WHEN ?='allocated' THEN 0 ELSE restarts END, "
                      "last_error = CASE WHEN ?<>'' THEN ? ELSE last_error END "
                      "WHERE id=?"));
  q.bind(1, to_string(to));
  q.bind(2, now_ms);
  q.bind(3, to_string(to));
  q.bind(4, now_ms);
  q.bind(5, healthy ? 1 : 0);
  q.bind(6, error);
  q.bind(7, to_string(to));
  q.bind(8, error);
  q.bind(9, error);
  q.bind(10, id);
  q.exec();
  return *instance_locked(id);
}

Instance Store::transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                           const std::string& error) {
  std::lock_guard lock(mu_);
  return guarded("instance transition", [&] {
    SQLite::Transaction tx(*db_);
    Instance result = transition_locked(id, to, now_ms, error);
    tx.commit();
    return result;
  });
}

Instance Store::restart(std::int64_t id, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("restart instance", [&] {
    SQLite::Transaction tx(*db_);
    transition_locked(id, InstanceState::Starting, now_ms, {});
    Reused q(statement("UPDATE instances SET restarts=restarts+1 WHERE id=?"));
    q.bind(1, id);
    q.exec();
    tx.commit();
    return *instance_locked(id);
  });
}

std::optional<Instance> Store::instance_locked(std::int64_t id) {
  Reused q(statement(std::string("SELECT ") + kInstanceColumns + " FROM instances WHERE id=?"));
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_instance(q);
}

std::optional<Instance> Store::instance(std::int64_t id) {
  std::lock_guard lock(mu_);
  return guarded("read instance", [&] { return instance_locked(id); });
}

std::vector<Instance> Store::instances(Show show) {
  std::lock_guard lock(mu_);
  return guarded("list instances", [&] {
    std::string sql = std::string("SELECT ") + kInstanceColumns + " FROM instances";
    if (show == Show::Current) sql += " WHERE state <> 'deleted'";
    if (show == Show::Finished) sql += " WHERE state = 'deleted'";
    sql += " ORDER BY id";
    Reused q(statement(sql));
    std::vector<Instance> out;
    while (q.executeStep()) out.push_back(read_instance(q));
    return out;
  });
}

Allocation Store::allocate(std::int64_t instance_id, const std::string& allocation_id,
                           const std::string& client, std::int64_t now_ms,
                           std::int64_t expires_ms) {
  std::lock_guard lock(mu_);
  return guarded("allocate", [&] {
    SQLite::Transaction tx(*db_);
    Instance instance = transition_locked(instance_id, InstanceState::Allocated, now_ms, {});
    Reused q(statement("INSERT INTO allocations(id, instance_id, endpoint, client, created_ms, "
                        "expires_ms) VALUES(?, ?, ?, ?, ?, ?)"));
    q.bind(1, allocation_id);
    q.bind(2, instance_id);
    q.bind(3, instance.endpoint());
    q.bind(4, client);
    q.bind(5, now_ms);
    q.bind(6, expires_ms);
    q.exec();
    tx.commit();
    return *allocation_locked(allocation_id);
  });
}

std::optional<Allocation> Store::end_allocation(const std::string& id, const std::string& reason,
                                                std::int64_t now_ms, bool* ended_now) {
  std::lock_guard lock(mu_);
  if (ended_now) *ended_now = false;
  return guarded("end allocation", [&]() -> std::optional<Allocation> {
    SQLite::Transaction tx(*db_);
    auto current = allocation_locked(id);
    if (!current || !current->current()) return current;
    Reused q(statement("UPDATE allocations SET deleted_ms=?, end_reason=? WHERE id=?"));
    q.bind(1, now_ms);
    q.bind(2, reason);
    q.bind(3, id);
    q.exec();
    auto instance = instance_locked(current->instance_id);
    if (instance && instance->state == InstanceState::Allocated)
      transition_locked(instance->id, InstanceState::Resetting, now_ms, {});
    tx.commit();
    if (ended_now) *ended_now = true;
    return allocation_locked(id);
  });
}

std::optional<Allocation> Store::renew(const std::string& id, std::int64_t expires_ms) {
  std::lock_guard lock(mu_);
  return guarded("renew allocation", [&] {
    Reused q(statement("UPDATE allocations SET expires_ms=? WHERE id=? AND deleted_ms IS NULL"));
    q.bind(1, expires_ms);
    q.bind(2, id);
    q.exec();
    return allocation_locked(id);
  });
}

std::optional<Allocation> Store::allocation_locked(const std::string& id) {
  Reused q(statement(std::string("SELECT ") + kAllocationColumns + " FROM allocations WHERE id=?"));
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_allocation(q);
}

std::optional<Allocation> Store::allocation(const std::string& id) {
  std::lock_guard lock(mu_);
  return guarded("read allocation", [&] { return allocation_locked(id); });
}

std::optional<Allocation> Store::current_allocation_of(std::int64_t instance_id) {
  std::lock_guard lock(mu_);
  return guarded("read allocation", [&]() -> std::optional<Allocation> {
    Reused q(statement(std::string("SELECT ") + kAllocationColumns +
                                  " FROM allocations WHERE instance_id=? AND deleted_ms IS NULL"));
    q.bind(1, instance_id);
    if (!q.executeStep()) return std::nullopt;
    return read_allocation(q);
  });
}

std::vector<Allocation> Store::allocations(Show show) {
  std::lock_guard lock(mu_);
  return guarded("list allocations", [&] {
    std::string sql = std::string("SELECT ") + kAllocationColumns + " FROM allocations";
    if (show == Show::Current) sql += " WHERE deleted_ms IS NULL";
    if (show == Show::Finished) sql += " WHERE deleted_ms IS NOT NULL";
    sql += " ORDER BY created_ms, id";
    Reused q(statement(sql));
    std::vector<Allocation> out;
    while (q.executeStep()) out.push_back(read_allocation(q));
    return out;
  });
}

std::vector<Allocation> Store::expired_allocations(std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("list expired allocations", [&] {
    Reused q(statement(std::string("SELECT ") + kAllocationColumns +
                                  " FROM allocations WHERE deleted_ms IS NULL AND expires_ms <= ?"));
    q.bind(1, now_ms);
    std::vector<Allocation> out;
    while (q.executeStep()) out.push_back(read_allocation(q));
    return out;
  });
}

// ---------------------------------------------------------------------------
// pi jobs

std::optional<Job> Store::job_locked(std::int64_t id) {
  Reused q(statement(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id=?"));
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q);
}

Job Store::add_job(std::int64_t digits, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("add job", [&] {
    Reused q(statement("INSERT INTO jobs(id, digits, state, created_ms, updated_ms) "
                        "VALUES((SELECT COALESCE(MAX(id) + 1, 0) FROM jobs), ?, 'queued', ?, ?)"));
    q.bind(1, digits);
    q.bind(2, now_ms);
    q.bind(3, now_ms);
    q.exec();
    return *job_locked(db_->getLastInsertRowid());
  });
}

Job Store::add_complete_job(std::int64_t digits, const ResultFile& result, std::int64_t source_job,
                            std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("add job", [&] {
    Reused q(statement("INSERT INTO jobs(id, digits, state, progress, created_ms, updated_ms, "
                        "finished_ms, result_file, result_sha256, result_bytes, source_job) "
                        "VALUES((SELECT COALESCE(MAX(id) + 1, 0) FROM jobs), ?, 'complete', 1, "
                        "?, ?, ?, ?, ?, ?, ?)"));
    q.bind(1, digits);
    q.bind(2, now_ms);
    q.bind(3, now_ms);
    q.bind(4, now_ms);
    q.bind(5, result.name);
    q.bind(6, result.sha256);
    q.bind(7, result.bytes);
    q.bind(8, source_job);
    q.exec();
    return *job_locked(db_->getLastInsertRowid());
  });
}

std::optional<Job> Store::job(std::int64_t id) {
  std::lock_guard lock(mu_);
  return guarded("read job", [&] { return job_locked(id); });
}

std::vector<Job> Store::recent_jobs(std::size_t limit) {
  std::lock_guard lock(mu_);
  return guarded("list jobs", [&] {
    Reused q(statement(std::string("SELECT ") + kJobColumns + " FROM jobs ORDER BY id DESC LIMIT ?"));
    q.bind(1, static_cast<std::int64_t>(limit));
    std::vector<Job> out;
    while (q.executeStep()) out.push_back(read_job(q));
    return out;
  });
}

std::vector<Job> Store::jobs_in_state(JobState state, std::size_t limit) {
  std::lock_guard lock(mu_);
  return guarded("list jobs", [&] {
    Reused q(statement(std::string("SELECT ") + kJobColumns +
                        " FROM jobs WHERE state=? ORDER BY id LIMIT ?"));
    q.bind(1, to_string(state));
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<Job> out;
    while (q.executeStep()) out.push_back(read_job(q));
    return out;
  });
}

std::map<JobState, std::int64_t> Store::job_counts() {
  std::lock_guard lock(mu_);
  return guarded("count jobs", [&] {
    Reused q(statement("SELECT state, count(*) FROM jobs GROUP BY state"));
    std::map<JobState, std::int64_t> out;
    while (q.executeStep()) {
      if (auto state = job_state_from(q.getColumn(0).getString()))
        out[*state] = q.getColumn(1).getInt64();
    }
    return out;
  });
}

std::optional<Job> Store::complete_job_with_at_least(std::int64_t digits) {
  std::lock_guard lock(mu_);
  return guarded("find a result", [&]() -> std::optional<Job> {
    Reused q(statement(std::string("SELECT ") + kJobColumns +
                        " FROM jobs WHERE state='complete' AND digits>=? ORDER BY digits, id LIMIT 1"));
    q.bind(1, digits);
    if (!q.executeStep()) return std::nullopt;
    return read_job(q);
  });
}

bool Store::start_job(std::int64_t id, const std::string& allocation_id, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("start job", [&] {
    Reused q(statement("UPDATE jobs SET state='running', allocation_id=?, progress=0, updated_ms=?, "
                        "started_ms=COALESCE(started_ms, ?) WHERE id=? AND state='queued'"));
    q.bind(1, allocation_id);
    q.bind(2, now_ms);
    q.bind(3, now_ms);
    q.bind(4, id);
    return q.exec() == 1;
  });
}

bool Store::set_job_progress(std::int64_t id, double progress, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("record job progress", [&] {
    Reused q(statement("UPDATE jobs SET progress=?, updated_ms=? WHERE id=? AND state='running'"));
    q.bind(1, std::clamp(progress, 0.0, 1.0));
    q.bind(2, now_ms);
    q.bind(3, id);
    return q.exec() == 1;
  });
}

bool Store::complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                         std::optional<std::int64_t> source_job) {
  std::lock_guard lock(mu_);
  return guarded("complete job", [&] {
    Reused q(statement("UPDATE jobs SET state='complete', progress=1, allocation_id='', "
                        "updated_ms=?, finished_ms=?, result_file=?, result_sha256=?, "
                        "result_bytes=?, source_job=? WHERE id=? AND state IN ('queued', 'running')"));
    q.bind(1, now_ms);
    q.bind(2, now_ms);
    q.bind(3, result.name);
    q.bind(4, result.sha256);
    q.bind(5, result.bytes);
    if (source_job) q.bind(6, *source_job);
    q.bind(7, id);
    return q.exec() == 1;
  });
}

bool Store::requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("requeue job", [&] {
    Reused q(statement("UPDATE jobs SET state='queued', allocation_id='', progress=0, updated_ms=?, "
                        "attempts = attempts + (CASE WHEN ?<>'' THEN 1 ELSE 0 END), "
                        "error = CASE WHEN ?<>'' THEN ? ELSE error END "
                        "WHERE id=? AND state='running'"));
    q.bind(1, now_ms);
    q.bind(2, reason);
    q.bind(3, reason);
    q.bind(4, reason);
    q.bind(5, id);
    return q.exec() == 1;
  });
}

bool Store::fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("fail job", [&] {
    Reused q(statement("UPDATE jobs SET state='failed', allocation_id='', error=?, updated_ms=?, "
                        "finished_ms=? WHERE id=? AND state IN ('queued', 'running')"));
    q.bind(1, reason);
    q.bind(2, now_ms);
    q.bind(3, now_ms);
    q.bind(4, id);
    return q.exec() == 1;
  });
}

std::optional<Job> Store::cancel_job(std::int64_t id, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return guarded("cancel job", [&] {
    Reused q(statement("UPDATE jobs SET state='cancelled', updated_ms=?, finished_ms=? "
                        "WHERE id=? AND state IN ('queued', 'running')"));
    q.bind(1, now_ms);
    q.bind(2, now_ms);
    q.bind(3, id);
    q.exec();
    return job_locked(id);
  });
}

}  // namespace warmpool
