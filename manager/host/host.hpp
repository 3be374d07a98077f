// Host CPU and memory use. The real source reads /proc: CPU use is the busy
// fraction between two samples, so the first sample reports 0.
#pragma once

#include <cstdint>
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

// Reads /proc. Thread-safe.
class HostMonitor final : public HostUsageSource {
 public:
  HostUsage sample() override;
  HostUsage last() const override;

 private:
  mutable std::mutex mu_;
  std::uint64_t busy_ = 0, total_ = 0;  // GUARDED_BY(mu_)
  HostUsage last_;                      // GUARDED_BY(mu_)
};

}  // namespace warmpool
