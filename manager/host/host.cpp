#include "host/host.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace warmpool {

HostInfo read_host_info() {
  HostInfo info;
  info.cpus = static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::int64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb) {
    std::getline(meminfo, unit);
    if (key == "MemTotal:") info.memory_total = kb * 1024;
    if (key == "MemAvailable:") info.memory_available = kb * 1024;
  }
  return info;
}

HostUsage HostMonitor::sample() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  const std::uint64_t busy = user + nice + system + irq + softirq + steal;
  const std::uint64_t total = busy + idle + iowait;
  HostInfo info = read_host_info();

  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  std::lock_guard lock(mu_);
  last_.cpu = cpu_.add(now_ms, busy, total);
  if (info.memory_total > 0)
    last_.memory = 1.0 - static_cast<double>(info.memory_available) /
                             static_cast<double>(info.memory_total);
  return last_;
}

double CpuWindow::add(std::int64_t now_ms, std::uint64_t busy, std::uint64_t total) {
  if (!samples_.empty() && (total < samples_.back().total || busy < samples_.back().busy))
    samples_.clear();  // counters went back: start again
  samples_.push_back({now_ms, busy, total});
  // Keep the newest sample at or before the window's start, as its base.
  while (samples_.size() > 2 && samples_[1].at_ms <= now_ms - window_ms_) samples_.pop_front();
  const Sample& base = samples_.front();
  if (samples_.size() >= 2 && total > base.total)
    last_ = static_cast<double>(busy - base.busy) / static_cast<double>(total - base.total);
  return last_;
}

HostUsage HostMonitor::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

}  // namespace warmpool
