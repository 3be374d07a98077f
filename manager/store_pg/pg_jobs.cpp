// PgStore: pi jobs. Each change is one UPDATE whose WHERE names the states it
// applies from: of two managers starting one queued job, the second's UPDATE
// waits for the first's row lock, then matches nothing (false). That is how a
// job is taken by one manager only.
#include <algorithm>
#include <string>
#include <utility>

#include "store_pg/pg_conn.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool {

namespace {

const std::string kJobColumns =
    "id, digits, state, progress, created_ms, updated_ms, started_ms, finished_ms, "
    "attempts, allocation_id, error, result_file, result_sha256, result_bytes, source_job, pool";
const std::string kSelectJob = "SELECT " + kJobColumns + " FROM jobs";

Job read_job(const PgRow& r) {
  Job j;
  j.id = r.int64(0);
  j.digits = r.int64(1);
  // An unknown state (a newer manager wrote it) reads as failed, never as runnable.
  j.state = job_state_from(r.text(2)).value_or(JobState::Failed);
  j.progress = r.real(3);
  j.created_ms = r.int64(4);
  j.updated_ms = r.int64(5);
  j.started_ms = r.optional_int(6);
  j.finished_ms = r.optional_int(7);
  j.attempts = static_cast<int>(r.int64(8));
  j.allocation_id = r.text(9);
  j.error = r.text(10);
  if (!r.null(11)) j.result = ResultFile{r.text(11), r.text(12), r.int64(13)};
  j.source_job = r.optional_int(14);
  if (!r.null(15)) j.pool = r.text(15);
  return j;
}

std::pair<std::string, std::int64_t> read_count(const PgRow& r) { return {r.text(0), r.int64(1)}; }

}  // namespace

std::optional<Job> PgStore::job_locked(std::int64_t id) {
  return db_->one(kSelectJob + " WHERE id=$1::bigint", read_job, id);
}

Job PgStore::add_job(std::int64_t digits, std::int64_t now_ms, const std::string& pool) {
  return *db_->locked("add job", [&] {
    return db_->one("INSERT INTO jobs(digits, state, created_ms, updated_ms, pool) "
                    "VALUES($1::bigint, 'queued', $2::bigint, $2::bigint, $3::text) RETURNING " + kJobColumns,
                    read_job, digits, now_ms,
                    pool.empty() ? std::nullopt : std::optional<std::string>(pool));
  });
}

Job PgStore::add_complete_job(std::int64_t digits, const ResultFile& result, std::int64_t source_job,
                              std::int64_t now_ms) {
  return *db_->locked("add job", [&] {
    return db_->one("INSERT INTO jobs(digits, state, progress, created_ms, updated_ms, finished_ms, "
                    "result_file, result_sha256, result_bytes, source_job) VALUES($1::bigint, "
                    "'complete', 1, $2::bigint, $2::bigint, $2::bigint, $3::text, $4::text, "
                    "$5::bigint, $6::bigint) RETURNING " + kJobColumns,
                    read_job, digits, now_ms, result.name, result.sha256, result.bytes, source_job);
  });
}

std::optional<Job> PgStore::job(std::int64_t id) {
  return db_->locked("read job", [&] { return job_locked(id); });
}

std::vector<Job> PgStore::recent_jobs(std::size_t limit) {
  return db_->locked("list jobs", [&] {
    return db_->all(kSelectJob + " ORDER BY id DESC LIMIT $1::bigint", read_job,
                    static_cast<std::int64_t>(limit));
  });
}

std::vector<Job> PgStore::jobs_in_state(JobState state, std::size_t limit) {
  return db_->locked("list jobs", [&] {
    return db_->all(kSelectJob + " WHERE state=$1::text ORDER BY id LIMIT $2::bigint", read_job,
                    std::string(to_string(state)), static_cast<std::int64_t>(limit));
  });
}

std::map<JobState, std::int64_t> PgStore::job_counts() {
  return db_->locked("count jobs", [&] {
    std::map<JobState, std::int64_t> out;
    for (const auto& [name, count] : db_->all("SELECT state, count(*) FROM jobs GROUP BY state", read_count)) {
      if (auto state = job_state_from(name)) out[*state] = count;
    }
    return out;
  });
}

std::optional<Job> PgStore::complete_job_with_at_least(std::int64_t digits) {
  return db_->locked("find a result", [&] {
    return db_->one(kSelectJob + " WHERE state='complete' AND digits>=$1::bigint ORDER BY digits, id LIMIT 1",
                    read_job, digits);
  });
}

bool PgStore::start_job(std::int64_t id, const std::string& allocation_id, std::int64_t now_ms) {
  return db_->locked("start job", [&] {
    return db_->exec("UPDATE jobs SET state='running', allocation_id=$1::text, progress=0, "
                     "updated_ms=$2::bigint, started_ms=COALESCE(started_ms, $2::bigint) "
                     "WHERE id=$3::bigint AND state='queued'",
                     allocation_id, now_ms, id) == 1;
  });
}

bool PgStore::set_job_progress(std::int64_t id, double progress, std::int64_t now_ms) {
  return db_->locked("record job progress", [&] {
    return db_->exec("UPDATE jobs SET progress=$1::double precision, updated_ms=$2::bigint "
                     "WHERE id=$3::bigint AND state='running'",
                     std::clamp(progress, 0.0, 1.0), now_ms, id) == 1;
  });
}

bool PgStore::complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                           std::optional<std::int64_t> source_job) {
  return db_->locked("complete job", [&] {
    return db_->exec("UPDATE jobs SET state='complete', progress=1, allocation_id='', "
                     "updated_ms=$1::bigint, finished_ms=$1::bigint, result_file=$2::text, "
                     "result_sha256=$3::text, result_bytes=$4::bigint, source_job=$5::bigint "
                     "WHERE id=$6::bigint AND state IN ('queued', 'running')",
                     now_ms, result.name, result.sha256, result.bytes, source_job, id) == 1;
  });
}

bool PgStore::requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  return db_->locked("requeue job", [&] {
    return db_->exec("UPDATE jobs SET state='queued', allocation_id='', progress=0, "
                     "updated_ms=$1::bigint, attempts = attempts + (CASE WHEN $2::text<>'' THEN 1 ELSE 0 END), "
                     "error = CASE WHEN $2::text<>'' THEN $2::text ELSE error END "
                     "WHERE id=$3::bigint AND state='running'",
                     now_ms, reason, id) == 1;
  });
}

bool PgStore::fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  return db_->locked("fail job", [&] {
    return db_->exec("UPDATE jobs SET state='failed', allocation_id='', error=$1::text, "
                     "updated_ms=$2::bigint, finished_ms=$2::bigint "
                     "WHERE id=$3::bigint AND state IN ('queued', 'running')",
                     reason, now_ms, id) == 1;
  });
}

std::optional<Job> PgStore::cancel_job(std::int64_t id, std::int64_t now_ms) {
  return db_->locked("cancel job", [&] {
    db_->exec("UPDATE jobs SET state='cancelled', updated_ms=$1::bigint, finished_ms=$1::bigint "
              "WHERE id=$2::bigint AND state IN ('queued', 'running')",
              now_ms, id);
    return job_locked(id);
  });
}

}  // namespace warmpool
