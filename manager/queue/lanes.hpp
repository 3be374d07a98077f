// A two-lane task executor. Allocation and deallocation run on the high lane,
// whose threads nothing else may occupy; creation, deletion, monitoring and
// jobs run on the normal lane. So slow work can delay only other slow work.
//
// Both lanes are bounded: submit() refuses when a lane is full (the API maps
// that to 429). A task that reaches a thread after its deadline is not run;
// its `expired` callback runs instead (the API maps that to 503).
//
// A task runs with the request id (logging.hpp) of the thread that submitted
// it, so the lines it logs belong to that request.
//
// Thread-safe. stop() refuses new tasks, finishes what the high lane holds
// (allocations and releases in flight), waits for running normal-lane tasks
// and drops the queued ones (their `expired` callbacks run).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.hpp"

namespace warmpool {

enum class Lane { High, Normal };
const char* to_string(Lane lane);

class Lanes {
 public:
  using time_point = SteadyClock::time_point;

  struct Settings {
    int high_threads = 2;
    int normal_threads = 2;
    std::size_t high_capacity = 1024;   // queued tasks, not counting running ones
    std::size_t normal_capacity = 1024;
  };
  // Called as each task leaves its queue, with the time it waited.
  using WaitObserver = std::function<void(Lane, std::chrono::nanoseconds waited)>;

  struct Stats {
    std::size_t queued = 0;
    std::size_t running = 0;
    std::uint64_t completed = 0;
    std::uint64_t expired = 0;
    std::uint64_t rejected = 0;
  };

  // `steady` times deadlines and waits (a manual one in tests); it must
  // outlive the lanes.
  explicit Lanes(Settings settings, WaitObserver on_wait = {},
                 const SteadyClock& steady = SteadyClock::real());
  ~Lanes();
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  // Queues `run` on `lane`. Returns false, running nothing, when the lane is
  // full or stopped. Exceptions escaping `run` are caught and dropped: tasks
  // report their own errors.
  bool submit(Lane lane, time_point deadline, std::function<void()> run,
              std::function<void()> expired = {});

  Stats stats(Lane lane) const;
  void stop() noexcept;

 private:
  struct Task {
    time_point deadline;
    time_point queued_at;
    std::string request_id;
    std::function<void()> run;
    std::function<void()> expired;
  };
  struct Queue {
    std::size_t capacity = 0;
    std::deque<Task> tasks;
    Stats stats;
    std::condition_variable ready;
  };

  void work(Lane lane);
  Queue& queue(Lane lane) { return lane == Lane::High ? high_ : normal_; }
  const Queue& queue(Lane lane) const { return lane == Lane::High ? high_ : normal_; }

  const std::function<void(Lane, std::chrono::nanoseconds)> on_wait_;
  const SteadyClock& steady_;
  mutable std::mutex mu_;
  Queue high_;    // GUARDED_BY(mu_)
  Queue normal_;  // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace warmpool
