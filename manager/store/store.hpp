// Instance, Allocation and pi Job records in SQLite (WAL mode). Every state change is
// one transaction, so a manager killed at any moment restarts into a
// consistent database. The database itself enforces that an instance has at
// most one current allocation and that no two live instances share a port.
//
// Thread-safe: one connection, serialised by an internal mutex.
// Errors: StoreError (a std::runtime_error) with "operation: sqlite message".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "records/records.hpp"

namespace SQLite {
class Database;
class Statement;
}

namespace warmpool {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The requested state change is not allowed from the instance's current state
// (someone else moved it first). Nothing was written.
class StaleState : public StoreError {
 public:
  using StoreError::StoreError;
};

class Store {
 public:
  // Opens or creates the database at `path` (":memory:" for tests) and
  // migrates it to the newest schema. Throws StoreError.
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 2;
  int schema_version();

  // --- instances ---
  // A new instance in state `starting`, holding `port`.
  Instance add_instance(const std::string& host, int port, std::int64_t now_ms);
  void set_container(std::int64_t id, const std::string& container_id, std::int64_t now_ms);
  // Moves the instance to `to`. Throws StaleState when the state machine does
  // not allow it from the current state. `error`, when given, becomes
  // last_error and counts a failure; reaching Ready/Paused/Allocated clears
  // the failure count. Entering Deleted releases the port.
  Instance transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                      const std::string& error = {});
  // Counts a restart (error -> starting) in the same transaction.
  Instance restart(std::int64_t id, std::int64_t now_ms);
  std::optional<Instance> instance(std::int64_t id);
  std::vector<Instance> instances(Show show);  // Current = not deleted

  // --- allocations ---
  // One transaction: the instance (idle) becomes allocated and the allocation
  // is recorded. Throws StaleState if the instance is not idle, StoreError if
  // it already has a current allocation.
  Allocation allocate(std::int64_t instance_id, const std::string& allocation_id,
                      const std::string& client, std::int64_t now_ms, std::int64_t expires_ms);
  // One transaction: the allocation ends with `reason` and its instance, if
  // still allocated, becomes resetting. Idempotent: an allocation that has
  // already ended is returned unchanged. nullopt for an unknown id.
  // *ended_now, when given, says whether this call ended it.
  std::optional<Allocation> end_allocation(const std::string& id, const std::string& reason,
                                           std::int64_t now_ms, bool* ended_now = nullptr);
  std::optional<Allocation> renew(const std::string& id, std::int64_t expires_ms);
  std::optional<Allocation> allocation(const std::string& id);
  std::optional<Allocation> current_allocation_of(std::int64_t instance_id);
  std::vector<Allocation> allocations(Show show);
  // Current allocations whose lease ended at or before now.
  std::vector<Allocation> expired_allocations(std::int64_t now_ms);

  // --- pi jobs ---
  // A new queued job; its id is one above the highest so far (0 first).
  Job add_job(std::int64_t digits, std::int64_t now_ms);
  // A new job, complete at once with `result` (taken from source_job's).
  Job add_complete_job(std::int64_t digits, const ResultFile& result, std::int64_t source_job,
                       std::int64_t now_ms);
  std::optional<Job> job(std::int64_t id);
  // The newest `limit` jobs, newest first.
  std::vector<Job> recent_jobs(std::size_t limit);
  // Jobs in `state`, oldest first, at most `limit`.
  std::vector<Job> jobs_in_state(JobState state, std::size_t limit);
  // How many jobs are in each state (states with none are absent).
  std::map<JobState, std::int64_t> job_counts();
  // The complete job with the fewest digits that has at least `digits`.
  std::optional<Job> complete_job_with_at_least(std::int64_t digits);

  // The changes below apply only from the states named; each returns false,
  // writing nothing, when the job is not (or no longer) in one of them.
  // queued -> running on allocation_id.
  bool start_job(std::int64_t id, const std::string& allocation_id, std::int64_t now_ms);
  // running: the fraction done.
  bool set_job_progress(std::int64_t id, double progress, std::int64_t now_ms);
  // queued|running -> complete with result (source_job: answered from that job's result).
  bool complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                    std::optional<std::int64_t> source_job = std::nullopt);
  // running -> queued (its allocation dropped, progress 0). `reason`, when
  // given, becomes error and counts an attempt.
  bool requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms);
  // queued|running -> failed with reason.
  bool fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms);
  // queued|running -> cancelled. Returns the job after the change (a final
  // job unchanged); nullopt for an unknown id.
  std::optional<Job> cancel_job(std::int64_t id, std::int64_t now_ms);

 private:
  std::optional<Instance> instance_locked(std::int64_t id);
  Instance transition_locked(std::int64_t id, InstanceState to, std::int64_t now_ms,
                             const std::string& error);
  std::optional<Allocation> allocation_locked(const std::string& id);
  std::optional<Job> job_locked(std::int64_t id);
  void migrate();
  class Reused;
  // REQUIRES: mu_ held. The prepared statement for sql, cached.
  SQLite::Statement& statement(const std::string& sql);

  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
