// Release: the allocation ends at once; the instance is reset and returned
// to the idle pool on the high lane.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "pool/pool.hpp"

namespace warmpool {

using engine::EngineError;

std::optional<Allocation> Pool::release(const std::string& allocation_id,
                                        const std::string& reason) {
  bool ended_now = false;
  auto allocation = store_.end_allocation(allocation_id, reason, clock_.now_ms(), &ended_now);
  // If the lane is full the instance stays `resetting`; upkeep recycles it.
  if (allocation && ended_now)
    post(reset_lane(settings().protocol), [this, id = allocation->instance_id] { recycle(id); });
  return allocation;
}

std::optional<Allocation> Pool::renew(const std::string& allocation_id, std::int64_t lease_ms) {
  lease_ms = std::clamp<std::int64_t>(lease_ms, 1, settings().max_lease_ms);
  return store_.renew(allocation_id, clock_.now_ms() + lease_ms);
}

void Pool::recycle(std::int64_t id, bool resumed) {
  if (!claim_to_recycle(id)) return;  // someone else (a delete) has it; it posts this again
  std::optional<Instance> instance;
  try {
    instance = store_.instance(id);
  } catch (const StoreError& e) {
    spdlog::warn("instance {}: cannot read it to reset it: {}", id, e.what());  // resumed next tick
  }
  if (!instance || instance->state != InstanceState::Resetting) {
    unclaim(id);
    return;
  }
  // Made under the pool's earlier settings: replaced, not reset.
  if (settings().protocol.reset == ResetMethod::Recreate || outdated(*instance)) return recreate(*instance);
  try {
    store_.transition(id, reset_released(*instance, resumed), clock_.now_ms());
  } catch (const std::exception& e) {
    note_if_unreachable(e);
    fail(id, std::string("reset after release: ") + e.what());
    return;
  }
  unclaim(id);
  notify_idle();
}

// Makes a released instance clean by the pool's reset method, then takes
// the idle state it should have; returns that state. Throws on failure.
// REQUIRES: the claim on instance.id.
InstanceState Pool::reset_released(const Instance& instance, bool resumed) {
  // A manager killed after pausing it, before recording that, left it
  // paused: a frozen worker would never answer the reset.
  if (resumed && paused_now(instance.container_id)) pauser_.unpause(instance.container_id);
  if (settings().protocol.reset == ResetMethod::Restart) {
    restart_container(instance);  // fresh processes and /scratch
    wait_ready(instance);
  } else {
    worker_.reset(instance.endpoint(), settings().reset_timeout);
  }
  // With a grace period it stays running; upkeep pauses it after the grace.
  InstanceState target = settings().policy.pause_grace_ms > 0
                             ? InstanceState::Ready
                             : idle_state_for(own_instances(), instance.id, settings().policy);
  if (target != InstanceState::Paused) return target;
  try {
    pauser_.pause(instance.container_id);
  } catch (const EngineError& e) {
    if (e.kind() != EngineError::Kind::Unreachable) throw;
    // The instance is reset and answers: keep it running-idle rather than
    // fail a healthy instance; upkeep pauses it once the engine is back.
    note_if_unreachable(e);
    return InstanceState::Ready;
  }
  return target;
}

// A recreate pool hands out no container twice: the released instance is
// removed, and a new one (a new container, a fresh root) takes its place
// when capacity allows; upkeep refills otherwise.
// REQUIRES: the claim on instance.id; released here.
void Pool::recreate(const Instance& instance) {
  remove(instance.id, outdated(instance) ? "made under the pool's earlier settings" : "recreated after its allocation ended");
  notify_idle();  // a waiter may create the replacement itself
  std::lock_guard lock(mu_);
  if (!engine_error_.empty()) return;
  try {
    if (!creation_refusal(store_.instances(Show::Current))) add_instance_locked();
  } catch (const StoreError& e) {
    spdlog::warn("instance {}: no replacement now: {}", instance.id, e.what());
  }
}

}  // namespace warmpool
