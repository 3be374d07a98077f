// Host CPU and memory use, read from /proc. CPU use is the busy fraction
// between two samples, so the first sample reports 0.
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

// Thread-safe.
class HostMonitor {
 public:
  // Takes a new sample; returns use since the previous one.
  HostUsage sample();
  // The last sample's figures, without reading /proc.
  HostUsage last() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t busy_ = 0, total_ = 0;  // GUARDED_BY(mu_)
  HostUsage last_;                      // GUARDED_BY(mu_)
};

}  // namespace warmpool
