// The Store in one SQLite file (WAL mode): the implementation warmpool runs on.
//
// Thread-safe: one connection, serialised by an internal mutex.
// Errors: StoreError with "operation: sqlite message".
#pragma once

#include <memory>
#include <string>

#include "store/store.hpp"

namespace warmpool {

class SqliteDb;

class SqliteStore final : public Store {
 public:
  // Opens or creates the database at `path` (":memory:" for tests) and
  // migrates it to the newest schema. Throws StoreError, also when the
  // database's schema is newer than kSchemaVersion.
  explicit SqliteStore(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  int schema_version() override;
  void check_writable() override;

  // ManagerRegistry: one manager per file, so it holds everything and leads.
  bool hold(Hold, std::int64_t) override { return true; }
  void let_go(Hold, std::int64_t) override {}
  bool lead() override { return true; }
  std::string leader() override { return {}; }

  // InstanceRepository (sqlite_instances.cpp)
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
                      const std::string& client, std::int64_t now_ms,
                      std::int64_t expires_ms, const AllocationSession& session = {},
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

  // PoolRepository (sqlite_pools.cpp)
  PoolRecord add_pool(const PoolRecord& pool) override;
  PoolRecord put_pool(const PoolRecord& pool) override;
  std::optional<PoolRecord> pool(const std::string& name) override;
  std::vector<PoolRecord> pools() override;
  std::optional<PoolRecord> update_pool(const PoolRecord& pool) override;
  bool remove_pool(const std::string& name) override;
  // EngineRepository (sqlite_engines.cpp)
  EngineRecord add_engine(const EngineRecord& engine) override;
  std::vector<EngineRecord> engines() override;
  bool remove_engine(const std::string& name) override;

  // JobRepository (sqlite_jobs.cpp)
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
  // REQUIRES: inside db_->locked().
  std::optional<Instance> instance_locked(std::int64_t id);
  void record_event_locked(std::int64_t instance_id, std::optional<InstanceState> from,
                           InstanceState to, std::int64_t now_ms, const std::string& detail);
  Instance transition_locked(std::int64_t id, InstanceState to, std::int64_t now_ms,
                             const std::string& error);
  std::optional<Allocation> allocation_locked(const std::string& id);
  int count_current_locked(const std::string& client, const std::string& pool);  // current_allocations_of_client
  std::optional<Job> job_locked(std::int64_t id);
  std::optional<PoolRecord> pool_locked(const std::string& name);
  void write_pool_locked(const PoolRecord& pool, bool replace);
  void migrate();

  std::unique_ptr<SqliteDb> db_;
};

}  // namespace warmpool
