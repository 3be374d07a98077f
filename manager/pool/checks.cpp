#include "pool/checks.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "base/text.hpp"
#include "pool/backoff.hpp"

namespace warmpool {

using engine::ContainerStatus;

std::int64_t instance_of(const engine::Labels& labels) {
  auto label = labels.find(engine::kInstanceLabel);
  if (label == labels.end()) return 0;
  return parse_int(label->second, 1, std::numeric_limits<std::int64_t>::max()).value_or(0);
}

bool expects_container(InstanceState s) {
  return s == InstanceState::Ready || s == InstanceState::Paused ||
         s == InstanceState::Allocated || s == InstanceState::Resetting;
}

ReconcilePlan plan_reconcile(const std::vector<engine::ContainerInfo>& containers,
                             const std::vector<Instance>& live) {
  ReconcilePlan plan;
  std::map<std::int64_t, const Instance*> by_id;
  for (const auto& i : live)
    if (is_live(i.state)) by_id.emplace(i.id, &i);
  std::set<std::string> listed;
  for (const auto& c : containers) {
    listed.insert(c.id);
    auto record = by_id.find(instance_of(c.labels));
    if (record == by_id.end()) plan.remove.push_back(c.id);
    else if (record->second->container_id == c.id) ++plan.adopted;
    else plan.confirm_orphan.emplace_back(record->first, c.id);
  }
  for (const auto& [id, instance] : by_id)
    if (expects_container(instance->state) && !instance->container_id.empty() &&
        !listed.count(instance->container_id))
      plan.confirm_lost.push_back(id);
  return plan;
}

TickAction tick_action(InstanceState s) {
  switch (s) {
    case InstanceState::Ready:
    case InstanceState::Paused:
    case InstanceState::Allocated:
      return TickAction::Check;
    case InstanceState::Starting:
    case InstanceState::Resetting:
    case InstanceState::Deleting:
    case InstanceState::Error:
      return TickAction::Resume;
    case InstanceState::Deleted:
      break;
  }
  return TickAction::None;
}

Probe probe_for(InstanceState s) { return s == InstanceState::Ready ? Probe::Ping : Probe::Inspect; }

ContainerVerdict judge_container(InstanceState state, const engine::ContainerInfo& seen) {
  const auto expected = state == InstanceState::Paused ? ContainerStatus::Paused : ContainerStatus::Running;
  // Unpaused by someone else, or by a hand-out the manager did not live to
  // commit: its worker was reset before the pause, so if it answers it is
  // simply running-idle (upkeep pauses it again if need be).
  if (state == InstanceState::Paused && seen.status == ContainerStatus::Running)
    return {ContainerVerdict::ConfirmRunning, {}};
  if (seen.status == expected) return {};
  return {ContainerVerdict::Fault, std::string("container is ") + engine::to_string(seen.status) +
                                       (seen.oom_killed ? " (out of memory)" : "") + ", expected " +
                                       engine::to_string(expected)};
}

std::chrono::milliseconds next_tick_delay(std::chrono::milliseconds period, int failures,
                                          std::chrono::milliseconds cap) {
  if (failures <= 0) return period;
  const std::int64_t ceiling = std::max(cap.count(), period.count());
  return std::chrono::milliseconds(backoff_delay_ms(failures, 2 * period.count(), ceiling));
}

std::vector<std::int64_t> pick_engine_lost(const std::vector<Instance>& live,
                                           const std::map<std::string, std::int64_t>& down_since_ms,
                                           std::int64_t now_ms, std::int64_t grace_ms) {
  std::vector<std::int64_t> lost;
  for (const auto& i : live) {
    if (i.container_id.empty() || i.state == InstanceState::Deleted) continue;
    auto it = down_since_ms.find(i.engine);
    if (it != down_since_ms.end() && now_ms - it->second >= grace_ms) lost.push_back(i.id);
  }
  return lost;
}

}  // namespace warmpool
