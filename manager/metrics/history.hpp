// The pool's recent history, kept in memory for the dashboard's charts: one
// sample per scheduler tick, for the last `span` (15 minutes by default),
// served as JSON by GET /dashboard/history (PoolHistory in
// swagger/openapi.yaml). Nothing is written to disk: a restart starts empty.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include <nlohmann/json.hpp>

namespace warmpool {

struct HistorySample {
  std::int64_t at_ms = 0;
  double arrivals_per_s = 0;   // hand-outs asked for since the previous sample
  int in_use = 0;              // allocated instances
  int idle_running = 0;
  int idle_paused = 0;
  int target_idle = 0;         // the policy's idle target
  double hand_out_p50_ms = 0;  // of the hand-outs since the previous sample (0: none)
  double hand_out_p99_ms = 0;
};

class History {
 public:
  explicit History(std::int64_t span_ms = 15 * 60'000) : span_ms_(span_ms) {}
  // Adds a sample and forgets those older than the span before it.
  void add(const HistorySample& sample);
  // {"spanSeconds": N, "samples": [{"at": ISO-8601, ...}, ...]}, oldest first.
  nlohmann::json to_json() const;

 private:
  const std::int64_t span_ms_;
  mutable std::mutex mu_;
  std::deque<HistorySample> samples_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
