// The pi-worker's compute API in memory, one worker per endpoint, for the
// job runner's unit tests. A computation is done after `polls_to_finish`
// status polls. As FakeWorker, a worker answers only while its container
// (in the FakeEngine) runs, and a container that stopped lost its computation.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "worker/compute_client.hpp"
#include "support/fake_engine.hpp"

namespace warmpool::test {

// "3." and `digits` digits of a fixed pattern (not pi): prefixes of longer
// results are the shorter ones, as with real digits.
inline std::string fake_digits(std::int64_t digits) {
  std::string s = "3.";
  for (std::int64_t i = 0; i < digits; ++i) s += static_cast<char>('0' + (i * 7 + i / 10) % 10);
  return s;
}

class FakeCompute : public jobs::ComputeClient {
 public:
  explicit FakeCompute(const FakeEngine& engine) : engine_(engine) {}

  std::atomic<int> polls_to_finish{3};
  std::atomic<std::int64_t> max_digits{1'000'000};
  // Runs on the runner's thread after each start.
  std::function<void(const std::string& endpoint, std::int64_t digits)> on_start;

  // The most computations that ran at the same time.
  int max_running() const {
    std::lock_guard lock(mu_);
    return max_running_;
  }
  int running() const {
    std::lock_guard lock(mu_);
    return running_locked();
  }
  int starts() const { return starts_; }
  int resets() const { return resets_; }

  void start(const std::string& endpoint, std::int64_t digits, Deadline) override {
    {
      std::lock_guard lock(mu_);
      check_alive(endpoint, "compute");
      if (digits > max_digits) throw jobs::ComputeRefused("compute " + endpoint + ": HTTP 400: too many digits");
      Worker& w = workers_[endpoint];
      if (w.state == "running") throw WorkerError("compute " + endpoint + ": HTTP 409: busy");
      w = Worker{digits, "running", 0};
      ++starts_;
      max_running_ = std::max(max_running_, running_locked());
    }
    if (on_start) on_start(endpoint, digits);
  }

  jobs::ComputeStatus status(const std::string& endpoint, Deadline) override {
    std::lock_guard lock(mu_);
    check_alive(endpoint, "compute status");
    Worker& w = workers_[endpoint];
    if (w.state == "running" && ++w.polls >= polls_to_finish) w.state = "done";
    const double progress = w.state == "done" ? 1.0 : static_cast<double>(w.polls) / polls_to_finish;
    return {w.state, w.digits, progress, 0, {}};
  }

  void fetch_result(const std::string& endpoint, const Sink& sink, Deadline) override {
    std::string digits;
    {
      std::lock_guard lock(mu_);
      check_alive(endpoint, "result");
      const Worker& w = workers_[endpoint];
      if (w.state != "done") throw WorkerError("result " + endpoint + ": HTTP 409");
      digits = fake_digits(w.digits);
    }
    // In pieces, as a stream arrives.
    for (std::size_t at = 0; at < digits.size(); at += 1000) {
      if (!sink(digits.data() + at, std::min<std::size_t>(1000, digits.size() - at)))
        throw WorkerError("result " + endpoint + ": aborted by the receiver");
    }
  }

  void reset(const std::string& endpoint, Deadline) override {
    std::lock_guard lock(mu_);
    check_alive(endpoint, "reset");
    ++resets_;
    workers_[endpoint] = Worker{};
  }

 private:
  struct Worker {
    std::int64_t digits = 0;
    std::string state = "idle";
    int polls = 0;
  };
  // REQUIRES: mu_ held.
  void check_alive(const std::string& endpoint, const char* what) {
    const auto status = engine_.status_at(endpoint);
    if (status == engine::ContainerStatus::Running) return;
    workers_[endpoint] = Worker{};
    const char* why = status == engine::ContainerStatus::Paused ? ": timed out" : ": Connection refused";
    throw WorkerError(std::string(what) + " " + endpoint + why);
  }
  int running_locked() const {
    return static_cast<int>(std::count_if(workers_.begin(), workers_.end(),
                                          [](const auto& w) { return w.second.state == "running"; }));
  }

  const FakeEngine& engine_;
  mutable std::mutex mu_;
  std::map<std::string, Worker> workers_;  // GUARDED_BY(mu_)
  int max_running_ = 0;                    // GUARDED_BY(mu_)
  std::atomic<int> starts_{0}, resets_{0};
};

}  // namespace warmpool::test
