// Pools: changing a pool's record while it serves (PATCH /pools/{name}).
#include <spdlog/spdlog.h>

#include "pools/pools.hpp"

namespace warmpool {

void Pools::check_image(const std::string& image) {
  if (!parts_.engine.image_exists(image))
    throw PoolRefused({400, "image", "the engine has no image " + image + " (build or load it first)"});
}

std::optional<PoolRecord> Pools::change(const std::string& name,
                                        const std::function<PoolRecord(const PoolRecord&)>& edit) {
  std::lock_guard changing(change_mu_);  // the record read here is still current below
  PoolRecord before;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return std::nullopt;
    before = it->second->record;
  }
  if (before.state == PoolState::Draining)
    throw PoolRefused({409, "state", "pool " + name + " is draining: it cannot be changed"});
  PoolRecord after = edit(before);
  after.name = before.name;
  after.state = before.state;
  after.created_ms = before.created_ms;
  std::vector<PoolRecord> others;
  for (auto& p : parts_.store.pools())
    if (p.name != name) others.push_back(std::move(p));
  if (auto refusal = record_refusal(after, others)) throw PoolRefused(*refusal);
  // The engine is asked before the lock: it may take its time.
  if (after.image != before.image) check_image(after.image);
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;  // drained and removed meanwhile
  Entry& entry = *it->second;
  if (entry.record.state == PoolState::Draining)
    throw PoolRefused({409, "state", "pool " + name + " is draining: it cannot be changed"});
  // The new settings go into effect before the record is written: an
  // instance recorded from the cut on (the next millisecond, as one recorded
  // in this one may have had the earlier settings) is made with them.
  after.updated_ms = changes_instances(before, after) ? parts_.clock.now_ms() + 1 : before.updated_ms;
  const PoolRecord previous = entry.record;
  apply(entry, after);
  std::optional<PoolRecord> written;
  try {
    written = parts_.store.update_pool(after);
  } catch (...) {
    apply(entry, previous);
    throw;
  }
  if (!written) {  // another manager removed it just now
    apply(entry, previous);
    return std::nullopt;
  }
  spdlog::info("pool {}: changed ({}, ports {}-{}, {} to {} idle){}", name, written->image, written->port_first,
               written->port_last, written->min_idle, written->max_idle,
               written->updated_ms != before.updated_ms ? "; instances made before are replaced" : "");
  return written;
}

void Pools::apply(Entry& entry, const PoolRecord& record) {
  Pool& pool = entry.pool ? *entry.pool : default_pool_;
  pool.change_settings(settings_for(pool.settings(), record));
  entry.record = record;
  floors_.set(record.name, record.min_idle);
  if (entry.scheduler) entry.scheduler->wake();
  else default_scheduler_.wake();
}

}  // namespace warmpool
