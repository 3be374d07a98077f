// An instance's life off the hot path (normal lane): create, restart, remove,
// and recovery from faults. Create and restart share one bring-up sequence.
#include <thread>

#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"
#include "pool/pool.hpp"

namespace warmpool {

using engine::EngineError;
using std::chrono::milliseconds;

namespace {
constexpr int kPortAttempts = 3;  // picks of a free port raced away before giving up
}  // namespace

Instance Pool::add_instance() {
  std::lock_guard lock(mu_);
  if (auto refusal = creation_refusal(store_.instances(Show::Current)))
    throw PoolConflict("cannot create an instance: " + *refusal);
  auto instance = add_instance_locked();
  if (!instance) throw PoolConflict("cannot create an instance: no free port in the range");
  return *instance;
}

std::optional<Instance> Pool::add_instance_locked() {
  std::optional<Instance> added;
  // Another manager, or another pool here, may take the port picked from the
  // listing before the record is written: then pick again from a new one.
  for (int attempt = 1; !added; ++attempt) {
    auto port = pick_port(store_.instances(Show::Current), settings().worker_host,
                          settings().port_first, settings().port_last);
    if (!port) return std::nullopt;
    try {
      added = store_.add_instance(settings().worker_host, *port, clock_.now_ms(), settings().name);
    } catch (const PortTaken&) {
      if (attempt == kPortAttempts) throw;
    }
  }
  Instance& instance = *added;
  if (!hold_in_store(instance.id)) return instance;  // another manager's upkeep took it on
  claimed_.insert(instance.id);  // held until create() ends
  if (!post(Lane::Normal, [this, id = instance.id] { create(id); })) {
    claimed_.erase(instance.id);
    let_go_in_store(instance.id);
    spdlog::warn("instance {}: normal lane full; creation left to upkeep", instance.id);
  }
  return instance;
}

void Pool::request_instances_for_waiters() {
  std::lock_guard lock(mu_);
  if (!engine_error_.empty()) return;
  auto instances = store_.instances(Show::Current);
  // This pool's instances that will soon be idle: fresh ones starting
  // (restarting ones are suspect), ones being reset, and idle ones another
  // operation holds (a pause, a health check; not a hand-out: that one is
  // leaving, and counting it left a third waiter of three with nothing).
  int coming = 0;
  for (const auto& i : instances)
    coming += i.pool == settings().name &&
              ((i.state == InstanceState::Starting && i.restarts == 0) || i.state == InstanceState::Resetting ||
               (is_idle(i.state) && claimed_.count(i.id) && !handing_out_.count(i.id)));
  while (coming < waiting_ && !creation_refusal(instances)) {
    auto added = add_instance_locked();
    if (!added) break;
    instances.push_back(*added);
    ++coming;
  }
}

// The demand model forecasts over the time a create takes: from the record
// to a ready worker. A create resumed after a restart of the manager says
// nothing about that.
void Pool::learn_lead_time(std::int64_t id) {
  auto instance = store_.instance(id);
  if (!instance) return;
  const std::int64_t took = clock_.now_ms() - instance->created_ms;
  if (took > 0 && took <= settings().ready_timeout.count()) demand_.created(took);
}

engine::ContainerSpec Pool::spec_for(const Instance& instance) const {
  engine::ContainerSpec spec = settings().container;
  spec.image = settings().image;
  spec.name = "warmpool-" + settings().manager_id + "-" + std::to_string(instance.id);
  spec.labels[engine::kManagerLabel] = settings().manager_id;
  spec.labels[engine::kInstanceLabel] = std::to_string(instance.id);
  spec.labels[engine::kPoolLabel] = settings().name;
  // Instances share the host's network: each listens on its own port of the
  // range, which it finds in its environment.
  spec.env.push_back("HOST=" + instance.host);
  spec.env.push_back("PORT=" + std::to_string(instance.port));
  if (!settings().protocol.speaks_worker()) return spec;  // the image's own command
  spec.cmd = {"serve", "--host", instance.host, "--port", std::to_string(instance.port)};
  spec.cmd.insert(spec.cmd.end(), settings().worker_args.begin(), settings().worker_args.end());
  if (!settings().control_key.empty())
    spec.env.push_back("WARMPOOL_CONTROL_SECRET=" + control_secret(settings().control_key, instance.endpoint()));
  return spec;
}

// REQUIRES: the claim on id (taken by add_instance_locked); released here.
void Pool::create(std::int64_t id) {
  try {
    bring_up(id, &Pool::create_container);
    learn_lead_time(id);
  } catch (const EngineError& e) {
    // An engine that is down or hangs says nothing about the instance: it
    // stays starting, and the scheduler resumes the create once the engine
    // answers, without using up a restart.
    const bool engine_at_fault = e.kind() == EngineError::Kind::Unreachable ||
                                 (e.kind() == EngineError::Kind::Timeout && !engine_answers(""));
    note_if_unreachable(e);
    if (engine_at_fault) {
      spdlog::warn("instance {}: create waits for the engine: {}", id, e.what());
      unclaim(id);
      return;
    }
    fail(id, std::string("create: ") + e.what(), Retry::NextTick);
    return;
  } catch (const std::exception& e) {
    fail(id, std::string("create: ") + e.what(), Retry::NextTick);
    return;
  }
  unclaim(id);
  notify_idle();
}

// REQUIRES: the claim on id; released here.
void Pool::restart(std::int64_t id) {
  try {
    bring_up(id, &Pool::restart_container);
  } catch (const std::exception& e) {
    note_if_unreachable(e);
    if (metrics_) metrics_->count_restart(settings().name, false);
    fail(id, std::string("restart: ") + e.what(), Retry::NextTick);
    return;
  }
  if (metrics_) metrics_->count_restart(settings().name, true);
  spdlog::info("instance {} restarted", id);
  unclaim(id);
  notify_idle();
}

// The one way a record gets a working container: start it (new or
// restarted), wait for the worker's first ping, record Ready, then take the
// idle state the policy wants. Throws on any failure; the caller records it.
void Pool::bring_up(std::int64_t id, void (Pool::*start_container)(const Instance&)) {
  auto instance = store_.instance(id);
  if (!instance) throw StoreError("no instance " + std::to_string(id));
  (this->*start_container)(*instance);
  wait_ready(*instance);
  set_engine_state(true);  // it did all we asked
  store_.transition(id, InstanceState::Ready, clock_.now_ms());
  set_idle_state(id, idle_state_for(own_instances(), id, settings().policy));
}

void Pool::create_container(const Instance& instance) {
  const std::string container = engine_.create(spec_for(instance));
  store_.set_container(instance.id, container, engine_.engine_of(container), clock_.now_ms());
  engine_.start(container);
}

void Pool::restart_container(const Instance& instance) {
  if (instance.container_id.empty()) return create_container(instance);
  try {
    // The engine's own pause (ours, or someone's by hand) is undone through
    // the engine, which refuses to stop a container it holds paused; then
    // the cgroup is thawed, since a frozen process cannot die.
    auto info = engine_.inspect(instance.container_id);
    if (info.status == engine::ContainerStatus::Paused) engine_.unpause(instance.container_id);
    pauser_.thaw_before_stop(instance.container_id);
    // No grace: the restart throws the processes' state away anyway, and a
    // process 1 without a SIGTERM handler (the pi worker) ignores SIGTERM,
    // so any grace is waited out in full (1 s was most of a restart's cost).
    engine_.stop(instance.container_id, std::chrono::seconds(0));
    engine_.start(instance.container_id);
  } catch (const EngineError& e) {
    if (e.kind() == EngineError::Kind::NotFound) return create_container(instance);  // gone: a new one
    if (e.kind() != EngineError::Kind::Server) throw;
    // The engine answers but cannot start this container (a task that a
    // killed dockerd left behind, say): another restart would meet the same
    // refusal, so the record gets a new container now.
    spdlog::warn("instance {}: restart: {}; making a new container", instance.id, e.what());
    try {
      engine_.remove(instance.container_id);
    } catch (const EngineError& gone) {
      if (gone.kind() != EngineError::Kind::NotFound) throw;
    }
    create_container(instance);
  }
}

void Pool::wait_ready(const Instance& instance) {
  const auto give_up = steady_.now() + settings().ready_timeout;
  auto pause = milliseconds(10);
  for (;;) {
    try {
      check_health(instance);
      return;
    } catch (const WorkerError& e) {
      // Once backing off at its slowest (after about 0.3 s), ask whether the
      // container has exited: it will never answer; say so now, not at the timeout.
      const auto exited = pause == milliseconds(200) ? container_exit(instance.id) : std::string();
      if (!exited.empty()) throw WorkerError(std::string("instance not ready: ") + e.what() + "; " + exited);
      if (steady_.now() + pause > give_up)
        throw WorkerError("instance not ready after " +
                          std::to_string(settings().ready_timeout.count()) + " ms: " + e.what());
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(200));
  }
}

std::string Pool::container_exit(std::int64_t id) {
  const auto record = store_.instance(id);
  if (!record || record->container_id.empty()) return {};
  try {
    const auto info = engine_.inspect(record->container_id);
    if (info.status != engine::ContainerStatus::Exited && info.status != engine::ContainerStatus::Dead) return {};
    return "its container exited with code " + std::to_string(info.exit_code) +
           (info.oom_killed ? " (killed for memory: raise the pool's memoryMb)" : "");
  } catch (const EngineError&) {
    return {};  // the engine's trouble is reported where it is called
  }
}

void Pool::set_idle_state(std::int64_t id, InstanceState target) {
  auto instance = store_.instance(id);
  if (!instance || instance->state == target) return;
  if (target == InstanceState::Paused) pauser_.pause(instance->container_id);
  if (target == InstanceState::Ready) pauser_.unpause(instance->container_id);
  store_.transition(id, target, clock_.now_ms());
}

std::optional<Instance> Pool::delete_instance(std::int64_t id, const std::string& reason) {
  auto instance = store_.instance(id);
  if (!instance) return std::nullopt;
  if (instance->state == InstanceState::Deleted || instance->state == InstanceState::Deleting)
    return instance;
  if (!claim(id)) throw PoolConflict("instance " + std::to_string(id) + " is busy; try again");
  try {
    if (auto current = store_.current_allocation_of(id))
      store_.end_allocation(current->id, "instance deleted: " + reason, clock_.now_ms());
    // Record the intent first, so that a restart finishes the removal.
    instance = store_.transition(id, InstanceState::Deleting, clock_.now_ms());
  } catch (...) {
    unclaim(id);
    throw;
  }
  post_or_unclaim(id, [this, id, reason] { remove(id, reason); });
  return instance;
}

// REQUIRES: the claim on id; released here. A failure leaves the instance
// `deleting`. When the engine answered but would not remove this container,
// the next try backs off; an engine that is down is the scheduler's concern.
void Pool::remove(std::int64_t id, const std::string& reason) {
  std::string container;
  try {
    auto instance = store_.instance(id);
    if (!instance) throw StoreError("no instance " + std::to_string(id));
    container = instance->container_id;
    if (instance->state != InstanceState::Deleting)
      store_.transition(id, InstanceState::Deleting, clock_.now_ms());
    if (!container.empty()) {
      pauser_.thaw_before_stop(container);  // a frozen process cannot die
      engine_.remove(container);
      pauser_.forget(container);
    }
    store_.transition(id, InstanceState::Deleted, clock_.now_ms());
    spdlog::info("instance {} deleted: {}", id, reason);
    std::lock_guard lock(mu_);
    removal_backoff_.succeeded(container);
  } catch (const EngineError& e) {
    note_if_unreachable(e);
    const bool container_refused =
        e.kind() != EngineError::Kind::Unreachable && e.kind() != EngineError::Kind::Timeout;
    std::lock_guard lock(mu_);
    if (container_refused) removal_backoff_.failed(container, clock_.now_ms());
    spdlog::warn("instance {}: removal failed (attempt {}): {}", id,
                 removal_backoff_.failures(container), e.what());
  } catch (const std::exception& e) {
    spdlog::warn("instance {}: removal failed: {}", id, e.what());
  }
  unclaim(id);
}

void Pool::remove_all(const std::string& reason) {
  std::vector<Instance> instances;
  try {
    instances = own_instances();
  } catch (const StoreError& e) {
    spdlog::error("cannot list the instances to remove: {}", e.what());
    return;
  }
  for (const auto& instance : instances) {
    try {
      if (auto current = store_.current_allocation_of(instance.id))
        store_.end_allocation(current->id, reason, clock_.now_ms());
    } catch (const StoreError& e) {
      spdlog::warn("instance {}: cannot end its allocation: {}", instance.id, e.what());
    }
    remove(instance.id, reason);
  }
}

std::optional<Instance> Pool::restart_instance(std::int64_t id) {
  auto instance = store_.instance(id);
  if (!instance) return std::nullopt;
  if (!claim(id)) throw PoolConflict("instance " + std::to_string(id) + " is busy; try again");
  try {
    if (instance->state == InstanceState::Deleting || instance->state == InstanceState::Deleted)
      throw PoolConflict("instance " + std::to_string(id) + " is " + to_string(instance->state));
    if (auto current = store_.current_allocation_of(id))
      store_.end_allocation(current->id, "instance restarted by an operator", clock_.now_ms());
    if (instance->state != InstanceState::Error)
      store_.transition(id, InstanceState::Error, clock_.now_ms(), "restart requested");
    instance = store_.restart(id, clock_.now_ms());
  } catch (...) {
    unclaim(id);
    throw;
  }
  post_or_unclaim(id, [this, id] { restart(id); });
  return instance;
}

// Counts the fault and records it (state error, with the reason); a store
// that refuses is logged: the claim's holder goes on either way.
void Pool::record_fault(std::int64_t id, const std::string& error) {
  if (metrics_) metrics_->count_fault(settings().name);
  try {
    store_.transition(id, InstanceState::Error, clock_.now_ms(), error);
  } catch (const StoreError& e) {
    spdlog::error("instance {}: cannot record the error: {}", id, e.what());
  }
}

void Pool::fail(std::int64_t id, const std::string& error, Retry retry) {
  spdlog::warn("instance {}: {}", id, error);
  record_fault(id, error);
  if (retry == Retry::Now) post_or_unclaim(id, [this, id] { recover(id); });
  else unclaim(id);  // the scheduler resumes it on its next tick
  notify_idle();  // waiters re-evaluate: they may need a new instance now
}

void Pool::retire(std::int64_t id, const std::string& error) {
  spdlog::warn("instance {}: {}; removing it", id, error);
  record_fault(id, error);
  post_or_unclaim(id, [this, id, error] { remove(id, error); });
  notify_idle();
}

// REQUIRES: the claim on id; it passes to the restart or removal.
void Pool::recover(std::int64_t id) {
  std::optional<Instance> instance;
  try {
    instance = store_.instance(id);
  } catch (const StoreError& e) {
    spdlog::warn("instance {}: cannot read it to recover it: {}", id, e.what());
  }
  // With the engine down a restart cannot work; the scheduler resumes this
  // instance on a later tick, which paces the retries.
  if (!instance || instance->state != InstanceState::Error || engine_down()) {
    unclaim(id);
    return;
  }
  if (instance->restarts >= settings().max_restarts) {
    if (metrics_) metrics_->count_replacement(settings().name);
    remove(id, "replaced after " + std::to_string(instance->restarts) + " failed restarts");
    notify_idle();  // waiters re-evaluate, and create a replacement if they still need one
    return;
  }
  // Made under the pool's earlier settings (a PATCH), it may fail only
  // because the checks changed: a restart would bring the old image back.
  if (outdated(*instance)) {
    remove(id, "made under the pool's earlier settings");
    notify_idle();
    return;
  }
  // Ask the engine first: a restart that fails for want of the engine says
  // nothing about the instance, and must not use up its restarts.
  if (!engine_answers(instance->container_id)) {
    unclaim(id);
    return;
  }
  try {
    store_.restart(id, clock_.now_ms());
  } catch (const std::exception& e) {
    spdlog::error("instance {}: cannot restart: {}", id, e.what());
    unclaim(id);
    return;
  }
  restart(id);
}

bool Pool::removal_due(const Instance& instance) {
  std::lock_guard lock(mu_);
  return removal_backoff_.due(instance.container_id, clock_.now_ms());
}

void Pool::resume(std::int64_t id) {
  std::optional<Instance> instance;
  try {
    instance = store_.instance(id);
  } catch (...) {
    unclaim(id);
    throw;
  }
  if (!instance) {
    unclaim(id);
    return;
  }
  switch (instance->state) {
    case InstanceState::Starting:
      post_or_unclaim(id, [this, id] { restart(id); });
      break;
    case InstanceState::Resetting:
      unclaim(id);  // recycle claims for itself
      post(reset_lane(settings().protocol), [this, id] { recycle(id, /*resumed=*/true); });
      break;
    case InstanceState::Deleting:
      if (removal_due(*instance)) post_or_unclaim(id, [this, id] { remove(id, "resumed"); });
      else unclaim(id);
      break;
    case InstanceState::Error:
      post_or_unclaim(id, [this, id] { recover(id); });
      break;
    default:
      unclaim(id);
  }
}

}  // namespace warmpool
