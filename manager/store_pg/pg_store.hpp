// The Store in PostgreSQL, shared by several managers: the same records and
// schema versions as SqliteStore, with the rules that must hold across
// managers enforced by the database (row locks on every state change, unique
// indexes, sequences for numbers and job ids).
//
// Thread-safe: a few connections, one per call at a time, and a few session
// connections for the advisory locks (holds, leadership), each key always on
// the same one; a broken connection is re-opened by its next call.
// Errors: StoreError with "operation: server message".
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/store.hpp"

namespace warmpool {

class PgConn;

class PgStore final : public Store {
 public:
  // Connects with `url` (postgresql://... or libpq's key=value pairs) and
  // migrates the database to the newest schema, under an advisory lock so
  // that managers starting at once migrate it once. Throws StoreError when
  // the server does not answer, and when the schema is newer than
  // kSchemaVersion.
  // `name` is this manager's name, as leader() shows it to the others.
  explicit PgStore(const std::string& url, const std::string& name = {});
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  int schema_version() override;
  void check_writable() override;

  // ManagerRegistry (pg_managers.cpp): PostgreSQL's advisory locks, held by
  // this store's sessions, so a manager that dies lets go of everything.
  // allocate() of an instance this store holds lets go of it in the same
  // round trip, once the allocation is committed; the let_go() that follows
  // then costs nothing.
  bool hold(Hold what, std::int64_t id) override;
  void let_go(Hold what, std::int64_t id) override;
  bool lead() override;
  std::string leader() override;
  std::optional<Instance> hold_instance(std::int64_t id) override;  // pg_instances.cpp

  // InstanceRepository (pg_instances.cpp)
  using Store::add_instance;
  Instance add_instance(const std::string& host, int port, std::int64_t now_ms,
                        const std::string& pool) override;
  void set_container(std::int64_t id, const std::string& container_id, const std::string& engine,
                     std::int64_t now_ms) override;
  Instance transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                      const std::string& error = {}) override;
  Instance restart(std::int64_t id, std::int64_t now_ms) override;
  std::optional<Instance> instance(std::int64_t id) override;
  std::vector<Instance> instances(Show show) override;
  Allocation allocate(std::int64_t instance_id, const std::string& allocation_id,
                      const std::string& client, std::int64_t now_ms, std::int64_t expires_ms,
                      const AllocationSession& session = {},
                      ClientQuotas quotas = {}) override;
  int current_allocations_of_client(const std::string& client, const std::string& pool = {}) override;
  std::optional<Allocation> end_allocation(const std::string& id, const std::string& reason,
                                           std::int64_t now_ms,
                                           bool* ended_now = nullptr) override;
  std::optional<Allocation> renew(const std::string& id, std::int64_t expires_ms) override;
  std::optional<Allocation> allocation(const std::string& id) override;
  std::optional<Allocation> allocation_by_number(std::int64_t number) override;
  std::optional<Allocation> current_allocation_of(std::int64_t instance_id) override;
  using Store::allocations;
  std::vector<Allocation> allocations(const AllocationQuery& query) override;
  std::vector<Allocation> expired_allocations(std::int64_t now_ms) override;
  std::vector<InstanceEvent> events(std::optional<std::int64_t> instance_id,
                                    std::size_t limit) override;
  Pruned prune_finished(std::int64_t before_ms, int batch) override;

  // PoolRepository (pg_pools.cpp)
  PoolRecord add_pool(const PoolRecord& pool) override;
  PoolRecord put_pool(const PoolRecord& pool) override;
  std::optional<PoolRecord> pool(const std::string& name) override;
  std::vector<PoolRecord> pools() override;
  std::optional<PoolRecord> update_pool(const PoolRecord& pool) override;
  bool remove_pool(const std::string& name) override;
  // EngineRepository (pg_engines.cpp)
  EngineRecord add_engine(const EngineRecord& engine) override;
  std::vector<EngineRecord> engines() override;
  bool remove_engine(const std::string& name) override;

  // JobRepository (pg_jobs.cpp)
  using Store::add_job;
  Job add_job(std::int64_t digits, std::int64_t now_ms, const std::string& pool) override;
  Job add_complete_job(std::int64_t digits, const ResultFile& result, std::int64_t source_job,
                       std::int64_t now_ms) override;
  std::optional<Job> job(std::int64_t id) override;
  std::vector<Job> recent_jobs(std::size_t limit) override;
  std::vector<Job> jobs_in_state(JobState state, std::size_t limit) override;
  std::map<JobState, std::int64_t> job_counts() override;
  std::optional<Job> complete_job_with_at_least(std::int64_t digits) override;
  bool start_job(std::int64_t id, const std::string& allocation_id, std::int64_t now_ms) override;
  bool set_job_progress(std::int64_t id, double progress, std::int64_t now_ms) override;
  bool complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                    std::optional<std::int64_t> source_job = std::nullopt) override;
  bool requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) override;
  bool fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) override;
  std::optional<Job> cancel_job(std::int64_t id, std::int64_t now_ms) override;

 private:
  int count_current(const std::string& client, const std::string& pool);  // REQUIRES: inside locked()
  // REQUIRES: inside db_->transaction() for the *_for_update ones, else db_->locked().
  std::optional<Instance> instance_locked(std::int64_t id);
  std::optional<Instance> instance_for_update(std::int64_t id);
  void record_event_locked(std::int64_t instance_id, std::optional<InstanceState> from,
                           InstanceState to, std::int64_t now_ms, const std::string& detail);
  Instance transition_locked(std::int64_t id, InstanceState to, std::int64_t now_ms,
                             const std::string& error);
  std::optional<Allocation> allocation_locked(const std::string& id);
  std::optional<Allocation> allocation_for_update(const std::string& id);
  std::optional<Job> job_locked(std::int64_t id);
  void migrate();
  static std::int64_t hold_key(Hold what, std::int64_t id);  // pg_managers.cpp
  // allocate() without a quota: one statement.
  Allocation allocate_at_once(std::int64_t instance_id, const std::string& allocation_id,
                              const std::string& client, std::int64_t now_ms, std::int64_t expires_ms,
                              const AllocationSession& session);

  // Counts an instance hold taken (+1) or let go (-1); false when none was
  // counted (an allocation let go of it already).
  void count_hold(std::int64_t id, int change);
  bool uncount_hold(std::int64_t id);

  std::unique_ptr<PgConn> db_;
  std::mutex holds_mu_;
  std::map<std::int64_t, int> instance_holds_;  // GUARDED_BY(holds_mu_): id -> times held
};

}  // namespace warmpool
