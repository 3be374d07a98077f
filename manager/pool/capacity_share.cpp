#include "pool/capacity_share.hpp"

#include <algorithm>

namespace warmpool {

std::map<std::string, int> share_capacity(const std::vector<PoolShare>& pools, int max_instances) {
  int live = 0;
  int unmet_total = 0;
  for (const auto& p : pools) {
    live += p.live;
    unmet_total += std::max(0, p.floor - p.warm);
  }
  const int free = std::max(0, max_instances - live);
  std::map<std::string, int> out;
  for (const auto& p : pools) {
    const int unmet = std::max(0, p.floor - p.warm);
    // Floors that fit: all but the others' unmet floors. Floors that do not:
    // its own floor at most.
    out[p.name] = unmet_total <= free ? free - (unmet_total - unmet) : std::min(unmet, free);
  }
  return out;
}

std::vector<PoolShare> pool_shares(const std::vector<Instance>& instances,
                                   const std::map<std::string, int>& floors) {
  std::map<std::string, PoolShare> by_name;
  for (const auto& [name, floor] : floors) by_name[name] = PoolShare{name, floor, 0, 0};
  for (const auto& i : instances) {
    if (!is_live(i.state)) continue;
    PoolShare& share = by_name[i.pool];
    share.name = i.pool;
    ++share.live;
    share.warm += is_idle(i.state) || i.state == InstanceState::Starting;
  }
  std::vector<PoolShare> out;
  for (auto& [name, share] : by_name) out.push_back(share);
  return out;
}

void PoolFloors::set(const std::string& pool, int floor) {
  std::lock_guard lock(mu_);
  floors_[pool] = floor;
}

void PoolFloors::erase(const std::string& pool) {
  std::lock_guard lock(mu_);
  floors_.erase(pool);
}

std::map<std::string, int> PoolFloors::snapshot() const {
  std::lock_guard lock(mu_);
  return floors_;
}

}  // namespace warmpool
