// Internal: what every stage of a computation shares: the cancel flag and
// the progress sink, with each stage owning a slice of the [0, 1] range.
#ifndef WARMPOOL_PI_CONTEXT_HPP_
#define WARMPOOL_PI_CONTEXT_HPP_

#include <atomic>
#include <cstdint>

#include "pi/pi.hpp"

namespace warmpool::pi {

class Context {
 public:
  Context(Progress* progress, const std::atomic<bool>* cancel) : progress_(progress), cancel_(cancel) {}

  // Throws Cancelled if a cancel was requested. Cheap: one relaxed load.
  void check_cancel() const {
    if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed)) throw Cancelled();
  }

  // Starts a stage that covers [begin, end) of the overall fraction and
  // counts `total_units` of work.
  void begin_stage(double begin, double end, std::uint64_t total_units) noexcept {
    stage_begin_ = begin;
    stage_end_ = end;
    stage_total_ = total_units == 0 ? 1 : total_units;
    stage_done_.store(0, std::memory_order_relaxed);
    report(begin);
  }

  // Records `units` more work done in the current stage. Thread-safe.
  void add_units(std::uint64_t units) noexcept {
    std::uint64_t done = stage_done_.fetch_add(units, std::memory_order_relaxed) + units;
    if (progress_ == nullptr) return;
    double f = static_cast<double>(done) / static_cast<double>(stage_total_);
    if (f > 1.0) f = 1.0;
    report(stage_begin_ + (stage_end_ - stage_begin_) * f);
  }

  void report(double fraction) noexcept {
    if (progress_ != nullptr) progress_->advance_to(fraction);
  }

 private:
  Progress* progress_;
  const std::atomic<bool>* cancel_;
  // Stage bounds are written only between stages, by the calling thread,
  // before any worker thread of that stage starts.
  double stage_begin_ = 0.0;
  double stage_end_ = 0.0;
  std::uint64_t stage_total_ = 1;
  std::atomic<std::uint64_t> stage_done_{0};
};

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_CONTEXT_HPP_
