// The scheduler: one loop on its own thread that keeps the pool healthy.
// Each tick: snapshot the records, decide, apply, record. When several
// managers share one database, only the one that leads (Leadership) does
// more than check the engine.
//   - leases: release allocations whose lease expired;
//   - health: ping running-idle instances, inspect the containers of paused
//     and allocated ones; a fault goes to the pool's recovery (restart up to
//     N times, then replace); an allocation on a lost instance ends with a
//     reason the front-end can read;
//   - unfinished work (a crash mid-create, mid-reset, mid-delete) is resumed;
//   - upkeep: keep the warm pool between min and max idle, keep_running of
//     them running, within budgets and host headroom; with an adaptive
//     policy, the demand model's target takes the place of min_idle and
//     keep_running (they stay floors); and, at most once a minute, the
//     finished records older than the retention go (scheduler/retention.hpp).
// Each hand-out asks for a refill (Pool::on_arrival): the loop then plans
// creates at once, between ticks, so a burst's creates start together on the
// normal lane instead of one tick later. Once the burst is served (no
// hand-out waiting, none arrived for a moment), the creates that only bring
// the idle pool back to its target are paced (pool/pacing.hpp): at most
// --refill-per-s a second; the tick reports those held back as `paced`.
// Upkeep's removals are paced too (--remove-per-s, `paced_removals`), except
// while the pool drains.
// Each tick starts with reconcile(), which matches containers and records by
// label (at start-up, after an engine restart, and whenever a container leaked).
// With several pools there is one scheduler per pool: it sees that pool's
// records, allocations and containers only (Settings::reconciles).
// The engine's event stream wakes the loop at once when a container dies, or
// is paused or unpaused by someone else. "Paused" is read through the pool's
// Pauser: with the cgroup freezer the engine reports a frozen container as
// running and sends no event for it, so a freeze or thaw behind our back is
// found by the next tick's check. A failing tick is logged and retried
// after a back-off that doubles per failure in a row (capped); it never kills
// the thread. The decisions are pure functions (pool/checks.hpp,
// pool/decisions.hpp); this file observes, applies and records.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "host/host.hpp"
#include "metrics/history.hpp"
#include "scheduler/leadership.hpp"
#include "scheduler/retention.hpp"
#include "pool/backoff.hpp"
#include "pool/checks.hpp"
#include "pool/pacing.hpp"
#include "pool/pool.hpp"

namespace warmpool {

class Scheduler {
 public:
  struct Settings {
    std::chrono::milliseconds period{2000};
    std::chrono::milliseconds max_backoff{60000};  // longest wait after failing ticks
    bool watch_events = true;
    Retention retention{};  // keep_ms 0 (the default here): nothing is pruned
    RefillPace refill_pace{};  // creates after a burst, at most per_s a second
    // Upkeep's removals, at most per_s a second; unpaced unless given (the
    // app passes --remove-per-s), so that a test's frozen clock still empties a pool.
    RemovalPace remove_pace{.per_s = 0};
    // Which containers this scheduler reconciles, by their pool label ("" when
    // they have none). Empty: its pool's, and with the default pool also
    // those without a label (made before pools).
    std::function<bool(const std::string& pool_label)> reconciles;
    // Several engines: how long the instances of an engine that is down are
    // kept (their allocations too: clients may still reach them) before
    // they are given up and replaced elsewhere.
    std::chrono::milliseconds engine_grace{30000};
  };

  struct TickReport {
    int expired = 0;
    int orphans = 0;  // labelled containers removed: no live record holds them
    int lost = 0;     // records whose container is gone
    int faults = 0;
    int resumed = 0;
    int created = 0;
    int paused = 0;
    int unpaused = 0;
    int removed = 0;
    int paced = 0;   // creates upkeep wanted but held back: the burst is served, refill is paced
    int paced_removals = 0;  // removals upkeep wanted but held back to --remove-per-s
    int pruned = 0;  // finished allocations and deleted instances removed (retention)
    int engine_lost = 0;  // instances given up: their engine was down past the grace
    bool following = false;  // another manager leads: nothing but the engine check ran
  };
  // "expired=1 faults=2 ...", the non-zero counts only.
  static std::string describe(const TickReport& report);

  struct ReconcileReport {
    int adopted = 0;
    int removed_orphans = 0;  // labelled containers with no live record
    int lost = 0;             // live records whose container is gone
  };

  // metrics may be null.
  // Instances are checked through the pool (Pool::check_health), by its
  // image's health check.
  Scheduler(Settings settings, Pool& pool, Store& store, engine::Engine& engine,
            const Clock& clock, HostUsageSource& host, Metrics* metrics = nullptr);
  ~Scheduler();

  // Matches the engine's labelled containers with the records: adopts the
  // ones a live record holds, removes the others, and marks lost the records
  // whose container is gone (ending their allocation, starting recovery).
  // Instances with an operation in flight are left for the next time. Throws
  // EngineError when the engine cannot be listed.
  ReconcileReport reconcile();
  // One pass of the loop, on the caller's thread (tests force ticks).
  // Throws what stopped it (the engine down, a store error).
  TickReport tick();

  void start();          // runs the loop (and the event watch) on their own threads
  void stop() noexcept;  // returns once the threads have ended
  void wake();           // run the next tick now
  // Plan and start the creates the pool lacks now, on the loop's thread
  // (called by each hand-out); the rest of a tick waits for its time.
  void wake_for_refill();
  // Upkeep's creates only, on the caller's thread (tests force it). Returns
  // how many were started: none while the engine is down.
  int refill();

  // The policy upkeep applies now: the configured one, or with an adaptive
  // policy, the demand's target as min_idle and keep_running.
  PoolPolicy policy_now(const std::vector<Instance>& instances, std::int64_t now_ms);
  // The demand target of the last upkeep or refill (zero before the first).
  DemandTarget last_target() const;

  bool engine_reachable() const { return engine_ok_; }
  // The engine's version as the last tick that reached it saw it; nullopt
  // before the first.
  std::optional<engine::EngineVersion> engine_version() const;
  std::string last_error() const;
  int failing_ticks() const { return failing_ticks_; }  // in a row, 0 after a good one
  // Several managers on one database: whether this one leads (as of its last
  // tick), else who does.
  const Leadership& leadership() const { return leadership_; }

 private:
  void loop(std::stop_token stop);
  void wait_for_next_tick(std::unique_lock<std::mutex>& lock, std::stop_token stop,
                          std::chrono::milliseconds delay);
  void watch(std::stop_token stop);
  // Under the claim on `id`: is `container` really not the record's? Removes it if so.
  bool confirm_orphan(std::int64_t id, const std::string& container);
  // Under the claim on `id`: is its container really gone? Then ends its
  // allocation and reports the fault.
  bool confirm_lost(std::int64_t id);
  void remove_orphan(const std::string& container, ReconcileReport& report);
  void expire_leases(std::int64_t now_ms, TickReport& report);
  void check_instances(TickReport& report);
  // REQUIRES: the claim on instance.id; kept when healthy, passed to the
  // pool's recovery otherwise. Returns false when a fault was reported.
  bool check(const Instance& instance);
  void keep_up(const HostUsage& usage, std::int64_t now_ms, TickReport& report);
  int start_creates(int n);  // stops at the first refusal
  // How many of the `wanted` creates upkeep planned may start now (pool/pacing.hpp).
  int paced_creates(int wanted, std::int64_t now_ms);
  void observe(std::int64_t now_ms);  // metrics: idle seconds, the history
  void prune(std::int64_t now_ms, TickReport& report);  // retention, when due
  std::optional<std::int64_t> last_prune_ms_;  // loop thread only (tick)
  // Loop thread only (tick): the previous observation.
  std::int64_t last_observed_ms_ = 0;
  std::uint64_t last_arrivals_ = 0;
  HistorySample last_sample_;
  void set_idle_state(std::int64_t id, InstanceState target, int& counter);
  // --- engine_loss.cpp: several engines ---
  // The instances the engines that answer hold (with one engine: all).
  std::vector<Instance> on_reachable_engines(std::vector<Instance> instances);
  void give_up_on_down_engines(std::int64_t now_ms, TickReport& report);
  bool give_up(std::int64_t id, std::int64_t now_ms);  // REQUIRES: the claim on id
  // The error is one container's, on an engine of several that is down.
  bool one_engine_of_several(const engine::EngineError& e);
  std::map<std::string, std::int64_t> engine_down_since_;  // loop thread only: name -> first seen down
  // Loop thread only: the engines seen down last tick that answer again this
  // one. Their instances' faults are not restarted: see check().
  std::set<std::string> engines_back_;
  void record(const TickReport& report);
  bool worth_a_look(const engine::Event& e);  // should this event wake the loop?
  bool reconciles(const engine::ContainerInfo& container) const;  // one of this pool's?

  const Settings settings_;
  Pool& pool_;
  Store& store_;
  engine::Engine& engine_;
  const Clock& clock_;
  HostUsageSource& host_;
  Metrics* metrics_;

  Leadership leadership_{store_};
  std::atomic<bool> engine_ok_{true};
  std::atomic<bool> first_reconcile_{true};  // logs the start-up reconcile in full
  std::atomic<int> failing_ticks_{0};
  mutable std::mutex mu_;
  std::condition_variable_any wake_cv_;
  bool woken_ = false;      // GUARDED_BY(mu_)
  bool refill_wanted_ = false;  // GUARDED_BY(mu_)
  std::string last_error_;  // GUARDED_BY(mu_)
  std::optional<engine::EngineVersion> engine_version_;  // GUARDED_BY(mu_)
  Backoff orphan_backoff_{2'000, 5 * 60'000};  // GUARDED_BY(mu_); by container id
  std::mutex pace_mu_;
  RefillPacer pacer_;  // GUARDED_BY(pace_mu_)
  RemovalPacer removal_pacer_;  // the loop's thread only
  std::jthread loop_thread_;
  std::jthread watch_thread_;
};

}  // namespace warmpool
