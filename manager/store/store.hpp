// Where Instance, Allocation, pi Job and Pool records are kept. Every state change
// is one transaction, so a manager killed at any moment restarts into a
// consistent store. The store itself enforces that an instance has at most
// one current allocation and that no two live instances share a port.
//
// `Store` is an interface made of three repositories (and the managers' registry); SqliteStore
// (store/sqlite_store.hpp) implements it. Implementations are thread-safe.
// Errors: StoreError (a std::runtime_error) with "operation: detail".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "records/engine_record.hpp"
#include "records/records.hpp"

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

// Which quota a refusal is about: the client's allocations in one pool, or
// in every pool together.
enum class QuotaScope { Pool, Overall };
const char* to_string(QuotaScope scope);  // "pool" | "overall"

// The quotas allocate() keeps, counted in the allocation's transaction.
// 0: none.
struct ClientQuotas {
  int pool = 0;     // the client's current allocations in the instance's pool
  int overall = 0;  // the client's current allocations in every pool
};

// The client holds one of its quotas of current allocations already
// (allocate with ClientQuotas). Nothing was written.
class OverQuota : public StoreError {
 public:
  OverQuota(const std::string& message, QuotaScope scope, int quota, int current)
      : StoreError(message), scope_(scope), quota_(quota), current_(current) {}
  QuotaScope scope() const { return scope_; }
  int quota() const { return quota_; }
  int current() const { return current_; }  // the client's current allocations in that scope

 private:
  QuotaScope scope_;
  int quota_;
  int current_;
};

// Instances and their allocations. Every method throws StoreError.
class InstanceRepository {
 public:
  virtual ~InstanceRepository() = default;

  // --- instances ---
  // A new instance of `pool` in state `starting`, holding `port`. Throws
  // PortTaken when a live instance holds it already.
  virtual Instance add_instance(const std::string& host, int port, std::int64_t now_ms,
                                const std::string& pool) = 0;
  Instance add_instance(const std::string& host, int port, std::int64_t now_ms) {
    return add_instance(host, port, now_ms, kDefaultPool);
  }
  // `engine`: the name of the engine that holds the container.
  virtual void set_container(std::int64_t id, const std::string& container_id,
                             const std::string& engine, std::int64_t now_ms) = 0;
  // Moves the instance to `to`. Throws StaleState when the state machine does
  // not allow it from the current state. `error`, when given, becomes
  // last_error and counts a failure; reaching Ready/Paused/Allocated clears
  // the failure count. Entering Deleted releases the port.
  virtual Instance transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                              const std::string& error = {}) = 0;
  // Counts a restart (error -> starting) in the same transaction.
  virtual Instance restart(std::int64_t id, std::int64_t now_ms) = 0;
  virtual std::optional<Instance> instance(std::int64_t id) = 0;
  virtual std::vector<Instance> instances(Show show) = 0;  // Current = not deleted
  // Those of one pool.
  std::vector<Instance> instances_of(const std::string& pool, Show show) {
    std::vector<Instance> out;
    for (auto& i : instances(show))
      if (i.pool == pool) out.push_back(std::move(i));
    return out;
  }

  // --- allocations ---
  // One transaction: the instance (idle) becomes allocated and the allocation
  // is recorded, with the instance's pool. Throws StaleState if the instance is not idle, StoreError if
  // it already has a current allocation. `session` is kept with it.
  // Throws OverQuota when `client` already holds quotas.pool current
  // allocations in the instance's pool (checked first) or quotas.overall in
  // every pool, counted in the same transaction, so that two racing
  // allocations of one client cannot both pass.
  virtual Allocation allocate(std::int64_t instance_id, const std::string& allocation_id,
                              const std::string& client, std::int64_t now_ms,
                              std::int64_t expires_ms, const AllocationSession& session = {},
                              ClientQuotas quotas = {}) = 0;
  // How many current allocations `client` holds ("" counts the allocations
  // made without a client) in `pool`; an empty `pool`: in every pool.
  virtual int current_allocations_of_client(const std::string& client, const std::string& pool = {}) = 0;
  // One transaction: the allocation ends with `reason` and its instance, if
  // still allocated, becomes resetting. Idempotent: an allocation that has
  // already ended is returned unchanged. nullopt for an unknown id.
  // *ended_now, when given, says whether this call ended it.
  virtual std::optional<Allocation> end_allocation(const std::string& id,
                                                   const std::string& reason,
                                                   std::int64_t now_ms,
                                                   bool* ended_now = nullptr) = 0;
  virtual std::optional<Allocation> renew(const std::string& id, std::int64_t expires_ms) = 0;
  virtual std::optional<Allocation> allocation(const std::string& id) = 0;
  // The allocation with that number (Allocation::number); nullopt if none.
  virtual std::optional<Allocation> allocation_by_number(std::int64_t number) = 0;
  virtual std::optional<Allocation> current_allocation_of(std::int64_t instance_id) = 0;
  // Allocations in the order they were made (by number), a page at a time.
  struct AllocationQuery {
    Show show = Show::Current;
    std::optional<std::string> client;  // only this client's
    std::optional<std::string> pool;    // only those of this pool
    std::int64_t after_number = 0;      // only those numbered above this
    std::int64_t limit = 0;             // at most this many; 0: all
  };
  virtual std::vector<Allocation> allocations(const AllocationQuery& query) = 0;
  std::vector<Allocation> allocations(Show show) {
    AllocationQuery query;
    query.show = show;
    return allocations(query);
  }
  // Current allocations whose lease ended at or before now.
  virtual std::vector<Allocation> expired_allocations(std::int64_t now_ms) = 0;

  // --- retention ---
  // What one prune_finished call removed.
  struct Pruned {
    int allocations = 0;
    int instances = 0;
  };
  // Removes at most `batch` allocations that ended before `before_ms`, then at
  // most `batch` instances deleted before it that no remaining allocation
  // names, with their events; each step is one short transaction. Current
  // records and pi jobs are never touched, nor the newest allocation: it
  // holds the numbering (Allocation::number), so numbers never repeat. A caller with more to remove calls
  // again while a step comes back full.
  virtual Pruned prune_finished(std::int64_t before_ms, int batch) = 0;

  // --- events ---
  // Every state change (and creation) is recorded with the change, in its
  // transaction. Kept: the newest kEventsPerInstance of each instance and
  // the newest kEventsKept overall.
  static constexpr int kEventsPerInstance = 50;
  static constexpr int kEventsKept = 10'000;
  // Newest first, at most `limit`; of one instance when given.
  virtual std::vector<InstanceEvent> events(std::optional<std::int64_t> instance_id,
                                            std::size_t limit) = 0;
};

// pi jobs. Every method throws StoreError.
class JobRepository {
 public:
  virtual ~JobRepository() = default;

  // A new queued job; its id is one above the highest so far (0 first).
  // `pool`: the pool its submitter named; empty: none (it runs on the
  // smallest that fits).
  virtual Job add_job(std::int64_t digits, std::int64_t now_ms, const std::string& pool) = 0;
  Job add_job(std::int64_t digits, std::int64_t now_ms) { return add_job(digits, now_ms, ""); }
  // A new job, complete at once with `result` (taken from source_job's).
  virtual Job add_complete_job(std::int64_t digits, const ResultFile& result,
                               std::int64_t source_job, std::int64_t now_ms) = 0;
  virtual std::optional<Job> job(std::int64_t id) = 0;
  // The newest `limit` jobs, newest first.
  virtual std::vector<Job> recent_jobs(std::size_t limit) = 0;
  // Jobs in `state`, oldest first, at most `limit`.
  virtual std::vector<Job> jobs_in_state(JobState state, std::size_t limit) = 0;
  // How many jobs are in each state (states with none are absent).
  virtual std::map<JobState, std::int64_t> job_counts() = 0;
  // The complete job with the fewest digits that has at least `digits`.
  virtual std::optional<Job> complete_job_with_at_least(std::int64_t digits) = 0;

  // The changes below apply only from the states named; each returns false,
  // writing nothing, when the job is not (or no longer) in one of them.
  // queued -> running on allocation_id.
  virtual bool start_job(std::int64_t id, const std::string& allocation_id,
                         std::int64_t now_ms) = 0;
  // running: the fraction done.
  virtual bool set_job_progress(std::int64_t id, double progress, std::int64_t now_ms) = 0;
  // queued|running -> complete with result (source_job: answered from that job's result).
  virtual bool complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                            std::optional<std::int64_t> source_job = std::nullopt) = 0;
  // running -> queued (its allocation dropped, progress 0). `reason`, when
  // given, becomes error and counts an attempt.
  virtual bool requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) = 0;
  // queued|running -> failed with reason.
  virtual bool fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) = 0;
  // queued|running -> cancelled. Returns the job after the change (a final
  // job unchanged); nullopt for an unknown id.
  virtual std::optional<Job> cancel_job(std::int64_t id, std::int64_t now_ms) = 0;
};

// Pool records (records/pool_record.hpp). Every method throws StoreError.
class PoolRepository {
 public:
  virtual ~PoolRepository() = default;

  // Records a new pool. Throws PoolExists when the name is taken.
  virtual PoolRecord add_pool(const PoolRecord& pool) = 0;
  // Writes the pool's record whether or not it exists (the default pool,
  // from the flags at each start).
  virtual PoolRecord put_pool(const PoolRecord& pool) = 0;
  virtual std::optional<PoolRecord> pool(const std::string& name) = 0;
  virtual std::vector<PoolRecord> pools() = 0;  // by name
  // Replaces every field but name and created_ms. nullopt for an unknown name.
  virtual std::optional<PoolRecord> update_pool(const PoolRecord& pool) = 0;
  // False when there was no such pool.
  virtual bool remove_pool(const std::string& name) = 0;
};

// add_instance: a live instance holds that port on that host (another
// manager or pool took it since the caller listed). Nothing was written.
class PortTaken : public StoreError {
 public:
  PortTaken(const std::string& host, int port)
      : StoreError("add instance: port " + std::to_string(port) + " on " + host + " is held by a live instance") {}
};

// add_pool: a pool of that name exists. Nothing was written.
class PoolExists : public StoreError {
 public:
  using StoreError::StoreError;
};

// Engines added through the admin API (records/engine_record.hpp). Every
// method throws StoreError.
class EngineRepository {
 public:
  virtual ~EngineRepository() = default;

  // Records a new engine. Throws EngineExists when the name is taken.
  virtual EngineRecord add_engine(const EngineRecord& engine) = 0;
  virtual std::vector<EngineRecord> engines() = 0;  // in the order they were added
  // False when there was no such engine.
  virtual bool remove_engine(const std::string& name) = 0;
};

// add_engine: an engine of that name is recorded. Nothing was written.
class EngineExists : public StoreError {
 public:
  using StoreError::StoreError;
};

// What a manager holds in the database while it works on it, so that other
// managers on the same database leave it alone.
enum class Hold { Instance = 1, Job = 2 };

// Several managers on one database. A hold and the leadership last until they
// are let go or until the manager's connection to the database ends (the
// manager died, or lost the database): the database, not a timer, frees them.
// A store that serves one manager only (SqliteStore) grants them all.
// Every method throws StoreError.
class ManagerRegistry {
 public:
  virtual ~ManagerRegistry() = default;

  // Holds `what` #id for this manager. False when another manager holds it.
  // Within one manager a hold is counted: each true needs one let_go().
  virtual bool hold(Hold what, std::int64_t id) = 0;
  virtual void let_go(Hold what, std::int64_t id) = 0;
  // Whether this manager leads (runs upkeep, reconcile and lease expiry):
  // takes the leadership when nobody holds it, keeps it while held. At most
  // one manager leads at a time. Call it before each round of leader work:
  // a manager that lost its connection finds out here.
  virtual bool lead() = 0;
  // The name of the manager that leads, as given to the store; empty when
  // none does.
  virtual std::string leader() = 0;
};

// Everything the manager keeps. Users hold a Store&; the owner picks the
// implementation.
class Store : public InstanceRepository,
              public JobRepository,
              public PoolRepository,
              public EngineRepository,
              public ManagerRegistry {
 public:
  // The newest schema this warmpool writes. An implementation refuses to open
  // a store whose schema is newer.
  static constexpr int kSchemaVersion = 10;
  // The schema version the opened store is at (after migration).
  virtual int schema_version() = 0;
  // Commits a change that changes nothing, so that a full disk, a read-only
  // file system or a lost lock shows before a real write needs it. Throws
  // StoreError.
  virtual void check_writable() = 0;

  // Holds instance #id (as hold()) and reads its record under the hold, so
  // that what another manager did before letting go of it shows. nullopt
  // when another manager holds it. Throws StoreError, holding nothing then,
  // also when there is no such instance. A hand-out claims through this:
  // PgStore does it in one round trip.
  virtual std::optional<Instance> hold_instance(std::int64_t id) {
    if (!hold(Hold::Instance, id)) return std::nullopt;
    try {
      if (auto found = instance(id)) return found;
      throw StoreError("instance " + std::to_string(id) + " vanished");
    } catch (...) {
      try {
        let_go(Hold::Instance, id);
      } catch (const StoreError&) {
        // a lost connection has let go of everything already
      }
      throw;
    }
  }
};

}  // namespace warmpool
