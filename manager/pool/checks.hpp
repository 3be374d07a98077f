// The scheduler's decisions, as pure functions beside plan_upkeep: how the
// engine's containers and the records are matched (reconcile), what a tick
// does with each instance, how a container's state is judged, and how long
// to wait after failing ticks. No I/O; `now` and observations passed in.
#pragma once

#include <chrono>
#include <map>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.hpp"
#include "records/records.hpp"

namespace warmpool {

// The instance id in a container's warmpool.instance label; 0 when missing or bad.
std::int64_t instance_of(const engine::Labels& labels);

// States in which an instance's container must exist.
bool expects_container(InstanceState state);

struct ReconcilePlan {
  int adopted = 0;                  // a live record holds the container
  std::vector<std::string> remove;  // containers no live record names: orphans
  // The container names a live record that holds another container, or none
  // yet (it may be the record's own, created but not yet recorded): the
  // record is read again under its claim before removing.
  std::vector<std::pair<std::int64_t, std::string>> confirm_orphan;  // (instance, container)
  // Live records whose container was not listed (it may have been created
  // after the listing): the engine is asked again under the claim.
  std::vector<std::int64_t> confirm_lost;
};
// `live`: the current records, read after the listing (a record is written
// before its container is created, so every listed container's record is there).
ReconcilePlan plan_reconcile(const std::vector<engine::ContainerInfo>& containers,
                             const std::vector<Instance>& live);

// What a tick does with an instance in `state`.
enum class TickAction {
  None,    // allocated-free transitional states no one left unfinished
  Check,   // ready, paused, allocated: is it healthy?
  Resume,  // starting, resetting, deleting, error: finish what was left
};
TickAction tick_action(InstanceState state);

// How an instance's health is observed: its worker answers a ping (running
// idle), or its container is in the state the record says.
enum class Probe { Ping, Inspect };
Probe probe_for(InstanceState state);

struct ContainerVerdict {
  enum Kind {
    Healthy,
    Fault,             // `fault` says why
    ConfirmRunning,    // recorded paused, found running: healthy running-idle if it answers a ping
  };
  Kind kind = Healthy;
  std::string fault;
};
// Judges an inspected container against its record's state.
ContainerVerdict judge_container(InstanceState state, const engine::ContainerInfo& seen);

// Several engines: the live instances whose container is on an engine that
// has been down (down_since_ms: engine name -> when it was first seen down)
// for grace_ms or longer. Their allocations end and their records go; the
// containers, should the engine come back, are orphans then.
std::vector<std::int64_t> pick_engine_lost(const std::vector<Instance>& live,
                                           const std::map<std::string, std::int64_t>& down_since_ms,
                                           std::int64_t now_ms, std::int64_t grace_ms);

// The wait before the next tick after `failures` failing ticks in a row:
// the period, doubled per failure, never above `cap` (nor below the period).
std::chrono::milliseconds next_tick_delay(std::chrono::milliseconds period, int failures,
                                          std::chrono::milliseconds cap);

}  // namespace warmpool
