// Pi jobs whose manager is gone. A manager holds each job it runs in the
// store (Hold::Job); the store lets go when that manager's connection ends.
// So a running job that no thread here runs and that this manager can hold
// has lost its manager: its instance is released and the job queued again.
// With one manager per database (SQLite) that is every running job at start.
#include <spdlog/spdlog.h>

#include "jobs/runner.hpp"

namespace warmpool::jobs {

namespace {
constexpr std::size_t kAll = 1'000'000;
}  // namespace

// REQUIRES: mu_ held.
void JobRunner::requeue_orphans() {
  for (const Job& job : store_.jobs_in_state(JobState::Running, kAll)) {
    if (active_.count(job.id) || !store_.hold(Hold::Job, job.id)) continue;  // someone runs it
    const std::string name = "pi job " + std::to_string(job.id);
    try {
      if (!job.allocation_id.empty()) {
        const auto allocation = store_.allocation(job.allocation_id);
        (allocation ? pool_of(*allocation) : pool_).release(job.allocation_id, name + ": its manager stopped");
      }
      if (store_.requeue_job(job.id, "", clock_.now_ms()))
        spdlog::info("{}: back in the queue: the manager that ran it stopped", name);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot requeue it: {}", name, e.what());
    }
    store_.let_go(Hold::Job, job.id);
  }
}

// REQUIRES: mu_ held. At most every kOrphanCheck, from a thread that looks
// for work anyway.
void JobRunner::requeue_orphans_now_and_then() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_orphan_check_ < kOrphanCheck) return;
  last_orphan_check_ = now;
  try {
    requeue_orphans();
  } catch (const StoreError& e) {
    spdlog::error("pi jobs: {}", e.what());
  }
}

}  // namespace warmpool::jobs
