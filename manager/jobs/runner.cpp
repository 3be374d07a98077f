#include "jobs/runner.hpp"

#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

#include "jobs/result_files.hpp"

namespace warmpool::jobs {

namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

std::string job_name(std::int64_t id) { return "pi job " + std::to_string(id); }

JobRunner::JobRunner(JobSettings settings, Store& store, Pool& pool, WorkerClient& worker,
                     const Clock& clock, Metrics* metrics)
    : settings_(std::move(settings)),
      store_(store),
      pool_(pool),
      worker_(worker),
      clock_(clock),
      metrics_(metrics) {}

JobRunner::~JobRunner() { stop(); }

std::filesystem::path JobRunner::path_of(const ResultFile& file) const {
  return jobs::path_of(settings_.results_dir, file);
}

// ---------------------------------------------------------------------------
// Start, stop, and the requests of the API.

void JobRunner::start() {
  {
    std::lock_guard lock(mu_);
    if (started_ || stopping()) return;
    started_ = true;
  }
  remove_temp_files(settings_.results_dir);
  {
    // Jobs a killed manager left running: their workers answer to no one now.
    std::lock_guard lock(mu_);
    last_orphan_check_ = Steady::now();
    requeue_orphans();
  }
  for (int i = 0; i < settings_.workers; ++i) threads_.emplace_back([this] { work(); });
}

void JobRunner::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_all();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

Job JobRunner::submit(std::int64_t digits, const std::string& pool) {
  if (auto source = store_.complete_job_with_at_least(digits); source && source->result) {
    try {
      const ResultFile file = write_prefix(settings_.results_dir, *source->result, digits);
      return store_.add_complete_job(digits, file, source->id, clock_.now_ms());
    } catch (const ResultFileError& e) {
      spdlog::warn("cannot answer {} digits from {}: {}", digits, job_name(source->id), e.what());
    }
  }
  Job job = store_.add_job(digits, clock_.now_ms(), pool);
  std::lock_guard lock(mu_);
  wake_.notify_all();
  return job;
}

JobPoolChoice JobRunner::pool_for(std::int64_t digits, const std::string& pool) const {
  const PoolSettings& own = pool_.settings();
  const std::vector<JobPool> pools =
      pools_.list ? pools_.list()
                  : std::vector<JobPool>{{own.name, own.container.memory_bytes, own.protocol.speaks_worker()}};
  return pool.empty() ? choose_job_pool(pools, digits) : check_named_job_pool(pools, pool, digits);
}

Pool& JobRunner::pool_named(const std::string& name) {
  if (pools_.find && name != pool_.settings().name)
    if (Pool* pool = pools_.find(name)) return *pool;
  return pool_;
}

std::optional<Job> JobRunner::cancel(std::int64_t id) {
  auto job = store_.cancel_job(id, clock_.now_ms());
  if (job && job->state == JobState::Cancelled) {
    std::lock_guard lock(mu_);
    if (active_.count(id)) cancels_.insert(id);
    wake_.notify_all();
  }
  return job;
}

// ---------------------------------------------------------------------------
// The threads.

void JobRunner::work() {
  while (auto job = next_job()) {
    try {
      run(*job);
    } catch (const std::exception& e) {
      // The store failed, most likely; the job stays as recorded. Pause, so
      // that a broken database does not spin this thread.
      spdlog::error("{}: {}", job_name(job->id), e.what());
      interrupted(job->id, std::chrono::seconds(1));
      requeue_after(*job, e.what());
    }
    done_with(job->id);
  }
}

// A job left running by a failed store write has no worker any more: put it
// back in the queue, if the store takes it now.
void JobRunner::requeue_after(const Job& job, const std::string& error) {
  try {
    store_.requeue_job(job.id, error, clock_.now_ms());
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", job_name(job.id), e.what());  // the next start requeues it
  }
}

std::optional<Job> JobRunner::next_job() {
  std::unique_lock lock(mu_);
  while (!stopping()) {
    requeue_orphans_now_and_then();
    std::vector<Job> queued;
    try {
      // One more than the jobs other threads hold: at least one is free.
      queued = store_.jobs_in_state(JobState::Queued, active_.size() + 1);
    } catch (const StoreError& e) {
      spdlog::error("pi jobs: {}", e.what());
    }
    for (const Job& job : queued)
      if (!active_.count(job.id) && hold_job(job.id)) {
        active_.insert(job.id);
        return job;
      }
    wake_.wait_for(lock, std::chrono::seconds(1));
  }
  return std::nullopt;
}

// Another manager on the same database may hold it (and run it).
bool JobRunner::hold_job(std::int64_t job_id) {
  try {
    return store_.hold(Hold::Job, job_id);
  } catch (const StoreError& e) {
    spdlog::error("pi jobs: {}", e.what());
    return false;
  }
}

void JobRunner::done_with(std::int64_t job_id) {
  std::lock_guard lock(mu_);
  active_.erase(job_id);
  cancels_.erase(job_id);
  try {
    store_.let_go(Hold::Job, job_id);
  } catch (const StoreError& e) {
    spdlog::warn("{}: {}", job_name(job_id), e.what());  // a lost connection let go already
  }
  wake_.notify_all();  // a job re-queued by this thread is free for the others
}

bool JobRunner::interrupted(std::int64_t job_id, milliseconds d) {
  std::unique_lock lock(mu_);
  return wake_.wait_for(lock, d, [&] { return stopping() || cancels_.count(job_id) > 0; });
}

bool JobRunner::public_allocations_waiting(Pool& pool) {
  // Every waiter that is not one of our threads is a client of the public API.
  return pool.counts().waiting > allocating_.load();
}

// ---------------------------------------------------------------------------
// One job: answer from a result, or allocate, compute, fetch, settle.

}  // namespace warmpool::jobs
