// One pi job on one instance: acquire it, compute, keep its lease while it
// runs, fetch the digits, settle the record. (runner.cpp: the queue and the
// threads that take jobs from it.)
#include "jobs/runner.hpp"

#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

#include "jobs/result_files.hpp"

namespace warmpool::jobs {

namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

void JobRunner::run(const Job& job) {
  if (answer_from_results(job)) return;
  // The pools may have changed since the job was queued (a restart with
  // other flags, its named pool gone): a job no instance can hold fails
  // rather than being killed for memory again and again.
  const JobPoolChoice choice = pool_for(job.digits, job.pool);
  if (choice.pool.empty()) {
    if (store_.fail_job(job.id, choice.refusal, clock_.now_ms()))
      spdlog::warn("{}: {}", job_name(job.id), choice.refusal);
    return;
  }
  auto allocation = acquire(job, pool_named(choice.pool));
  if (!allocation) return;  // cancelled (and recorded so) or stopping (still queued)
  try {
    run_on(job, *allocation);
  } catch (const std::exception& e) {
    // A store write failed: the instance must not stay with a job that no
    // longer runs. (Ending an allocation twice changes nothing.)
    try {
      pool_of(*allocation).release(allocation->id, job_name(job.id) + ": " + e.what());
    } catch (const std::exception&) {
      // still current: its lease ends it
    }
    throw;
  }
}

void JobRunner::run_on(const Job& job, const Allocation& allocation) {
  if (!store_.start_job(job.id, allocation.id, clock_.now_ms())) {
    pool_of(allocation).release(allocation.id, job_name(job.id) + " cancelled");
    return;
  }
  spdlog::info("{}: {} digits on instance {} ({}), attempt {}", job_name(job.id), job.digits,
               allocation.instance_id, allocation.endpoint, job.attempts + 1);
  Outcome outcome;
  try {
    outcome = compute(job, allocation);
  } catch (const std::exception& e) {
    outcome = {Outcome::Retry, e.what(), {}};
  }
  settle(job, allocation, outcome);
}

bool JobRunner::answer_from_results(const Job& job) {
  auto source = store_.complete_job_with_at_least(job.digits);
  if (!source || !source->result) return false;
  try {
    const ResultFile file = write_prefix(settings_.results_dir, *source->result, job.digits);
    if (store_.complete_job(job.id, file, clock_.now_ms(), source->id))
      spdlog::info("{}: answered from the result of {}", job_name(job.id), job_name(source->id));
    return true;
  } catch (const ResultFileError& e) {
    spdlog::warn("{}: cannot use the result of {}: {}", job_name(job.id), job_name(source->id),
                 e.what());
    return false;
  }
}

std::optional<Allocation> JobRunner::acquire(const Job& job, Pool& pool) {
  for (;;) {
    if (interrupted(job.id, milliseconds(0))) return std::nullopt;
    // Public allocations go first: wait while any is waiting.
    if (public_allocations_waiting(pool)) {
      interrupted(job.id, settings_.poll_interval);
      continue;
    }
    Pool::AllocateRequest request;
    request.lease_ms = settings_.lease_ms;
    request.client = job_name(job.id);
    request.deadline = Steady::now() + settings_.allocate_attempt;
    ++allocating_;
    try {
      Allocation allocation = pool.allocate(request);
      --allocating_;
      return allocation;
    } catch (const AllocateError& e) {
      --allocating_;
      // A timeout only means "not yet"; anything else (engine down, queue
      // full) deserves a pause before the next attempt.
      if (e.kind() != AllocateError::Kind::Timeout) {
        spdlog::debug("{}: no instance yet: {}", job_name(job.id), e.what());
        interrupted(job.id, std::chrono::seconds(1));
      }
    } catch (...) {
      --allocating_;
      throw;
    }
  }
}

JobRunner::Outcome JobRunner::compute(const Job& job, const Allocation& allocation) {
  const std::string& endpoint = allocation.endpoint;
  try {
    worker_.start_compute(endpoint, job.digits, settings_.call_timeout);
  } catch (const ComputeRefused& e) {
    return {Outcome::Refused, std::string("the worker refused the job: ") + e.what(), {}};
  } catch (const WorkerError& e) {
    return {Outcome::Retry, std::string("starting the computation: ") + e.what(), {}};
  }
  Watch watch;
  watch.last_write = Steady::now() - settings_.progress_every;
  // Small jobs finish in milliseconds: look early, then every poll_interval.
  auto pause = std::min(milliseconds(20), settings_.poll_interval);
  for (;;) {
    if (interrupted(job.id, pause)) {
      std::lock_guard lock(mu_);
      return {cancels_.count(job.id) ? Outcome::Cancelled : Outcome::Stopping, {}, {}};
    }
    pause = std::min(pause * 2, settings_.poll_interval);
    if (auto lost = keep_lease(allocation, watch)) return *lost;
    ComputeStatus status;
    try {
      status = worker_.compute_status(endpoint, settings_.call_timeout);
    } catch (const WorkerError& e) {
      // The scheduler may know already (container died, instance lost).
      auto current = store_.allocation(allocation.id);
      if (current && !current->current())
        return {Outcome::Retry, "lost its instance: " + current->end_reason, {}};
      if (Steady::now() - watch.last_answer >= settings_.lost_after)
        return {Outcome::Retry, std::string("the worker stopped answering: ") + e.what(), {}};
      continue;
    }
    watch.last_answer = Steady::now();
    if (auto end = on_status(job, allocation, status, watch)) return *end;
  }
}

// Renews the lease every third of it; an outcome when the allocation was lost.
std::optional<JobRunner::Outcome> JobRunner::keep_lease(const Allocation& allocation, Watch& watch) {
  const auto renew_every = milliseconds(std::max<std::int64_t>(settings_.lease_ms / 3, 1));
  if (Steady::now() - watch.last_renewal < renew_every) return std::nullopt;
  auto renewed = pool_of(allocation).renew(allocation.id, settings_.lease_ms);
  if (!renewed || !renewed->current())
    return Outcome{Outcome::Retry,
                   "lost its instance: " + (renewed ? renewed->end_reason : "the allocation is gone"), {}};
  watch.last_renewal = Steady::now();
  return std::nullopt;
}

// What the worker's state means for the run: nullopt while it computes ours.
std::optional<JobRunner::Outcome> JobRunner::on_status(const Job& job, const Allocation& allocation,
                                                       const ComputeStatus& status, Watch& watch) {
  if (status.digits != job.digits && status.state != ComputeState::Idle)
    return Outcome{Outcome::Retry,
                   "the worker is computing " + std::to_string(status.digits) + " digits, not ours", {}};
  switch (status.state) {
    case ComputeState::Done:
      return fetch(job, allocation);
    case ComputeState::Running:
      if (status.progress != watch.written && Steady::now() - watch.last_write >= settings_.progress_every) {
        // Refused: the job is no longer running here. Another manager on the
        // same database took a DELETE /pi_job for it (it cannot reach our
        // threads), or gave up on it.
        if (!store_.set_job_progress(job.id, status.progress, clock_.now_ms())) return no_longer_running(job);
        watch.written = status.progress;
        watch.last_write = Steady::now();
      }
      return std::nullopt;
    case ComputeState::Failed:
      return Outcome{Outcome::Retry, "the computation failed on the worker: " + status.error, {}};
    case ComputeState::Idle:
    case ComputeState::Cancelled:
      break;
  }
  return Outcome{Outcome::Retry,
                 std::string("the worker's computation stopped (state ") + to_string(status.state) + ")", {}};
}

JobRunner::Outcome JobRunner::no_longer_running(const Job& job) {
  const auto now = store_.job(job.id);
  if (now && now->state == JobState::Cancelled) return {Outcome::Cancelled, {}, {}};
  return {Outcome::Retry, "the job is no longer running here (" + std::string(now ? to_string(now->state) : "gone") + ")", {}};
}

JobRunner::Outcome JobRunner::fetch(const Job& job, const Allocation& allocation) {
  try {
    ResultWriter out(settings_.results_dir);
    DigitsCheck check(job.digits);
    try {
      worker_.fetch_result(
          allocation.endpoint,
          [&](const char* data, std::size_t size) {
            if (!check.feed(data, size)) return false;
            out.write(data, size);
            return true;
          },
          settings_.result_timeout);
    } catch (const WorkerError& e) {
      if (!check.problem().empty())
        return {Outcome::Retry, "the worker's result is malformed: " + check.problem(), {}};
      return {Outcome::Retry, std::string("fetching the result: ") + e.what(), {}};
    }
    if (!check.complete())
      return {Outcome::Retry, "the worker's result is malformed: " + check.problem(), {}};
    return {Outcome::Done, {}, out.commit()};
  } catch (const ResultFileError& e) {
    return {Outcome::Retry, std::string("saving the result: ") + e.what(), {}};
  }
}

void JobRunner::stop_worker(const Allocation& allocation) {
  try {
    worker_.reset(allocation.endpoint, settings_.call_timeout);  // free the CPU now
  } catch (const WorkerError&) {
    // The release resets the worker too, and deals with one that does not answer.
  }
}

void JobRunner::settle(const Job& job, const Allocation& allocation, const Outcome& outcome) {
  const std::string name = job_name(job.id);
  const std::int64_t now = clock_.now_ms();
  switch (outcome.kind) {
    case Outcome::Done:
      if (store_.complete_job(job.id, outcome.result, now)) {
        spdlog::info("{}: complete, {} bytes, sha-256 {}", name, outcome.result.bytes,
                     outcome.result.sha256);
        observe_end(job, JobState::Complete, now);
      }
      pool_of(allocation).release(allocation.id, name + " complete");
      return;
    case Outcome::Cancelled:
      stop_worker(allocation);
      pool_of(allocation).release(allocation.id, name + " cancelled");
      spdlog::info("{}: cancelled", name);
      observe_end(job, JobState::Cancelled, now);
      return;
    case Outcome::Stopping:
      stop_worker(allocation);
      if (store_.requeue_job(job.id, "", now)) spdlog::info("{}: back in the queue: the manager is stopping", name);
      pool_of(allocation).release(allocation.id, name + ": the manager is stopping");
      return;
    case Outcome::Refused:
      if (store_.fail_job(job.id, outcome.reason, now)) observe_end(job, JobState::Failed, now);
      pool_of(allocation).release(allocation.id, name + " failed");
      spdlog::warn("{}: failed: {}", name, outcome.reason);
      return;
    case Outcome::Retry: {
      pool_of(allocation).release(allocation.id, name + ": " + outcome.reason);
      const int attempts = job.attempts + 1;
      if (attempts > settings_.retries) {
        const std::string reason = "gave up after " + std::to_string(attempts) +
                                   (attempts == 1 ? " attempt: " : " attempts: ") + outcome.reason;
        if (store_.fail_job(job.id, reason, now)) {
          spdlog::warn("{}: failed: {}", name, reason);
          observe_end(job, JobState::Failed, now);
        }
      } else if (store_.requeue_job(job.id, outcome.reason, now)) {
        spdlog::warn("{}: {}; queued again (retry {} of {})", name, outcome.reason, attempts,
                     settings_.retries);
      }
      return;
    }
  }
}

void JobRunner::observe_end(const Job& job, JobState final_state, std::int64_t now_ms) {
  if (metrics_) metrics_->observe_job(final_state, static_cast<double>(now_ms - job.created_ms) / 1000.0);
}

}  // namespace warmpool::jobs
