// The pool's decisions as pure functions over a snapshot of records, with
// `now` passed in. They do no I/O; the Pool applies what they return.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "records/records.hpp"

namespace warmpool {

struct PoolPolicy {
  int max_instances = 8;
  int min_idle = 2;          // idle (or starting) instances kept warm
  int max_idle = 8;          // idle instances beyond this are removed
  int keep_running = 1;      // idle instances kept running; the rest are paused
  std::int64_t idle_shrink_ms = 10 * 60 * 1000;  // idle above min_idle this long is removed
  // Adaptive: idle above the demand's target this long is removed (in place
  // of idle_shrink_ms, which then says how long a quiet lets the target
  // fall to the floor). A burst leaves its surplus; the target keeps what
  // the next one needs.
  std::int64_t surplus_ttl_ms = 2 * 1000;
  // A released instance stays running this long before upkeep may pause it
  // (0: it is paused on release when keep_running are running already).
  std::int64_t pause_grace_ms = 0;
  // Follow demand (pool/demand.hpp): min_idle and keep_running become floors
  // and the scheduler passes plan_upkeep the demand's target in their place.
  bool adaptive = false;
};

// Resource limits that creation must respect.
struct Capacity {
  std::int64_t instance_memory_bytes = 512ll << 20;
  std::int64_t memory_budget_bytes = 0;  // for all instances; 0 = no budget
  double instance_cpus = 1.0;
  double cpu_budget = 0;           // CPUs for all instances; 0 = no budget
  double host_limit = 0.9;         // refuse to create above this host CPU or memory use (1 = never)
  double host_cpu_limit = 0;       // for CPU alone; 0 = host_limit
  double host_memory_limit = 0;    // for memory alone; 0 = host_limit
  double cpu_limit() const { return host_cpu_limit > 0 ? host_cpu_limit : host_limit; }
  double memory_limit() const { return host_memory_limit > 0 ? host_memory_limit : host_limit; }
};

// Instances that may be handed out, best first: running-idle before paused,
// and within each, the one idle the shortest time (last in, first out), so
// that instances the demand no longer needs stay unused and age out through
// plan_upkeep's pause and shrink. Claimed instances are skipped.
std::optional<std::int64_t> pick_idle(const std::vector<Instance>& instances,
                                      const std::set<std::int64_t>& claimed);

// Whether an instance was made under a pool's earlier settings: recorded
// before `since_ms` (when the settings its containers take last changed),
// or holding a port outside [port_first, port_last] (picked just before).
bool instance_outdated(const Instance& instance, std::int64_t since_ms, int port_first, int port_last);

// Why one more instance may not be created now, or nullopt if it may.
std::optional<std::string> create_refusal(const std::vector<Instance>& instances,
                                          const PoolPolicy& policy, const Capacity& capacity,
                                          const HostUsage& usage);

// A free port in [first, last] not held by any live instance.
std::optional<int> pick_port(const std::vector<Instance>& instances, const std::string& host,
                             int first, int last);

// The idle state a released or new instance should settle in: Ready while
// fewer than keep_running idle instances are running, else Paused.
InstanceState idle_state_for(const std::vector<Instance>& instances, std::int64_t instance_id,
                           const PoolPolicy& policy);

// What the scheduler should do to keep the warm pool within its policy.
struct UpkeepPlan {
  int create = 0;
  std::vector<std::int64_t> pause;    // running-idle beyond keep_running, past their grace
  std::vector<std::int64_t> unpause;  // to bring running-idle up to keep_running
  std::vector<std::int64_t> remove;   // idle beyond max_idle, or idle too long above min_idle
};
UpkeepPlan plan_upkeep(const std::vector<Instance>& instances,
                       const std::set<std::int64_t>& claimed, const PoolPolicy& policy,
                       const Capacity& capacity, const HostUsage& usage, std::int64_t now_ms);

// Current allocations whose lease has ended.
std::vector<std::string> pick_expired(const std::vector<Allocation>& allocations,
                                      std::int64_t now_ms);

}  // namespace warmpool
