// The pi-worker in memory, one per endpoint, for unit tests: it answers only
// while its FakeEngine container runs (a paused one accepts and never
// answers; a stopped one refuses), a container that stopped lost its
// computation, and any call can be told to fail per endpoint. A computation
// is done after `polls_to_finish` status polls.
//
// Tests that run pi jobs give the pool and the runner one FakeWorker each,
// so that each side's counters (resets, starts) count only its own calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "support/fake_engine.hpp"
#include "worker/worker_client.hpp"

namespace warmpool::test {

// "3." and `digits` digits of a fixed pattern (not pi): prefixes of longer
// results are the shorter ones, as with real digits.
inline std::string fake_digits(std::int64_t digits) {
  std::string s = "3.";
  for (std::int64_t i = 0; i < digits; ++i) s += static_cast<char>('0' + (i * 7 + i / 10) % 10);
  return s;
}

class FakeWorker : public WorkerClient {
 public:
  explicit FakeWorker(const FakeEngine& engine) : engines_{&engine} {}
  // Workers on containers of several engines (an EngineSet's members).
  explicit FakeWorker(std::vector<const FakeEngine*> engines) : engines_(std::move(engines)) {}

  std::atomic<int> polls_to_finish{3};
  std::atomic<std::int64_t> max_digits{1'000'000};
  // Runs on the caller's thread after each start_compute.
  std::function<void(const std::string& endpoint, std::int64_t digits)> on_start;

  // The next `times` calls of `op` ("ping", "reset", "init", "compute",
  // "compute status", "result", "http /path", "tcp") to endpoint fail.
  void fail(const std::string& endpoint, const std::string& op, int times = 1) {
    std::lock_guard lock(mu_);
    failures_[endpoint + " " + op] = times;
  }
  // The next `times` inits to endpoint are refused as the payload's fault (HTTP 400).
  void refuse_init(const std::string& endpoint, int times = 1) {
    std::lock_guard lock(mu_);
    init_refusals_[endpoint] = times;
  }
  // The body of the last POST /init the endpoint took since its last reset; "" after a reset.
  std::string session(const std::string& endpoint) const {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(endpoint);
    return it == sessions_.end() ? std::string() : it->second;
  }
  int inits() const { return inits_; }
  int resets() const { return resets_; }
  int pings() const { return pings_; }
  int starts() const { return starts_; }
  // The most computations that ran at the same time.
  int max_running() const {
    std::lock_guard lock(mu_);
    return max_running_;
  }
  int running() const {
    std::lock_guard lock(mu_);
    return running_locked();
  }

  void ping(const std::string& endpoint, std::chrono::milliseconds deadline) override {
    ++pings_;
    answer("ping", endpoint, deadline);
  }

  void reset(const std::string& endpoint, std::chrono::milliseconds deadline) override {
    ++resets_;
    answer("reset", endpoint, deadline);
    std::lock_guard lock(mu_);
    computations_[endpoint] = Computation{};
    sessions_.erase(endpoint);
  }

  void init(const std::string& endpoint, const std::string& body, Deadline deadline) override {
    ++inits_;
    answer("init", endpoint, deadline);
    std::lock_guard lock(mu_);
    if (auto it = init_refusals_.find(endpoint); it != init_refusals_.end() && it->second > 0) {
      --it->second;
      throw InitRefusedByWorker("init " + endpoint + ": HTTP 400: refused");
    }
    sessions_[endpoint] = body;
  }

  void start_compute(const std::string& endpoint, std::int64_t digits, Deadline deadline) override {
    answer("compute", endpoint, deadline);
    {
      std::lock_guard lock(mu_);
      if (digits > max_digits) throw ComputeRefused("compute " + endpoint + ": HTTP 400: too many digits");
      Computation& c = computations_[endpoint];
      if (c.state == ComputeState::Running) throw WorkerError("compute " + endpoint + ": HTTP 409: busy");
      c = Computation{digits, ComputeState::Running, 0};
      ++starts_;
      max_running_ = std::max(max_running_, running_locked());
    }
    if (on_start) on_start(endpoint, digits);
  }

  ComputeStatus compute_status(const std::string& endpoint, Deadline deadline) override {
    answer("compute status", endpoint, deadline);
    std::lock_guard lock(mu_);
    Computation& c = computations_[endpoint];
    if (c.state == ComputeState::Running && ++c.polls >= polls_to_finish) c.state = ComputeState::Done;
    const double progress =
        c.state == ComputeState::Done ? 1.0 : static_cast<double>(c.polls) / polls_to_finish;
    return {c.state, c.digits, progress, 0, {}};
  }

  void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) override {
    std::string digits;
    answer("result", endpoint, deadline);
    {
      std::lock_guard lock(mu_);
      const Computation& c = computations_[endpoint];
      if (c.state != ComputeState::Done) throw WorkerError("result " + endpoint + ": HTTP 409");
      digits = fake_digits(c.digits);
    }
    // In pieces, as a stream arrives.
    for (std::size_t at = 0; at < digits.size(); at += 1000) {
      if (!sink(digits.data() + at, std::min<std::size_t>(1000, digits.size() - at)))
        throw WorkerError("result " + endpoint + ": aborted by the receiver");
    }
  }

  void probe_http(const std::string& endpoint, const std::string& path, Deadline deadline) override {
    ++http_probes_;
    answer("http " + path, endpoint, deadline);
  }

  void probe_tcp(const std::string& endpoint, Deadline deadline) override {
    ++tcp_probes_;
    answer("tcp", endpoint, deadline);
  }
  int http_probes() const { return http_probes_; }
  int tcp_probes() const { return tcp_probes_; }

 private:
  struct Computation {
    std::int64_t digits = 0;
    ComputeState state = ComputeState::Idle;
    int polls = 0;
  };

  // Throws as the real worker would fail `op`. REQUIRES: mu_ not held (a
  // paused worker makes the caller wait, not the other callers).
  void answer(const std::string& op, const std::string& endpoint, std::chrono::milliseconds deadline) {
    {
      std::lock_guard lock(mu_);
      auto it = failures_.find(endpoint + " " + op);
      if (it != failures_.end() && it->second > 0) {
        --it->second;
        throw WorkerError(op + " " + endpoint + ": injected failure");
      }
    }
    std::optional<engine::ContainerStatus> status;
    for (const FakeEngine* e : engines_)
      if (!status) status = e->status_at(endpoint);
    if (status == engine::ContainerStatus::Running) return;
    {
      std::lock_guard lock(mu_);
      computations_[endpoint] = Computation{};
    }
    if (status == engine::ContainerStatus::Paused) {
      // A frozen worker accepts the connection and never answers.
      std::this_thread::sleep_for(std::min(deadline, std::chrono::milliseconds(20)));
      throw WorkerError(op + " " + endpoint + ": timed out");
    }
    throw WorkerError(op + " " + endpoint + ": Connection refused");
  }
  // REQUIRES: mu_ held.
  int running_locked() const {
    return static_cast<int>(std::count_if(computations_.begin(), computations_.end(), [](const auto& c) {
      return c.second.state == ComputeState::Running;
    }));
  }

  std::vector<const FakeEngine*> engines_;
  mutable std::mutex mu_;
  std::map<std::string, int> failures_;                // GUARDED_BY(mu_)
  std::map<std::string, Computation> computations_;   // GUARDED_BY(mu_)
  std::map<std::string, std::string> sessions_;       // GUARDED_BY(mu_)
  std::map<std::string, int> init_refusals_;           // GUARDED_BY(mu_)
  int max_running_ = 0;                                // GUARDED_BY(mu_)
  std::atomic<int> resets_{0}, pings_{0}, starts_{0}, inits_{0}, http_probes_{0}, tcp_probes_{0};
};

}  // namespace warmpool::test
