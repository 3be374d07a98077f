#include "scheduler/scheduler.hpp"

#include <map>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

namespace warmpool {

using engine::ContainerStatus;
using engine::EngineError;

Scheduler::Scheduler(Settings settings, Pool& pool, Store& store, engine::Engine& engine,
                     WorkerClient& worker, const Clock& clock, HostMonitor& host)
    : settings_(settings),
      pool_(pool),
      store_(store),
      engine_(engine),
      worker_(worker),
      clock_(clock),
      host_(host) {}

Scheduler::~Scheduler() { stop(); }

namespace {

// The instance id in a container's warmpool.instance label; 0 when missing.
std::int64_t instance_of(const engine::Labels& labels) {
  auto label = labels.find(engine::kInstanceLabel);
  if (label == labels.end()) return 0;
  try {
    return std::stoll(label->second);
  } catch (const std::exception&) {
    return 0;
  }
}

// States in which an instance's container must exist.
bool expects_container(InstanceState s) {
  return s == InstanceState::Ready || s == InstanceState::Paused ||
         s == InstanceState::Allocated || s == InstanceState::Resetting;
}

}  // namespace

// Safe while the pool works: an instance with an operation in flight (claimed)
// is left alone, and every decision about a live record is taken again under
// its claim, since the listing may be stale by then.
Scheduler::ReconcileReport Scheduler::reconcile() {
  ReconcileReport report;
  const auto containers = engine_.list({{engine::kManagerLabel, pool_.settings().manager_id}});
  // Read after the listing: a record is written before its container is
  // created, so every listed container's record, if any, is here.
  std::map<std::int64_t, Instance> live;
  for (auto& i : store_.instances(Show::Current)) live.emplace(i.id, std::move(i));
  std::set<std::string> listed;

  auto remove_orphan = [&](const engine::ContainerInfo& c) {
    spdlog::info("reconcile: removing container {} with no live record", c.id.substr(0, 12));
    engine_.remove(c.id);
    ++report.removed_orphans;
  };
  for (const auto& c : containers) {
    listed.insert(c.id);
    const std::int64_t id = instance_of(c.labels);
    auto record = live.find(id);
    if (record == live.end()) {
      remove_orphan(c);
      continue;
    }
    if (record->second.container_id == c.id) {
      ++report.adopted;
      continue;
    }
    // A live record holding another container, or none yet: this one may be
    // the record's own, created but not yet recorded. Decide under the claim.
    if (!pool_.claim(id)) continue;
    try {
      auto now = store_.instance(id);
      if (!now || now->container_id != c.id) remove_orphan(c);
      else ++report.adopted;
    } catch (...) {
      pool_.unclaim(id);
      throw;
    }
    pool_.unclaim(id);
  }

  for (const auto& [id, instance] : live) {
    if (!expects_container(instance.state) || instance.container_id.empty() ||
        listed.count(instance.container_id))
      continue;
    if (!pool_.claim(id)) continue;
    // The container may have been created after the listing: ask the engine.
    bool gone = false;
    std::optional<Instance> now;
    try {
      now = store_.instance(id);
      if (now && expects_container(now->state) && !now->container_id.empty()) {
        try {
          engine_.inspect(now->container_id);
        } catch (const EngineError& e) {
          if (e.kind() != EngineError::Kind::NotFound) throw;
          gone = true;
        }
      }
      if (gone) {
        if (auto current = store_.current_allocation_of(id))
          store_.end_allocation(current->id, "instance lost: its container is gone", clock_.now_ms());
      }
    } catch (...) {
      pool_.unclaim(id);
      throw;
    }
    if (!gone) {
      pool_.unclaim(id);
      continue;
    }
    ++report.lost;
    pool_.fault(id, "lost: container " + now->container_id.substr(0, 12) + " is gone");
  }

  const bool first = first_reconcile_.exchange(false);
  if (first || report.removed_orphans > 0 || report.lost > 0)
    spdlog::info("reconcile: {} adopted, {} orphan containers removed, {} records lost",
                 report.adopted, report.removed_orphans, report.lost);
  return report;
}

// Returns false when the instance was found faulty (and reported).
bool Scheduler::check(const Instance& instance) {
  const auto& settings = pool_.settings();
  std::string fault;
  try {
    if (instance.state == InstanceState::Ready) {
      worker_.ping(instance.endpoint(), settings.ping_timeout);
    } else {
      auto info = engine_.inspect(instance.container_id);
      const auto expected =
          instance.state == InstanceState::Paused ? ContainerStatus::Paused : ContainerStatus::Running;
      if (instance.state == InstanceState::Paused && info.status == ContainerStatus::Running) {
        // Unpaused by someone else, or by a hand-out the manager did not live
        // to commit: its worker was reset before the pause, so if it answers
        // it is simply running-idle (upkeep pauses it again if need be).
        worker_.ping(instance.endpoint(), settings.ping_timeout);
        store_.transition(instance.id, InstanceState::Ready, clock_.now_ms());
        return true;
      }
      if (info.status != expected)
        fault = std::string("container is ") + engine::to_string(info.status) +
                (info.oom_killed ? " (out of memory)" : "") + ", expected " +
                engine::to_string(expected);
    }
  } catch (const EngineError& e) {
    if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout)
      throw;  // the engine is the problem, not the instance
    fault = e.what();
  } catch (const WorkerError& e) {
    fault = e.what();
  }
  if (fault.empty()) return true;

  if (instance.state == InstanceState::Allocated) {
    if (auto current = store_.current_allocation_of(instance.id))
      store_.end_allocation(current->id, "instance lost: " + fault, clock_.now_ms());
  }
  pool_.fault(instance.id, "health check: " + fault);
  return false;
}

Scheduler::TickReport Scheduler::tick() {
  TickReport report;
  engine_.version();  // throws while the engine is unreachable: nothing below can work
  engine_ok_ = true;
  pool_.set_engine_state(true);
  const std::int64_t now = clock_.now_ms();
  const HostUsage usage = host_.sample();

  // Every tick, not only at start-up: a container the records lost track of
  // (a failed record write, an engine that restarted) is found within a period.
  const auto reconciled = reconcile();
  report.orphans = reconciled.removed_orphans;
  report.lost = reconciled.lost;

  for (const auto& id : pick_expired(store_.allocations(Show::Current), now)) {
    pool_.release(id, "lease expired");
    ++report.expired;
  }

  for (const auto& instance : store_.instances(Show::Current)) {
    const auto state = instance.state;
    const bool checked = state == InstanceState::Ready || state == InstanceState::Paused ||
                         state == InstanceState::Allocated;
    const bool unfinished = state == InstanceState::Starting || state == InstanceState::Resetting ||
                            state == InstanceState::Deleting || state == InstanceState::Error;
    if (!checked && !unfinished) continue;
    if (!pool_.claim(instance.id)) continue;  // an operation is in flight
    // Re-read under the claim: the snapshot may be stale.
    std::optional<Instance> current;
    try {
      current = store_.instance(instance.id);
    } catch (...) {
      pool_.unclaim(instance.id);
      throw;
    }
    if (!current || current->state != state) {
      pool_.unclaim(instance.id);
      continue;
    }
    if (unfinished) {
      pool_.resume(instance.id);
      ++report.resumed;
      continue;
    }
    bool healthy = false;
    try {
      healthy = check(*current);
    } catch (...) {
      pool_.unclaim(instance.id);
      throw;
    }
    if (healthy) pool_.unclaim(instance.id);
    else ++report.faults;
  }

  const auto plan = plan_upkeep(store_.instances(Show::Current), pool_.claimed(),
                                pool_.settings().policy, pool_.capacity(), usage, now);
  for (int k = 0; k < plan.create; ++k) {
    try {
      pool_.add_instance();
      ++report.created;
    } catch (const PoolConflict& e) {
      spdlog::debug("upkeep: {}", e.what());
      break;
    }
  }
  auto settle = [&](std::int64_t id, InstanceState target, int& counter) {
    if (!pool_.claim(id)) return;
    try {
      pool_.settle(id, target);
      ++counter;
      pool_.unclaim(id);
    } catch (const EngineError& e) {
      if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout) {
        pool_.unclaim(id);  // the engine is the problem, not the instance
        throw;
      }
      pool_.fault(id, std::string("upkeep: ") + e.what());
    } catch (const std::exception& e) {
      pool_.fault(id, std::string("upkeep: ") + e.what());
    }
  };
  for (auto id : plan.pause) settle(id, InstanceState::Paused, report.paused);
  for (auto id : plan.unpause) settle(id, InstanceState::Ready, report.unpaused);
  for (auto id : plan.remove) {
    try {
      if (pool_.delete_instance(id, "idle pool shrink")) ++report.removed;
    } catch (const PoolConflict&) {
    }
  }
  return report;
}

void Scheduler::start() {
  loop_thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
  if (settings_.watch_events)
    watch_thread_ = std::jthread([this](std::stop_token stop) { watch(stop); });
}

void Scheduler::stop() noexcept {
  loop_thread_.request_stop();
  watch_thread_.request_stop();
  wake();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
}

void Scheduler::wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  wake_cv_.notify_all();
}

std::string Scheduler::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void Scheduler::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::string error;
    try {
      tick();
    } catch (const EngineError& e) {
      if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout) {
        engine_ok_ = false;
        pool_.set_engine_state(false, e.what(), e.kind() == EngineError::Kind::Timeout);
      }
      error = e.what();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) spdlog::warn("scheduler: tick failed: {}", error);
    std::unique_lock lock(mu_);
    last_error_ = error;
    wake_cv_.wait_for(lock, stop, settings_.period, [&] { return woken_; });
    woken_ = false;
  }
}

// A death always is. A pause or unpause is only when someone else did it:
// the pool pauses and unpauses under a claim and records the state before it
// lets go, so an event that arrives while the instance is claimed, or agrees
// with the record, is the pool's own (each hand-out and release makes one).
// One that disagrees may just be late: the container's state now decides.
bool Scheduler::worth_a_look(const engine::Event& e) {
  static const std::set<std::string> kDeath = {"die", "oom", "kill", "destroy"};
  if (kDeath.count(e.action)) return true;
  if (e.action != "pause" && e.action != "unpause") return false;
  const std::int64_t id = instance_of(e.labels);
  if (pool_.claimed().count(id)) return false;
  try {
    auto record = store_.instance(id);
    if (!record || record->container_id != e.container_id) return true;
    ContainerStatus expected = ContainerStatus::Running;
    if (record->state == InstanceState::Paused) expected = ContainerStatus::Paused;
    else if (record->state != InstanceState::Ready && record->state != InstanceState::Allocated &&
             record->state != InstanceState::Resetting)
      return false;  // being recovered: the next tick looks at it anyway
    const bool agrees = (e.action == "pause") == (expected == ContainerStatus::Paused);
    return !agrees && engine_.inspect(e.container_id).status != expected;
  } catch (const std::exception&) {
    return true;
  }
}

void Scheduler::watch(std::stop_token stop) {
  const engine::Labels match = {{engine::kManagerLabel, pool_.settings().manager_id}};
  while (!stop.stop_requested()) {
    try {
      engine_.watch_events(match, [&](const engine::Event& e) {
        if (!worth_a_look(e)) return;
        spdlog::debug("event {} on {}", e.action, e.container_id.substr(0, 12));
        wake();
      }, stop);
    } catch (const std::exception& e) {
      spdlog::debug("event stream: {}", e.what());
    }
    // Reconnect after a pause, unless stopping.
    std::unique_lock lock(mu_);
    wake_cv_.wait_for(lock, stop, settings_.period, [] { return false; });
  }
}

}  // namespace warmpool
