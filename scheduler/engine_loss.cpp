// Several engines: what the scheduler does while one of them is down. Its
// records are left alone (not checked, not judged lost, not counted by
// upkeep, which replaces its idle instances elsewhere at once); after the
// grace they are given up: allocations end with a reason, records go, and
// when the engine comes back its containers are orphans that reconcile
// removes. Back within the grace, reconcile adopts them as they are; those
// whose containers died with it are removed rather than restarted (upkeep
// has replaced them elsewhere meanwhile).
#include <spdlog/spdlog.h>

#include "scheduler/scheduler.hpp"

namespace warmpool {

using engine::EngineError;

std::vector<Instance> Scheduler::on_reachable_engines(std::vector<Instance> instances) {
  std::erase_if(instances, [&](const Instance& i) { return pool_.on_down_engine(i); });
  return instances;
}

bool Scheduler::one_engine_of_several(const EngineError& e) {
  return !e.container_id().empty() && !engine_.engine_up(engine_.engine_of(e.container_id()));
}

void Scheduler::give_up_on_down_engines(std::int64_t now_ms, TickReport& report) {
  const auto live = pool_.own_instances();
  std::map<std::string, std::int64_t> since;
  for (const auto& i : live) {
    if (!pool_.on_down_engine(i)) continue;
    auto it = engine_down_since_.find(i.engine);
    since[i.engine] = it == engine_down_since_.end() ? now_ms : it->second;
  }
  for (const auto& [name, at] : since)
    if (!engine_down_since_.count(name)) spdlog::warn("engine {} is down: its instances wait for it", name);
  engines_back_.clear();
  for (const auto& [name, at] : engine_down_since_)
    if (!since.count(name) && engine_.engine_up(name)) engines_back_.insert(name);
  engine_down_since_ = since;
  for (auto id : pick_engine_lost(live, engine_down_since_, now_ms, settings_.engine_grace.count())) {
    if (!pool_.claim(id)) continue;  // busy: the next tick
    bool given_up = false;
    try {
      given_up = give_up(id, now_ms);
    } catch (...) {
      pool_.unclaim(id);
      throw;
    }
    pool_.unclaim(id);
    report.engine_lost += given_up;
  }
}

// REQUIRES: the claim on id.
bool Scheduler::give_up(std::int64_t id, std::int64_t now_ms) {
  auto record = store_.instance(id);
  if (!record || record->state == InstanceState::Deleted || !pool_.on_down_engine(*record)) return false;
  const std::string why = "engine " + record->engine + " down for more than " +
                          std::to_string(settings_.engine_grace.count() / 1000) + " s";
  if (auto current = store_.current_allocation_of(id))
    store_.end_allocation(current->id, "instance lost: " + why, now_ms);
  record = store_.instance(id);
  if (record->state != InstanceState::Deleting) {
    store_.transition(id, InstanceState::Error, now_ms, "lost: " + why);
    store_.transition(id, InstanceState::Deleting, now_ms);
  }
  store_.transition(id, InstanceState::Deleted, now_ms);
  spdlog::warn("instance {} given up: {}", id, why);
  return true;
}

}  // namespace warmpool
