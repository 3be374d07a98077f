// The scheduler: one loop on its own thread that keeps the pool healthy.
// Each tick: snapshot the records, decide, apply, record.
//   - leases: release allocations whose lease expired;
//   - health: ping running-idle instances, inspect the containers of paused
//     and allocated ones; a fault goes to the pool's recovery (restart up to
//     N times, then replace); an allocation on a lost instance ends with a
//     reason the front-end can read;
//   - unfinished work (a crash mid-create, mid-reset, mid-delete) is resumed;
//   - upkeep: keep the warm pool between min and max idle, keep_running of
//     them running, within budgets and host headroom.
// Each tick starts with reconcile(), which matches containers and records by
// label (at start-up, after an engine restart, and whenever a container leaked).
// The engine's event stream wakes the loop at once when a container dies, or
// is paused or unpaused by someone else. A failing tick is logged and retried
// next period; it never kills the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "host/host.hpp"
#include "pool/pool.hpp"

namespace warmpool {

class Scheduler {
 public:
  struct Settings {
    std::chrono::milliseconds period{2000};
    bool watch_events = true;
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
  };

  struct ReconcileReport {
    int adopted = 0;
    int removed_orphans = 0;  // labelled containers with no live record
    int lost = 0;             // live records whose container is gone
  };

  Scheduler(Settings settings, Pool& pool, Store& store, engine::Engine& engine,
            WorkerClient& worker, const Clock& clock, HostMonitor& host);
  ~Scheduler();

  // Matches the engine's labelled containers with the records: adopts the
  // ones a live record holds, removes the others, and marks lost the records
  // whose container is gone (ending their allocation, starting recovery).
  // Instances with an operation in flight are left for the next time. Throws
  // EngineError when the engine cannot be listed.
  ReconcileReport reconcile();
  // One pass of the loop, on the caller's thread (tests force ticks).
  TickReport tick();

  void start();          // runs the loop (and the event watch) on their own threads
  void stop() noexcept;  // returns once the threads have ended
  void wake();           // run the next tick now

  bool engine_reachable() const { return engine_ok_; }
  std::string last_error() const;

 private:
  void loop(std::stop_token stop);
  void watch(std::stop_token stop);
  bool check(const Instance& instance);  // false: a fault was reported
  bool worth_a_look(const engine::Event& e);  // should this event wake the loop?

  const Settings settings_;
  Pool& pool_;
  Store& store_;
  engine::Engine& engine_;
  WorkerClient& worker_;
  const Clock& clock_;
  HostMonitor& host_;

  std::atomic<bool> engine_ok_{true};
  std::atomic<bool> first_reconcile_{true};  // logs the start-up reconcile in full
  mutable std::mutex mu_;
  std::condition_variable_any wake_cv_;
  bool woken_ = false;     // GUARDED_BY(mu_)
  std::string last_error_;  // GUARDED_BY(mu_)
  std::jthread loop_thread_;
  std::jthread watch_thread_;
};

}  // namespace warmpool
