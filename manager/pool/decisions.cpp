#include "pool/decisions.hpp"

#include <algorithm>

namespace warmpool {

namespace {

int count_live(const std::vector<Instance>& instances) {
  return static_cast<int>(std::count_if(instances.begin(), instances.end(),
                                        [](const Instance& i) { return is_live(i.state); }));
}

// Idle instances not claimed, oldest idle first.
std::vector<const Instance*> free_idle(const std::vector<Instance>& instances,
                                       const std::set<std::int64_t>& claimed, InstanceState state) {
  std::vector<const Instance*> out;
  for (const auto& i : instances)
    if (i.state == state && !claimed.count(i.id)) out.push_back(&i);
  std::sort(out.begin(), out.end(), [](const Instance* a, const Instance* b) {
    return a->updated_ms != b->updated_ms ? a->updated_ms < b->updated_ms : a->id < b->id;
  });
  return out;
}

}  // namespace

std::optional<std::int64_t> pick_idle(const std::vector<Instance>& instances,
                                      const std::set<std::int64_t>& claimed) {
  for (InstanceState state : {InstanceState::Ready, InstanceState::Paused}) {
    auto candidates = free_idle(instances, claimed, state);
    if (!candidates.empty()) return candidates.back()->id;
  }
  return std::nullopt;
}

std::optional<std::string> create_refusal(const std::vector<Instance>& instances,
                                          const PoolPolicy& policy, const Capacity& capacity,
                                          const HostUsage& usage) {
  const int live = count_live(instances);
  if (live >= policy.max_instances)
    return "instance limit reached (" + std::to_string(policy.max_instances) + ")";
  if (capacity.memory_budget_bytes > 0 &&
      (live + 1) * capacity.instance_memory_bytes > capacity.memory_budget_bytes)
    return "memory budget exhausted";
  if (capacity.cpu_budget > 0 && (live + 1) * capacity.instance_cpus > capacity.cpu_budget + 1e-9)
    return "CPU budget exhausted";
  if (usage.cpu > capacity.cpu_limit())
    return "host CPU use " + std::to_string(static_cast<int>(usage.cpu * 100)) + "% is above the limit";
  if (usage.memory > capacity.memory_limit())
    return "host memory use " + std::to_string(static_cast<int>(usage.memory * 100)) +
           "% is above the limit";
  return std::nullopt;
}

std::optional<int> pick_port(const std::vector<Instance>& instances, const std::string& host,
                             int first, int last) {
  std::set<int> taken;
  for (const auto& i : instances)
    if (is_live(i.state) && i.host == host) taken.insert(i.port);
  for (int port = first; port <= last; ++port)
    if (!taken.count(port)) return port;
  return std::nullopt;
}

InstanceState idle_state_for(const std::vector<Instance>& instances, std::int64_t instance_id,
                           const PoolPolicy& policy) {
  int running_idle = 0;
  for (const auto& i : instances)
    if (i.id != instance_id && i.state == InstanceState::Ready) ++running_idle;
  return running_idle < policy.keep_running ? InstanceState::Ready : InstanceState::Paused;
}

UpkeepPlan plan_upkeep(const std::vector<Instance>& instances,
                       const std::set<std::int64_t>& claimed, const PoolPolicy& policy,
                       const Capacity& capacity, const HostUsage& usage, std::int64_t now_ms) {
  UpkeepPlan plan;
  auto ready = free_idle(instances, claimed, InstanceState::Ready);
  auto paused = free_idle(instances, claimed, InstanceState::Paused);
  const int starting = static_cast<int>(std::count_if(
      instances.begin(), instances.end(),
      [](const Instance& i) { return i.state == InstanceState::Starting; }));
  int idle = static_cast<int>(ready.size() + paused.size());
  // Idle ones under a claim come back idle (a new one being paused, one
  // being checked); left out, upkeep made one too many while a new one paused.
  const int claimed_idle = static_cast<int>(std::count_if(
      instances.begin(), instances.end(), [&](const Instance& i) { return is_idle(i.state) && claimed.count(i.id); }));

  // Grow to min_idle, one create at a time through create_refusal.
  std::vector<Instance> projected = instances;
  for (int warm = idle + starting + claimed_idle; warm < policy.min_idle; ++warm) {
    if (create_refusal(projected, policy, capacity, usage)) break;
    Instance placeholder;
    placeholder.state = InstanceState::Starting;
    projected.push_back(placeholder);
    ++plan.create;
  }

  // Shrink: beyond max_idle always; beyond min_idle once idle too long.
  // Paused ones go first (they are the coldest), oldest first.
  const std::int64_t shrink_ms = policy.adaptive ? policy.surplus_ttl_ms : policy.idle_shrink_ms;
  std::vector<const Instance*> removable = paused;
  removable.insert(removable.end(), ready.begin(), ready.end());
  for (const Instance* i : removable) {
    if (idle <= policy.min_idle) break;
    if (idle > policy.max_idle || now_ms - i->updated_ms >= shrink_ms) {
      plan.remove.push_back(i->id);
      --idle;
    }
  }
  auto removed = [&](const Instance* i) {
    return std::find(plan.remove.begin(), plan.remove.end(), i->id) != plan.remove.end();
  };

  // Keep exactly keep_running of the remaining idle instances running.
  std::vector<const Instance*> ready_left, paused_left;
  for (const Instance* i : ready)
    if (!removed(i)) ready_left.push_back(i);
  for (const Instance* i : paused)
    if (!removed(i)) paused_left.push_back(i);
  const int running = static_cast<int>(ready_left.size());
  // Pause the ones idle longest; unpause the most recently used paused ones.
  // Within their grace, released instances stay running (a hand-out soon
  // after takes one without an unpause).
  for (int k = 0; k < running - policy.keep_running; ++k)
    if (now_ms - ready_left[k]->updated_ms >= policy.pause_grace_ms) plan.pause.push_back(ready_left[k]->id);
  for (int k = 0; k < policy.keep_running - running && k < static_cast<int>(paused_left.size()); ++k)
    plan.unpause.push_back(paused_left[paused_left.size() - 1 - k]->id);
  return plan;
}

std::vector<std::string> pick_expired(const std::vector<Allocation>& allocations,
                                      std::int64_t now_ms) {
  std::vector<std::string> out;
  for (const auto& a : allocations)
    if (a.current() && a.expires_ms <= now_ms) out.push_back(a.id);
  return out;
}

bool instance_outdated(const Instance& instance, std::int64_t since_ms, int port_first, int port_last) {
  return instance.created_ms < since_ms || instance.port < port_first || instance.port > port_last;
}

}  // namespace warmpool
