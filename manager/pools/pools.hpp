// The registry of pools: one Pool and one Scheduler per pool record. The
// default pool (the flags) is made and owned by the caller; the others come
// from the store at start and from the admin API while serving.
//
// A pool is deleted by draining it: it hands nothing out any more, its idle
// instances go, and the allocated ones go as their allocations end. Once it
// has no instance left, its scheduler stops and its record goes (sweep(),
// run once a period on the registry's thread). Its Pool object stays until
// the registry ends, since lane tasks and requests in flight may still
// point at it.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pool/capacity_share.hpp"
#include "pools/pool_spec.hpp"
#include "scheduler/scheduler.hpp"

namespace warmpool {

// A pool record refused: bad input (400) or a conflict (409). Nothing changed.
class PoolRefused : public std::runtime_error {
 public:
  explicit PoolRefused(PoolRefusal refusal) : std::runtime_error(refusal.detail), refusal_(std::move(refusal)) {}
  const PoolRefusal& refusal() const { return refusal_; }

 private:
  PoolRefusal refusal_;
};

class Pools {
 public:
  // What every pool shares. All must outlive the registry.
  struct Parts {
    Store& store;
    engine::Engine& engine;
    WorkerClient& worker;
    Lanes& lanes;
    const Clock& clock;
    HostUsageSource& host;
    Metrics* metrics = nullptr;  // hand-outs of every pool are counted; gauges are the default's
    Pauser* pauser = nullptr;
  };
  // `scheduling`: the default scheduler's settings; the other pools' take
  // them without retention (the default pool prunes for all).
  Pools(Parts parts, Scheduler::Settings scheduling, Pool& default_pool, Scheduler& default_scheduler);
  ~Pools();  // stop()
  Pools(const Pools&) = delete;
  Pools& operator=(const Pools&) = delete;

  // Writes the default pool's record from its settings (the flags win) and
  // makes a Pool and a Scheduler for every other recorded pool, draining
  // ones included (they finish draining). Throws StoreError.
  void load();
  // Starts the other pools' schedulers and the sweep; the caller starts the
  // default's.
  void start();
  void stop() noexcept;

  // The pool called `name`; nullptr when there is none. A draining pool is
  // found (its allocations end through it): callers check draining().
  Pool* find(const std::string& name);
  Pool& default_pool() { return default_pool_; }
  std::vector<PoolRecord> list();
  std::optional<PoolRecord> get(const std::string& name);

  // Adds and starts a pool. Throws PoolRefused (see record_refusal; 400
  // with the reason when the engine has no such image), EngineError when
  // the engine cannot say, StoreError.
  PoolRecord add(PoolRecord record);
  // Changes a pool's record (PATCH): `edit` makes the new record from the
  // current one (it may throw, e.g. BadRequest; nothing changes then). New
  // instances use the new record at once; when it changes what containers
  // are made with (changes_instances), the instances made before are
  // replaced: idle ones by upkeep, allocated ones as they return. nullopt
  // for an unknown name. Throws PoolRefused (409 for a draining pool; see
  // record_refusal; 400 when the engine has no such image), EngineError
  // when the engine cannot say, StoreError.
  std::optional<PoolRecord> change(const std::string& name,
                                   const std::function<PoolRecord(const PoolRecord&)>& edit);
  // Starts draining the pool; nullopt for an unknown name. Throws
  // PoolRefused (409) for the default pool.
  std::optional<PoolRecord> drain(const std::string& name);
  // Removes the draining pools that have no instance left.
  void sweep();
  // Pool::remove_all of every pool (a manager stopping with --remove-on-exit).
  // REQUIRES: stop() and the lanes stopped.
  void remove_all(const std::string& reason);

  // Whether the default pool's reconcile takes containers whose pool label
  // is `label`: none (made before pools), default's, or a pool that no
  // longer exists (its leftovers are orphans).
  bool reconciled_by_default(const std::string& label);

 private:
  struct Entry {
    PoolRecord record;
    std::unique_ptr<Pool> pool;            // null for the default pool
    std::unique_ptr<Scheduler> scheduler;  // null for the default pool
  };
  Entry& open(const PoolRecord& record);  // REQUIRES: mu_ held
  // The engine has `image`, else PoolRefused (400).
  void check_image(const std::string& image);
  // Puts a changed record into effect. REQUIRES: mu_ held.
  void apply(Entry& entry, const PoolRecord& record);
  void sweep_loop(std::stop_token stop);

  Parts parts_;
  const Scheduler::Settings scheduling_;
  Pool& default_pool_;
  Scheduler& default_scheduler_;
  PoolFloors floors_;

  std::mutex change_mu_;  // one add or change at a time (held across the engine's image check)
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;  // GUARDED_BY(mu_); default included
  std::vector<std::unique_ptr<Entry>> retired_;            // GUARDED_BY(mu_); schedulers stopped
  bool started_ = false;                                   // GUARDED_BY(mu_)
  std::mutex sweep_mu_;
  std::condition_variable_any sweep_cv_;
  std::jthread sweeper_;
};

}  // namespace warmpool
