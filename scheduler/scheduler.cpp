#include "scheduler/scheduler.hpp"

#include <map>
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

Scheduler::ReconcileReport Scheduler::reconcile() {
  ReconcileReport report;
  const auto containers = engine_.list({{engine::kManagerLabel, pool_.settings().manager_id}});
  std::map<std::int64_t, const engine::ContainerInfo*> by_instance;
  std::set<std::int64_t> live;
  for (const auto& i : store_.instances(Show::Current)) live.insert(i.id);

  for (const auto& c : containers) {
    auto label = c.labels.find(engine::kInstanceLabel);
    std::int64_t id = 0;
    try {
      if (label != c.labels.end()) id = std::stoll(label->second);
    } catch (const std::exception&) {
    }
    auto record = live.count(id) ? store_.instance(id) : std::nullopt;
    if (!record || record->container_id != c.id) {
      spdlog::info("reconcile: removing container {} with no live record", c.id.substr(0, 12));
      engine_.remove(c.id);
      ++report.removed_orphans;
      continue;
    }
    by_instance[id] = &c;
    ++report.adopted;
  }

  for (const auto& instance : store_.instances(Show::Current)) {
    if (by_instance.count(instance.id) || instance.container_id.empty()) continue;
    if (instance.state == InstanceState::Deleting) continue;  // resumed by the tick
    if (!pool_.claim(instance.id)) continue;
    ++report.lost;
    if (auto current = store_.current_allocation_of(instance.id))
      store_.end_allocation(current->id, "instance lost: its container is gone", clock_.now_ms());
    pool_.fault(instance.id, "lost: container " + instance.container_id.substr(0, 12) + " is gone");
  }
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
    auto current = store_.instance(instance.id);
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
  bool reconciled = false;
  while (!stop.stop_requested()) {
    std::string error;
    try {
      if (!reconciled) {
        reconcile();
        reconciled = true;
      }
      tick();
    } catch (const EngineError& e) {
      if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout) {
        engine_ok_ = false;
        pool_.set_engine_state(false, e.what());
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

void Scheduler::watch(std::stop_token stop) {
  const engine::Labels match = {{engine::kManagerLabel, pool_.settings().manager_id}};
  while (!stop.stop_requested()) {
    try {
      engine_.watch_events(match, [&](const engine::Event& e) {
        static const std::set<std::string> kWake = {"die", "oom", "kill", "pause", "unpause", "destroy"};
        if (kWake.count(e.action)) {
          spdlog::debug("event {} on {}", e.action, e.container_id.substr(0, 12));
          wake();
        }
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
