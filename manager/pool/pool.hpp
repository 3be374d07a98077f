// The instance pool: hands out warm instances, takes them back, creates and
// deletes them. Records live in the Store (the source of truth); the pool
// keeps in memory only which instances are claimed by an operation in flight,
// so that no two operations drive the same container at once.
//
// One file per story:
//   hand_out.cpp   allocate(): claim -> prepare (unpause, reset, init, ping) -> commit,
//                  on the high lane; a failing instance goes to `error` and
//                  the next one is tried
//   release.cpp    release(), renew(), and the reset that returns an instance
//                  to the idle pool (high lane; a restart or recreate on the
//                  normal lane)
//   lifecycle.cpp  create, restart, remove, recover, resume (normal lane),
//                  sharing one bring-up sequence
//   pool.cpp       claims, waking waiters, the engine's reachability, counts
//
// Thread-safe. No lock is held across an engine or worker call.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "engine/engine.hpp"
#include "pool/backoff.hpp"
#include "pool/capacity_share.hpp"
#include "pool/decisions.hpp"
#include "pool/demand.hpp"
#include "pool/image_protocol.hpp"
#include "pool/pauser.hpp"
#include "worker/session_init.hpp"
#include "worker/worker_client.hpp"
#include "queue/lanes.hpp"
#include "store/store.hpp"

namespace warmpool {

class HostUsageSource;
class Metrics;

struct PoolSettings {
  std::string name = kDefaultPool;  // the pool's record; its instances carry it
  PoolPolicy policy;
  Capacity capacity;
  std::string manager_id = "warmpool";  // value of the warmpool.manager label
  std::string image = "warmpool/pi-worker:latest";
  std::string worker_host = "127.0.0.1";  // where workers listen (host network)
  int port_first = 20000;
  int port_last = 20999;
  engine::ContainerSpec container;  // limits and hardening; name, cmd and labels are set per instance
  std::vector<std::string> worker_args;  // extra arguments after `serve --host H --port P`
  // How instances are checked and reset. Every container gets its address in
  // the environment (HOST, PORT); a worker also as `serve --host H --port P`.
  ImageProtocol protocol;
  // Most current allocations one client (Allocation::client) may hold in
  // this pool; 0: no limit.
  int client_quota = 0;
  // Most current allocations one client may hold in every pool together
  // (--quota-overall, the same for every pool); 0: no limit.
  int overall_quota = 0;
  // Each worker gets control_secret(control_key, its endpoint) in
  // WARMPOOL_CONTROL_SECRET; empty: none (its control routes stay open).
  std::string control_key;
  std::chrono::milliseconds reset_timeout{2000};
  std::chrono::milliseconds init_timeout{2000};
  std::chrono::milliseconds ping_timeout{500};
  std::chrono::milliseconds ready_timeout{30000};
  int max_restarts = 2;  // restarts of a faulty instance before it is replaced
  std::int64_t default_lease_ms = 5 * 60 * 1000;
  std::int64_t max_lease_ms = 24 * 60 * 60 * 1000;
  // Several managers on one database: an instance another manager frees
  // wakes no waiter here, so a waiting hand-out looks again this often.
  // Zero (one manager): it waits to be woken.
  std::chrono::milliseconds shared_store_poll{0};
  // The demand model's windows, spare and decay; its floor, ceiling,
  // capacity and running floor come from `policy`.
  DemandSettings demand;
  // Instances recorded before this time (ms) were made under earlier
  // settings (image, limits, ports, health check, reset, data volume): they
  // are replaced, idle ones by upkeep, allocated ones when they return.
  // 0: none is.
  std::int64_t instances_since_ms = 0;
};

// The demand model's settings for a pool: `settings.demand` with the
// policy's bounds.
DemandSettings demand_settings_for(const PoolSettings& settings);

// Why an allocation could not be made. The API maps kinds to status codes.
class AllocateError : public std::runtime_error {
 public:
  // InitRefused: a worker refused the session's payload itself (its
  // instance is fine and went back to the pool). OverQuota: the client holds
  // one of its quotas of current allocations already (quota_scope(),
  // quota() and current() say which, how many it may hold, and holds).
  enum class Kind { QueueFull, Timeout, EngineDown, InitRefused, OverQuota };
  AllocateError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  // An OverQuota refusal.
  AllocateError(const std::string& client, const std::string& pool, QuotaScope scope, int quota, int current);
  Kind kind() const { return kind_; }
  QuotaScope quota_scope() const { return scope_; }
  int quota() const { return quota_; }
  int current() const { return current_; }

 private:
  Kind kind_;
  QuotaScope scope_ = QuotaScope::Pool;
  int quota_ = 0;
  int current_ = 0;
};

// The lane a release's reset runs on: a worker's reset is one quick call
// (high lane, beside hand-outs); a restart or recreate is container work,
// seconds of it, which must not hold a hand-out's thread (normal lane).
inline Lane reset_lane(const ImageProtocol& protocol) {
  return protocol.reset == ResetMethod::Worker ? Lane::High : Lane::Normal;
}

// An admin request that conflicts with the instance's state or capacity.
class PoolConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PoolCounts {
  std::map<std::string, int> by_state;
  int claimed = 0;
  int waiting = 0;  // allocate() calls waiting for an instance (or woken and looking again)
};

class Pool {
 public:
  // All references must outlive the pool. host may be null (no headroom
  // check); metrics may be null (nothing counted); pauser may be null (the
  // engine's pause and unpause).
  Pool(PoolSettings settings, Store& store, engine::Engine& engine, WorkerClient& worker,
       Lanes& lanes, const Clock& clock, HostUsageSource* host = nullptr,
       Metrics* metrics = nullptr, const SteadyClock& steady = SteadyClock::real(),
       Pauser* pauser = nullptr);

  struct AllocateRequest {
    std::int64_t lease_ms = 0;  // 0 = default lease
    std::string client;
    SteadyClock::time_point deadline;
    // The session's initial state, delivered after the reset; null: none.
    std::shared_ptr<const SessionInit> init;
    // Give the session an access token that its worker requires of callers
    // (returned in Allocation::token). Without one the worker's session
    // routes stay open, as the compatibility view's client expects.
    bool token = true;
  };
  // Hands out a healthy instance whose worker holds the session's state and
  // token. Throws AllocateError; OverQuota before any instance is claimed,
  // and again, atomically, when the allocation is recorded.
  // REQUIRES: no init unless settings().protocol.speaks_worker() (the API
  // refuses it; std::invalid_argument here). An image that does not speak
  // the worker protocol gets no token either.
  Allocation allocate(const AllocateRequest& request);

  // Ends the allocation; the instance is reset and returned to the idle pool
  // on the high lane. Idempotent. nullopt for an unknown id.
  std::optional<Allocation> release(const std::string& allocation_id,
                                    const std::string& reason = "released");
  // Extends the lease to now + lease_ms. nullopt for an unknown id; a
  // finished allocation is returned unchanged.
  std::optional<Allocation> renew(const std::string& allocation_id, std::int64_t lease_ms);

  // Records a new instance (state starting) and creates its container on the
  // normal lane. Throws PoolConflict when capacity or ports refuse.
  Instance add_instance();
  // Deletes the instance on the normal lane (ending its allocation, if any).
  // Returns the record in state deleting; nullopt for an unknown id.
  std::optional<Instance> delete_instance(std::int64_t id, const std::string& reason);
  // Restarts the instance's container on the normal lane.
  std::optional<Instance> restart_instance(std::int64_t id);
  // Ends every current allocation and removes every instance's container,
  // here and now (for a manager stopping with --remove-on-exit). Failures
  // are logged; such an instance stays `deleting` for the next start.
  // REQUIRES: nothing else uses the pool any more (the lanes are stopped).
  void remove_all(const std::string& reason);

  // For the scheduler: an instance the pool is not using right now may be
  // claimed; only the claimer drives its container until unclaim().
  bool claim(std::int64_t id);
  // Releases the claim; hand-outs waiting for an idle instance look again.
  void unclaim(std::int64_t id);
  std::set<std::int64_t> claimed() const;

  // The pool's health check of one instance (settings().protocol), within
  // the ping deadline. Throws WorkerError when it fails.
  void check_health(const Instance& instance);

  // Moves an idle instance between running and paused (scheduler upkeep).
  // REQUIRES: the caller holds the claim on id. Throws on engine failure.
  void set_idle_state(std::int64_t id, InstanceState target);

  // A fault found in a working instance is recovered at once; when recovery
  // itself failed (a create or restart), the next attempt waits for the
  // scheduler's next tick, so a broken engine or image cannot make the pool
  // churn containers in a tight loop.
  enum class Retry { Now, NextTick };
  // Records a fault (state error) and starts recovery: restart up to
  // max_restarts times, then delete (the warm pool is refilled by upkeep).
  // REQUIRES: the caller holds the claim on id; it passes to the recovery.
  void fail(std::int64_t id, const std::string& error, Retry retry = Retry::Now);
  // Records a fault and removes the instance without trying a restart: for
  // one not worth saving (its engine came back after upkeep had replaced it
  // elsewhere). Upkeep creates a replacement if the pool still needs one.
  // REQUIRES: the caller holds the claim on id; it passes to the removal.
  void retire(std::int64_t id, const std::string& error);
  // Finishes whatever a crashed manager left an instance in the middle of:
  // starting -> (re)create, resetting -> recycle, deleting -> remove (unless
  // its container's removal is backing off), error -> recover.
  // REQUIRES: the caller holds the claim on id.
  void resume(std::int64_t id);

  // Several engines: the instance's container is on an engine that is down
  // (Engine::engine_up). Such an instance is neither handed out, nor checked,
  // nor judged lost; it waits for its engine (scheduler: --engine-grace-s).
  // Always false with one engine.
  bool on_down_engine(const Instance& instance);

  // The scheduler reports the engine's reachability after each check; the
  // pool also notes it when its own calls find the engine down. While down,
  // allocate() fails at once unless an instance is idle, and recovery waits.
  // `hung`: the engine timed out rather than refused; hand-outs then do not
  // wait on it to unpause an instance.
  void set_engine_state(bool reachable, const std::string& error = {}, bool hung = false);
  std::optional<std::string> engine_down() const;

  // This pool's current instances (the store holds every pool's).
  std::vector<Instance> own_instances();

  // Several pools share --max-instances (pool/capacity_share.hpp): this
  // one creates only within its share of the floors in `floors`. Without
  // it, the pool is alone. Set before the pool serves.
  void share_capacity(const PoolFloors& floors) { floors_ = &floors; }

  // A draining pool hands nothing out (the registry refuses first) and its
  // upkeep keeps no idle instance, so it empties as allocations end.
  void drain() { draining_ = true; }
  bool draining() const { return draining_; }

  PoolCounts counts();
  int waiting() const;  // allocate() calls waiting for an instance now
  // How containers are paused and unpaused, and whether they are paused.
  Pauser& pauser() { return pauser_; }
  // The current settings. A reference stays valid as long as the pool, even
  // after change_settings (then it is to the earlier version).
  const PoolSettings& settings() const { return *settings_.load(); }
  // New settings from now on (PATCH /pools/{name}): new instances use them
  // at once; instances made before next.instances_since_ms are replaced
  // (outdated()). REQUIRES: the same name and manager id.
  void change_settings(PoolSettings next);
  // Whether the instance was made under earlier settings: recorded before
  // settings().instances_since_ms, or on a port outside the range.
  bool outdated(const Instance& instance) const;
  // Removes the idle instances made under earlier settings that nothing
  // else holds (upkeep then creates their replacements); how many.
  int replace_outdated_idle();
  Capacity capacity() const { return settings().capacity; }
  HostUsage host_usage() const;

  // What hand-outs have asked for (every allocate() is an arrival).
  DemandTracker& demand() { return demand_; }
  // Called after each successful hand-out (the scheduler refills at once);
  // a hand-out that finds nothing idle asks for instances itself.
  // Set before the pool serves.
  std::function<void()> on_arrival;

  // Test hook: called after each hand-out attempt's claim, before I/O.
  std::function<void(std::int64_t instance_id)> test_on_claim;

 private:
  // --- hand_out.cpp ---
  struct HandOut {
    std::optional<Allocation> allocation;
    std::uint64_t idle_generation = 0;  // when none was idle: the generation seen
    InstanceState was = InstanceState::Ready;  // the instance's state when it was picked
  };
  struct HandOutCall;
  struct Claimed {
    std::optional<Instance> instance;  // nullopt: none idle
    std::uint64_t idle_generation = 0;
  };
  // `looking`: whether the caller counts in looking_ (woken, looking again);
  // it does not while it waits, and does again once woken.
  void wait_for_idle(const AllocateRequest& request, std::uint64_t seen_generation, bool& looking);
  HandOut hand_out_on_high_lane(const AllocateRequest& request);
  HandOut try_hand_out(const AllocateRequest& request, HandOutCall& call);
  Claimed claim_idle();
  void not_handing_out(std::int64_t id);
  bool prepare(const Instance& instance, const std::string& init_body);
  void run_step(HandOutStep step, const Instance& instance, const std::string& init_body);
  // --- quota.cpp ---
  ClientQuotas quotas() const { return {settings().client_quota, settings().overall_quota}; }
  void check_quota(const std::string& client);
  void refuse_init(const Instance& instance, const InitRefusedByWorker& e);
  void refuse_if_engine_hung(std::int64_t id);
  void unpause_for_hand_out(const Instance& instance);
  std::optional<Allocation> commit(const AllocateRequest& request, HandOutCall& call,
                                   const Instance& instance, const std::string& token);
  void judge_timeout(std::int64_t id, const std::string& error);  // REQUIRES: the claim on id
  void put_back(const Instance& instance);  // REQUIRES: the claim on instance.id; releases it
  void observe_hand_out(InstanceState was, bool waited, SteadyClock::time_point started);

  // --- release.cpp ---
  void recycle(std::int64_t instance_id, bool resumed = false);
  InstanceState reset_released(const Instance& instance, bool resumed);
  void recreate(const Instance& instance);

  // --- lifecycle.cpp ---
  std::optional<Instance> add_instance_locked();  // REQUIRES: mu_ held
  void request_instances_for_waiters();
  void create(std::int64_t instance_id);
  void learn_lead_time(std::int64_t instance_id);
  void restart(std::int64_t instance_id);
  void bring_up(std::int64_t instance_id, void (Pool::*start_container)(const Instance&));
  void create_container(const Instance& instance);
  void restart_container(const Instance& instance);
  void wait_ready(const Instance& instance);
  std::string container_exit(std::int64_t id);  // "its container exited with code N", or ""
  void remove(std::int64_t instance_id, const std::string& reason);
  void recover(std::int64_t instance_id);
  bool removal_due(const Instance& instance);
  engine::ContainerSpec spec_for(const Instance& instance) const;

  // --- pool.cpp ---
  void note_if_unreachable(const std::exception& e);
  bool engine_answers(const std::string& container_id);  // false (and noted) when it does not
  bool paused_now(const std::string& container_id);       // false when the engine cannot say
  void notify_idle();       // an instance may have become idle: wakes one waiter
  void wake_one_waiter();   // REQUIRES: mu_ held
  bool post(Lane lane, std::function<void()> task);
  void post_or_unclaim(std::int64_t id, std::function<void()> task);
  // Why one more instance may not be created now: the limits over every
  // pool's instances in `all`, then this pool's share of the capacity.
  std::optional<std::string> creation_refusal(const std::vector<Instance>& all) const;
  void record_fault(std::int64_t id, const std::string& error);  // REQUIRES: the claim on id
  bool claim_to_recycle(std::int64_t id);  // as claim(); when claimed, left to the holder
  bool hold_claimed(std::int64_t id);      // REQUIRES: id in claimed_; out again when refused
  bool hold_in_store(std::int64_t id);     // false when another manager holds it
  void let_go_in_store(std::int64_t id);

  // --- settings.cpp ---
  // Every version of the settings, the newest in settings_; the earlier ones
  // stay alive with the pool so that no reference from settings() dangles
  // (a change is rare: an admin's PATCH).
  std::mutex settings_mu_;
  std::vector<std::unique_ptr<const PoolSettings>> settings_versions_;  // GUARDED_BY(settings_mu_)
  std::atomic<const PoolSettings*> settings_;
  Store& store_;
  engine::Engine& engine_;
  WorkerClient& worker_;
  Lanes& lanes_;
  const Clock& clock_;
  HostUsageSource* host_usage_;
  Metrics* metrics_;
  const SteadyClock& steady_;
  std::unique_ptr<Pauser> own_pauser_;  // when none was given
  Pauser& pauser_;
  DemandTracker demand_;
  const PoolFloors* floors_ = nullptr;
  std::atomic<bool> draining_{false};

  mutable std::mutex mu_;
  std::set<std::int64_t> claimed_;         // GUARDED_BY(mu_)
  // Of claimed_, the idle instances a hand-out has taken: leaving the pool,
  // not coming back to it (request_instances_for_waiters).
  std::set<std::int64_t> handing_out_;     // GUARDED_BY(mu_)
  // Released instances whose reset found them claimed: unclaim() posts it.
  std::set<std::int64_t> recycle_due_;     // GUARDED_BY(mu_)
  std::condition_variable idle_changed_;   // signalled when an instance may have become idle
  std::uint64_t idle_generation_ = 0;      // GUARDED_BY(mu_); counts such events
  int waiting_ = 0;                        // GUARDED_BY(mu_)
  // allocate() calls woken from a wait and looking again: still waiting for
  // an instance, as counts() tells those who yield to them (pi jobs).
  int looking_ = 0;                        // GUARDED_BY(mu_)
  int wakeups_ = 0;                        // GUARDED_BY(mu_); waiters woken to look again, not yet up
  std::string engine_error_;               // GUARDED_BY(mu_); empty while reachable
  bool engine_hung_ = false;               // GUARDED_BY(mu_); down by timing out
  Backoff removal_backoff_{2'000, 5 * 60'000};  // GUARDED_BY(mu_); by container id
};

}  // namespace warmpool
