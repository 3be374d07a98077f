// The worker's one computation slot: starts a pi computation on its own
// thread, reports its state, keeps the result, cancels and wipes on demand.
//
// Thread-safety: all methods may be called concurrently from any thread
// (HTTP handlers); a mutex guards the slot, and no method holds it while
// computing or waiting.
#ifndef WARMPOOL_WORKER_JOB_HPP_
#define WARMPOOL_WORKER_JOB_HPP_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "pi/pi.hpp"

namespace warmpool::worker {

enum class JobState { Idle, Running, Done, Failed, Cancelled };

// "idle", "running", "done", "failed", "cancelled"
std::string_view to_string(JobState state);

struct JobStatus {
  JobState state = JobState::Idle;
  std::size_t digits = 0;     // 0 when idle
  double progress = 0.0;      // in [0, 1]; 1 when done
  std::int64_t elapsed_ms = 0;  // running: so far; finished: total; idle: 0
  std::string error;          // set when failed
};

class ComputeJob {
 public:
  enum class Start { Started, Busy, Invalid };

  // What runs a computation: pi::compute, or a stand-in in tests.
  using ComputeFn = std::function<std::string(std::size_t digits, const pi::Options&, pi::Progress*,
                                              const std::atomic<bool>* cancel)>;

  // options.max_digits is the cap for start().
  explicit ComputeJob(pi::Options options, ComputeFn compute = pi::compute);
  // Cancels a running computation and waits for its thread.
  ~ComputeJob();
  ComputeJob(const ComputeJob&) = delete;
  ComputeJob& operator=(const ComputeJob&) = delete;

  // Starts computing `digits` digits unless a computation is running (Busy)
  // or digits is out of range (Invalid, with the reason in *problem).
  // A finished, failed or cancelled result is replaced.
  Start start(std::size_t digits, std::string* problem);

  JobStatus status() const;

  // The digits ("3.14...") once the state is Done, else null. The string
  // stays valid for as long as the caller holds it, even across reset().
  std::shared_ptr<const std::string> result() const;

  // Asks a running computation to stop; its state becomes Cancelled once it
  // has. Returns false if nothing was running. Does not wait.
  bool cancel();

  // Cancels any computation, waits until its thread has ended, and drops the
  // result: the state is Idle when this returns.
  void reset();

  const pi::Options& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;

  // One computation; the runner thread holds it alive while it runs.
  struct Run {
    std::size_t digits = 0;
    Clock::time_point started;
    pi::Progress progress;
    std::atomic<bool> cancel{false};
  };

  void run(std::shared_ptr<Run> run);
  // REQUIRES: mu_ not held.
  void join_runner();

  const pi::Options options_;
  const ComputeFn compute_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  JobState state_ = JobState::Idle;
  std::shared_ptr<Run> run_;
  Clock::time_point finished_;
  std::shared_ptr<const std::string> result_;
  std::string error_;
  std::thread runner_;

  // Serialises start() and reset(), so a reset never races a start into
  // joining a thread that has just been replaced.
  std::mutex control_mu_;
};

}  // namespace warmpool::worker

#endif  // WARMPOOL_WORKER_JOB_HPP_
