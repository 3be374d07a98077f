// Pacing of the engine calls upkeep starts, so that the end of a burst (and
// a start-up fill, or the refill after an engine outage) does not hammer
// the engine with a storm of creates or removes.
//
// Refill: while a burst is on, the creates the pool lacks start at once;
// once it is served, the creates that only bring the idle pool back to its
// target start at most `per_s` a second.
// Removal: surplus idle instances (above the target, or above --max-idle)
// go at most `per_s` a second, whatever the moment: nothing waits for a
// removal, so it is never urgent. The ones not removed yet stay idle and are
// planned again at the next tick.
//
// Each is a token bucket holding one second's worth (per_s, at least one
// call): tokens come back at per_s a second. A burst's creates are not held
// back but use the bucket up, so the aftermath starts paced.
//
// Pure: time is passed in. Not thread-safe: one owner (the scheduler).
#pragma once

#include <cstdint>
#include <optional>

namespace warmpool {

class TokenBucket {
 public:
  explicit TokenBucket(double per_s);  // per_s 0: never empty
  // How many of `wanted` may go at now_ms; those are taken.
  int take(int wanted, std::int64_t now_ms);
  // All of `n` go; the bucket empties at most (a burst's creates).
  void spend(int n, std::int64_t now_ms);

 private:
  double capacity() const;
  void refill_to(std::int64_t now_ms);

  double per_s_;
  double tokens_;
  std::optional<std::int64_t> last_ms_;
};

struct RefillPace {
  double per_s = 4;  // --refill-per-s; 0: never paced
  // No hand-out waiting and none arrived for this long: the burst is served.
  std::int64_t calm_after_ms = 2000;
};

class RefillPacer {
 public:
  explicit RefillPacer(RefillPace pace = {}) : pace_(pace), bucket_(pace.per_s) {}

  // How many of `wanted` creates may start at now_ms, given the last
  // hand-out's arrival (nullopt: none yet) and the hand-outs waiting now.
  int allow(int wanted, std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms, int waiting);
  // Whether a burst is on at now_ms (then nothing is held back).
  bool burst_on(std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms, int waiting) const;

 private:
  RefillPace pace_;
  TokenBucket bucket_;
};

struct RemovalPace {
  double per_s = 2;  // --remove-per-s; 0: never paced
};

class RemovalPacer {
 public:
  explicit RemovalPacer(RemovalPace pace = {}) : bucket_(pace.per_s) {}
  // How many of `wanted` removals may start at now_ms.
  int allow(int wanted, std::int64_t now_ms) { return bucket_.take(wanted, now_ms); }

 private:
  TokenBucket bucket_;
};

}  // namespace warmpool
