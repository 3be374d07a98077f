// Host CPU and memory use. The real source reads /proc: CPU use is the busy
// fraction over a window of samples (CpuWindow), so that a momentary spike
// does not refuse creation during a burst; the first sample reports 0.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "records/records.hpp"

namespace warmpool {

struct HostInfo {
  int cpus = 0;
  std::int64_t memory_total = 0;
  std::int64_t memory_available = 0;
};

HostInfo read_host_info();

// Where host usage comes from: /proc on a real host, given values in tests.
// Thread-safe.
class HostUsageSource {
 public:
  virtual ~HostUsageSource() = default;
  // Takes a new sample; returns use since the previous one.
  virtual HostUsage sample() = 0;
  // The last sample's figures, without measuring again.
  virtual HostUsage last() const = 0;
};

// CPU use smoothed over a window: the busy share of the CPU time between
// the oldest sample within `window_ms` before the newest and the newest.
// Pure: the counters (/proc/stat's busy and total jiffies) and times are
// passed in. Not thread-safe.
class CpuWindow {
 public:
  explicit CpuWindow(std::int64_t window_ms) : window_ms_(window_ms) {}
  // Adds a sample and returns the use over the window (0 until two samples).
  double add(std::int64_t now_ms, std::uint64_t busy, std::uint64_t total);

 private:
  struct Sample {
    std::int64_t at_ms;
    std::uint64_t busy, total;
  };
  const std::int64_t window_ms_;
  std::deque<Sample> samples_;
  double last_ = 0;
};

// Reads /proc. Thread-safe.
class HostMonitor final : public HostUsageSource {
 public:
  explicit HostMonitor(std::int64_t cpu_window_ms = 10'000) : cpu_(cpu_window_ms) {}
  HostUsage sample() override;
  HostUsage last() const override;

 private:
  mutable std::mutex mu_;
  CpuWindow cpu_;    // GUARDED_BY(mu_)
  HostUsage last_;   // GUARDED_BY(mu_)
};

}  // namespace warmpool
