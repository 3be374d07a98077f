// SqliteStore: pi jobs.
#include <algorithm>
#include <string>
#include <utility>

#include "store/sqlite_db.hpp"
#include "store/sqlite_store.hpp"

namespace warmpool {

namespace {

const std::string kSelectJob =
    "SELECT id, digits, state, progress, created_ms, updated_ms, started_ms, finished_ms, "
    "attempts, allocation_id, error, result_file, result_sha256, result_bytes, source_job, pool "
    "FROM jobs";
// Ids count up from 0 (as the earlier pi service did), not from SQLite's rowid.
const std::string kNextJobId = "(SELECT COALESCE(MAX(id) + 1, 0) FROM jobs)";

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
  if (!q.getColumn(15).isNull()) j.pool = q.getColumn(15).getString();
  return j;
}

std::pair<std::string, std::int64_t> read_count(SQLite::Statement& q) {
  return {q.getColumn(0).getString(), q.getColumn(1).getInt64()};
}

}  // namespace

std::optional<Job> SqliteStore::job_locked(std::int64_t id) {
  return db_->one(kSelectJob + " WHERE id=?", read_job, id);
}

Job SqliteStore::add_job(std::int64_t digits, std::int64_t now_ms, const std::string& pool) {
  return db_->locked("add job", [&] {
    db_->exec("INSERT INTO jobs(id, digits, state, created_ms, updated_ms, pool) "
              "VALUES(" + kNextJobId + ", ?, 'queued', ?, ?, ?)",
              digits, now_ms, now_ms, pool.empty() ? std::nullopt : std::optional<std::string>(pool));
    return *job_locked(db_->last_insert_id());
  });
}

Job SqliteStore::add_complete_job(std::int64_t digits, const ResultFile& result,
                                  std::int64_t source_job, std::int64_t now_ms) {
  return db_->locked("add job", [&] {
    db_->exec("INSERT INTO jobs(id, digits, state, progress, created_ms, updated_ms, "
              "finished_ms, result_file, result_sha256, result_bytes, source_job) "
              "VALUES(" + kNextJobId + ", ?, 'complete', 1, ?, ?, ?, ?, ?, ?, ?)",
              digits, now_ms, now_ms, now_ms, result.name, result.sha256, result.bytes,
              source_job);
    return *job_locked(db_->last_insert_id());
  });
}

std::optional<Job> SqliteStore::job(std::int64_t id) {
  return db_->locked("read job", [&] { return job_locked(id); });
}

std::vector<Job> SqliteStore::recent_jobs(std::size_t limit) {
  return db_->locked("list jobs", [&] {
    return db_->all(kSelectJob + " ORDER BY id DESC LIMIT ?", read_job,
                    static_cast<std::int64_t>(limit));
  });
}

std::vector<Job> SqliteStore::jobs_in_state(JobState state, std::size_t limit) {
  return db_->locked("list jobs", [&] {
    return db_->all(kSelectJob + " WHERE state=? ORDER BY id LIMIT ?", read_job,
                    to_string(state), static_cast<std::int64_t>(limit));
  });
}

std::map<JobState, std::int64_t> SqliteStore::job_counts() {
  return db_->locked("count jobs", [&] {
    std::map<JobState, std::int64_t> out;
    for (const auto& [name, count] :
         db_->all("SELECT state, count(*) FROM jobs GROUP BY state", read_count)) {
      if (auto state = job_state_from(name)) out[*state] = count;
    }
    return out;
  });
}

std::optional<Job> SqliteStore::complete_job_with_at_least(std::int64_t digits) {
  return db_->locked("find a result", [&] {
    return db_->one(kSelectJob + " WHERE state='complete' AND digits>=? ORDER BY digits, id LIMIT 1",
                    read_job, digits);
  });
}

bool SqliteStore::start_job(std::int64_t id, const std::string& allocation_id,
                            std::int64_t now_ms) {
  return db_->locked("start job", [&] {
    return db_->exec("UPDATE jobs SET state='running', allocation_id=?1, progress=0, "
                     "updated_ms=?2, started_ms=COALESCE(started_ms, ?2) "
                     "WHERE id=?3 AND state='queued'",
                     allocation_id, now_ms, id) == 1;
  });
}

bool SqliteStore::set_job_progress(std::int64_t id, double progress, std::int64_t now_ms) {
  return db_->locked("record job progress", [&] {
    return db_->exec("UPDATE jobs SET progress=?, updated_ms=? WHERE id=? AND state='running'",
                     std::clamp(progress, 0.0, 1.0), now_ms, id) == 1;
  });
}

bool SqliteStore::complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                               std::optional<std::int64_t> source_job) {
  return db_->locked("complete job", [&] {
    return db_->exec("UPDATE jobs SET state='complete', progress=1, allocation_id='', "
                     "updated_ms=?1, finished_ms=?1, result_file=?2, result_sha256=?3, "
                     "result_bytes=?4, source_job=?5 "
                     "WHERE id=?6 AND state IN ('queued', 'running')",
                     now_ms, result.name, result.sha256, result.bytes, source_job, id) == 1;
  });
}

bool SqliteStore::requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  return db_->locked("requeue job", [&] {
    return db_->exec("UPDATE jobs SET state='queued', allocation_id='', progress=0, "
                     "updated_ms=?1, attempts = attempts + (CASE WHEN ?2<>'' THEN 1 ELSE 0 END), "
                     "error = CASE WHEN ?2<>'' THEN ?2 ELSE error END "
                     "WHERE id=?3 AND state='running'",
                     now_ms, reason, id) == 1;
  });
}

bool SqliteStore::fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  return db_->locked("fail job", [&] {
    return db_->exec("UPDATE jobs SET state='failed', allocation_id='', error=?1, "
                     "updated_ms=?2, finished_ms=?2 "
                     "WHERE id=?3 AND state IN ('queued', 'running')",
                     reason, now_ms, id) == 1;
  });
}

std::optional<Job> SqliteStore::cancel_job(std::int64_t id, std::int64_t now_ms) {
  return db_->locked("cancel job", [&] {
    db_->exec("UPDATE jobs SET state='cancelled', updated_ms=?1, finished_ms=?1 "
              "WHERE id=?2 AND state IN ('queued', 'running')",
              now_ms, id);
    return job_locked(id);
  });
}

}  // namespace warmpool
