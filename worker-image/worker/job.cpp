#include "worker/job.hpp"

#include <exception>
#include <utility>

namespace warmpool::worker {

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::Idle:
      return "idle";
    case JobState::Running:
      return "running";
    case JobState::Done:
      return "done";
    case JobState::Failed:
      return "failed";
    case JobState::Cancelled:
      return "cancelled";
  }
  return "unknown";
}

ComputeJob::ComputeJob(pi::Options options, ComputeFn compute) : options_(options), compute_(std::move(compute)) {}

ComputeJob::~ComputeJob() { reset(); }

ComputeJob::Start ComputeJob::start(std::size_t digits, std::string* problem) {
  std::string why = pi::validate_digits(digits, options_);
  if (!why.empty()) {
    if (problem != nullptr) *problem = std::move(why);
    return Start::Invalid;
  }
  std::lock_guard control(control_mu_);
  {
    std::lock_guard lock(mu_);
    if (state_ == JobState::Running) return Start::Busy;
  }
  // The previous runner, if any, has finished its work; reap its thread.
  join_runner();

  auto run = std::make_shared<Run>();
  run->digits = digits;
  run->started = Clock::now();
  std::lock_guard lock(mu_);
  state_ = JobState::Running;
  run_ = run;
  result_.reset();
  error_.clear();
  runner_ = std::thread([this, run] { this->run(run); });
  return Start::Started;
}

void ComputeJob::run(std::shared_ptr<Run> run) {
  std::shared_ptr<const std::string> digits;
  JobState outcome = JobState::Done;
  std::string error;
  try {
    digits = std::make_shared<const std::string>(compute_(run->digits, options_, &run->progress, &run->cancel));
  } catch (const pi::Cancelled&) {
    outcome = JobState::Cancelled;
  } catch (const std::exception& e) {
    outcome = JobState::Failed;
    error = e.what();
  }
  std::lock_guard lock(mu_);
  if (run_ != run) return;  // reset already dropped this run
  state_ = outcome;
  finished_ = Clock::now();
  result_ = std::move(digits);
  error_ = std::move(error);
}

JobStatus ComputeJob::status() const {
  std::lock_guard lock(mu_);
  JobStatus s;
  s.state = state_;
  if (run_ == nullptr) return s;
  s.digits = run_->digits;
  s.progress = run_->progress.fraction();
  Clock::time_point end = state_ == JobState::Running ? Clock::now() : finished_;
  s.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(end - run_->started).count();
  s.error = error_;
  return s;
}

std::shared_ptr<const std::string> ComputeJob::result() const {
  std::lock_guard lock(mu_);
  return state_ == JobState::Done ? result_ : nullptr;
}

bool ComputeJob::cancel() {
  std::lock_guard lock(mu_);
  if (state_ != JobState::Running) return false;
  run_->cancel.store(true);
  return true;
}

void ComputeJob::reset() {
  std::lock_guard control(control_mu_);
  {
    std::lock_guard lock(mu_);
    if (run_ != nullptr) run_->cancel.store(true);
  }
  join_runner();
  std::lock_guard lock(mu_);
  state_ = JobState::Idle;
  run_.reset();
  result_.reset();
  error_.clear();
}

void ComputeJob::join_runner() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    t = std::move(runner_);
  }
  if (t.joinable()) t.join();
}

}  // namespace warmpool::worker
