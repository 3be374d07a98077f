// A pool's settings changing while it serves: new instances take the new
// settings at once; the instances made before are replaced, idle ones now
// and allocated ones when they return (release.cpp), and none of them is
// handed out again (hand_out.cpp skips them).
#include <spdlog/spdlog.h>

#include "pool/pool.hpp"

namespace warmpool {

void Pool::change_settings(PoolSettings next) {
  demand_.set_settings(demand_settings_for(next));
  std::lock_guard lock(settings_mu_);
  settings_versions_.push_back(std::make_unique<const PoolSettings>(std::move(next)));
  settings_ = settings_versions_.back().get();
}

bool Pool::outdated(const Instance& instance) const {
  const PoolSettings& now = settings();
  return instance_outdated(instance, now.instances_since_ms, now.port_first, now.port_last);
}

int Pool::replace_outdated_idle() {
  int replaced = 0;
  for (const auto& listed : own_instances()) {
    if (!is_idle(listed.state) || !outdated(listed) || !claim(listed.id)) continue;
    try {
      // Read again under the claim: it may have been handed out since.
      auto current = store_.instance(listed.id);
      if (!current || !is_idle(current->state)) {
        unclaim(listed.id);
        continue;
      }
      store_.transition(listed.id, InstanceState::Deleting, clock_.now_ms());  // the intent first
    } catch (...) {
      unclaim(listed.id);
      throw;
    }
    post_or_unclaim(listed.id, [this, id = listed.id] { remove(id, "made under the pool's earlier settings"); });
    ++replaced;
  }
  if (replaced > 0) spdlog::info("pool {}: replacing {} idle instances made under earlier settings", settings().name, replaced);
  return replaced;
}

}  // namespace warmpool
