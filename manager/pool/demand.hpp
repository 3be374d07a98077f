// The demand model: how many idle instances the pool should hold, and how
// many of them running, learned from the hand-outs it has seen.
//
// Pure: no clock, no I/O. Time is passed in (`now_ms`), so a test or a
// replay drives it on a virtual clock; the scheduler feeds it arrivals and
// asks for a target each tick.
//
// The forecast is the number of hand-outs expected during the time a create
// takes (the lead time), the largest of:
//   - the short-window arrival rate times the lead time (a rise now),
//   - the long-window arrival rate times the lead time (the usual load),
//   - the largest number of arrivals seen within one lead time (a burst),
//     remembered with an exponential decay of `peak_half_life_ms`, so that a
//     burst that came before is expected again.
// Nothing arrived for `quiet_ms`: the forecast is zero (the pool may scale
// to zero); the remembered peak is kept and counts again from the next
// arrival on.
//
// Target idle = clamp(max(ceil(rate forecast) + spare, ceil(peak)), floor,
// ceiling), never more than the capacity left beside the instances in use.
// Target running (idle instances kept unpaused) = the arrivals expected
// within the running horizon (about one tick: until upkeep can unpause
// another), by the rate over the running window, rounded to the nearest;
// at least `running_floor`, at most the idle target. The running window is
// shorter than the short one so that, once a burst is over, the running
// tier is back to the quiet load before the burst's sessions end; a paused
// instance is still warm (one unpause away).
//
// Not thread-safe: one owner (DemandTracker adds a lock).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace warmpool {

struct DemandSettings {
  int floor = 2;            // --min-idle
  int ceiling = 8;          // --max-idle
  int capacity = 8;         // --max-instances
  int running_floor = 1;    // --keep-running
  int spare = 1;            // added to a non-zero forecast
  std::int64_t lead_ms = 1000;          // a create's duration until learned
  std::int64_t short_window_ms = 30'000;
  std::int64_t long_window_ms = 600'000;
  std::int64_t running_window_ms = 10'000;  // the rate the running tier follows
  std::int64_t running_horizon_ms = 2'000;  // arrivals to meet running (about one tick)
  std::int64_t peak_half_life_ms = 2 * 3600'000;
  std::int64_t quiet_ms = 600'000;  // nothing arrived this long: forecast zero
};

// Why the settings contradict each other, naming the flag; nullopt if they do not.
std::optional<std::string> demand_settings_error(const DemandSettings& settings);

struct DemandTarget {
  int idle = 0;
  int running = 0;
  double forecast = 0;  // hand-outs expected within one lead time
};

struct DemandSnapshot {
  double short_rate = 0;  // arrivals per second
  double long_rate = 0;
  double peak = 0;        // remembered burst, decayed to now
  std::int64_t lead_ms = 0;
};

class DemandModel {
 public:
  explicit DemandModel(DemandSettings settings = {});

  // One hand-out asked for at now_ms (times must not go backwards).
  void arrive(std::int64_t now_ms);
  // A create took this long, from its request to a ready worker: the lead
  // time follows it (moving average).
  void created(std::int64_t took_ms);

  DemandTarget target(std::int64_t now_ms, int in_use) const;
  DemandSnapshot snapshot(std::int64_t now_ms) const;
  const DemandSettings& settings() const { return settings_; }
  // New bounds (a pool's floor or ceiling changed); what arrived is kept.
  void set_settings(const DemandSettings& settings) { settings_ = settings; }
  std::uint64_t arrivals_total() const { return arrivals_total_; }  // ever
  std::optional<std::int64_t> last_arrival_ms() const { return last_arrival_ms_; }

 private:
  int arrivals_since(std::int64_t from_ms) const;  // strictly after from_ms
  double decayed_peak(std::int64_t now_ms) const;
  void forget_before(std::int64_t now_ms);

  DemandSettings settings_;
  struct Slot {
    std::int64_t slot;  // now_ms / slot length
    int count;
  };
  std::deque<Slot> arrivals_;  // within the long window (or quiet_ms, if longer)
  double peak_ = 0;
  std::int64_t peak_ms_ = 0;
  double lead_ms_;
  std::uint64_t arrivals_total_ = 0;
  std::optional<std::int64_t> last_arrival_ms_;
};

// A DemandModel behind a lock, fed by hand-outs and read by the scheduler.
class DemandTracker {
 public:
  explicit DemandTracker(DemandSettings settings) : model_(settings) {}
  void set_settings(const DemandSettings& settings) {
    std::lock_guard lock(mu_);
    model_.set_settings(settings);
  }
  void arrive(std::int64_t now_ms);
  void created(std::int64_t took_ms);
  DemandTarget target(std::int64_t now_ms, int in_use) const;
  DemandSnapshot snapshot(std::int64_t now_ms) const;
  std::uint64_t arrivals_total() const;
  std::optional<std::int64_t> last_arrival_ms() const;
  // The target upkeep applied last (the configured shape under a fixed
  // policy); nullopt before the first upkeep.
  void applied(const DemandTarget& target);
  std::optional<DemandTarget> last_applied() const;

 private:
  mutable std::mutex mu_;
  DemandModel model_;                        // GUARDED_BY(mu_)
  std::optional<DemandTarget> last_applied_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
