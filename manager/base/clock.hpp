// Wall-clock time for records and leases, and steady time for deadlines,
// each behind an interface so that tests can move time by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace warmpool {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Thread-safe.
  virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
};

// A clock that only moves when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance_ms(std::int64_t ms) { now_ += ms; }

 private:
  std::atomic<std::int64_t> now_;
};


// Steady time for deadlines and durations, behind an interface so that a test
// can move a hand-out past its deadline without sleeping. Waits on condition
// variables and futures still use std::chrono::steady_clock directly, so a
// manual source only moves the decisions that read it. Thread-safe.
class SteadyClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~SteadyClock() = default;
  virtual time_point now() const = 0;
  // The process-wide real one.
  static const SteadyClock& real();
};

// Starts at the real steady time and moves only when told. Thread-safe.
class ManualSteadyClock final : public SteadyClock {
 public:
  ManualSteadyClock() : now_(std::chrono::steady_clock::now().time_since_epoch().count()) {}
  time_point now() const override { return time_point(time_point::duration(now_.load())); }
  void advance(std::chrono::nanoseconds d) {
    now_ += std::chrono::duration_cast<time_point::duration>(d).count();
  }

 private:
  std::atomic<time_point::rep> now_;
};

}  // namespace warmpool
