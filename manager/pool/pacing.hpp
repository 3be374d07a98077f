// Refill pacing: while a burst is on, the creates the pool lacks start at
// once; once it is served, the creates that only bring the idle pool back to
// its target start at most `per_s` a second, so that a burst's aftermath
// (and a start-up fill, or the refill after an engine outage) does not
// hammer the engine.
//
// A token bucket holding one second's worth (per_s, at least one create):
// tokens come back at per_s a second; creates during a burst are not held
// back but use the bucket up, so the aftermath starts paced.
//
// Pure: time is passed in. Not thread-safe: one owner (the scheduler's loop).
#pragma once

#include <cstdint>
#include <optional>

namespace warmpool {

struct RefillPace {
  double per_s = 4;  // --refill-per-s; 0: never paced
  // No hand-out waiting and none arrived for this long: the burst is served.
  std::int64_t calm_after_ms = 2000;
};

class RefillPacer {
 public:
  explicit RefillPacer(RefillPace pace = {});

  // How many of `wanted` creates may start at now_ms, given the last
  // hand-out's arrival (nullopt: none yet) and the hand-outs waiting now.
  int allow(int wanted, std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms, int waiting);
  // Whether a burst is on at now_ms (then nothing is held back).
  bool burst_on(std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms, int waiting) const;

 private:
  double capacity() const;
  void refill_to(std::int64_t now_ms);

  RefillPace pace_;
  double tokens_;
  std::optional<std::int64_t> last_ms_;
};

}  // namespace warmpool
