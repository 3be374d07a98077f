// Runs pi jobs on the pool's instances. Jobs are records in the Store (the
// source of truth); the runner keeps in memory only which jobs its threads
// are working on and which of those were asked to stop.
//
// Each of `workers` threads takes the oldest queued job and:
//   1. answers it at once if a complete result has at least its digits (a
//      prefix is exact: digits are truncated, never rounded);
//   2. allocates an instance from the pool, as any client does, but only
//      while no public allocation is waiting (jobs yield to them), so jobs
//      hold at most `workers` instances and never starve the public API;
//   3. posts /compute, polls progress (recorded about once a second), renews
//      the lease, then streams /result into a result file (SHA-256, fsync,
//      rename), records it, and releases the instance.
// A worker that stops answering, fails, or loses its allocation sends the
// job back to the queue, up to `retries` times, then the job fails with the
// reason. Cancelling resets the worker and releases the instance.
//
// Restarts: stop() puts running jobs back in the queue; start() does the
// same for jobs a killed manager left running (releasing their allocations).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "jobs/sizing.hpp"
#include "pool/pool.hpp"
#include "store/store.hpp"
#include "worker/worker_client.hpp"

namespace warmpool::jobs {

struct JobSettings {
  std::filesystem::path results_dir;        // result files (created if missing)
  std::int64_t max_digits = 10'000'000;     // POST /pi_job refuses more
  int workers = 1;                          // jobs running at once, each on one instance
  int retries = 2;                          // re-runs after a lost worker before failing
  std::chrono::milliseconds poll_interval{200};       // GET /compute while running
  std::chrono::milliseconds call_timeout{2000};       // each call to the worker
  std::chrono::milliseconds result_timeout{30000};    // between pieces of GET /result
  std::chrono::milliseconds lost_after{3000};         // a worker silent this long is lost
  std::chrono::milliseconds allocate_attempt{1000};   // one pool.allocate; repeated until served
  std::chrono::milliseconds progress_every{1000};     // progress written to the store at most this often
  std::int64_t lease_ms = 60'000;                     // renewed every third of it
};

// "pi job N", as the logs name a job.
std::string job_name(std::int64_t id);

class JobRunner {
 public:
  // All references must outlive the runner; metrics may be null.
  JobRunner(JobSettings settings, Store& store, Pool& pool, WorkerClient& worker,
            const Clock& clock, Metrics* metrics = nullptr);
  ~JobRunner();  // stop()
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Re-queues jobs left running by a manager that was killed (their
  // allocations are released) and starts the threads. Call once.
  void start();
  // Stops the threads; running jobs go back to the queue and their
  // instances are released. Queued jobs stay queued.
  void stop() noexcept;

  // A new job. REQUIRES: 1 <= digits <= settings().max_digits, and
  // pool_for(digits, pool) chose a pool. Complete at once when a finished
  // result has at least `digits` digits, else queued; `pool` (empty: none
  // named) is kept with it and decides where it runs, after a restart too.
  // Throws StoreError.
  Job submit(std::int64_t digits, const std::string& pool = "");
  // Cancels a queued or running job; a final job is returned unchanged;
  // nullopt for an unknown id. A running job's worker is reset and its
  // instance released shortly after (by the thread running it).
  std::optional<Job> cancel(std::int64_t id);

  const JobSettings& settings() const { return settings_; }
  // The pool a job of `digits` would run on, or why none can (its image is
  // not a worker, or its instances lack the memory: jobs/sizing.hpp).
  // `pool`: the one its submitter named (check_named_job_pool); empty: the
  // smallest that fits (choose_job_pool).
  JobPoolChoice pool_for(std::int64_t digits, const std::string& pool = "") const;

  // Several pools (manager/pools): how jobs see them. Without it, jobs run
  // on the pool given to the constructor only. Set before start().
  struct PoolDirectory {
    std::function<std::vector<JobPool>()> list;          // every pool; ties go to the first
    std::function<Pool*(const std::string& name)> find;  // nullptr when there is none
  };
  void use_pools(PoolDirectory pools) { pools_ = std::move(pools); }
  std::filesystem::path path_of(const ResultFile& file) const;

 private:
  // How one run on an instance ended.
  struct Outcome {
    enum Kind { Done, Retry, Refused, Cancelled, Stopping };
    Kind kind = Retry;
    std::string reason;  // Retry, Refused: why
    ResultFile result;   // Done
  };

  void work();
  void requeue_after(const Job& job, const std::string& error);
  std::optional<Job> next_job();
  void run(const Job& job);
  void run_on(const Job& job, const Allocation& allocation);
  bool answer_from_results(const Job& job);
  std::optional<Allocation> acquire(const Job& job, Pool& pool);
  Pool& pool_named(const std::string& name);
  Pool& pool_of(const Allocation& allocation) { return pool_named(allocation.pool); }
  // A running computation, as its polling sees it.
  struct Watch {
    std::chrono::steady_clock::time_point last_answer = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_renewal = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_write;
    double written = 0;  // the progress last recorded
  };
  Outcome compute(const Job& job, const Allocation& allocation);
  std::optional<Outcome> keep_lease(const Allocation& allocation, Watch& watch);
  std::optional<Outcome> on_status(const Job& job, const Allocation& allocation,
                                   const ComputeStatus& status, Watch& watch);
  Outcome fetch(const Job& job, const Allocation& allocation);
  Outcome no_longer_running(const Job& job);  // its record says another state
  void settle(const Job& job, const Allocation& allocation, const Outcome& outcome);
  void observe_end(const Job& job, JobState final_state, std::int64_t now_ms);
  void stop_worker(const Allocation& allocation);
  bool public_allocations_waiting(Pool& pool);
  // Sleeps up to `d`; true (at once) when the job must stop: cancelled or stopping.
  bool interrupted(std::int64_t job_id, std::chrono::milliseconds d);
  bool stopping() const { return stopping_.load(); }
  bool hold_job(std::int64_t job_id);  // REQUIRES: mu_ held
  void done_with(std::int64_t job_id);
  // orphans.cpp: running jobs whose manager is gone go back to the queue.
  static constexpr std::chrono::seconds kOrphanCheck{2};
  void requeue_orphans();               // REQUIRES: mu_ held
  void requeue_orphans_now_and_then();  // REQUIRES: mu_ held

  const JobSettings settings_;
  Store& store_;
  Pool& pool_;
  PoolDirectory pools_;
  WorkerClient& worker_;
  const Clock& clock_;
  Metrics* metrics_;

  std::atomic<bool> stopping_{false};
  std::atomic<int> allocating_{0};  // threads inside pool.allocate()
  std::mutex mu_;
  std::condition_variable wake_;     // a job queued or cancelled, or stopping
  std::set<std::int64_t> active_;    // GUARDED_BY(mu_): jobs a thread holds
  std::set<std::int64_t> cancels_;   // GUARDED_BY(mu_): active jobs asked to stop
  std::vector<std::thread> threads_;
  bool started_ = false;             // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_orphan_check_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool::jobs
