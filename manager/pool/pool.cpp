#include "pool/pool.hpp"

#include <sys/random.h>

#include <atomic>
#include <future>
#include <thread>

#include <spdlog/spdlog.h>

#include "base/text.hpp"
#include "host/host.hpp"
#include "metrics/metrics.hpp"

namespace warmpool {

namespace {

using engine::EngineError;
using std::chrono::milliseconds;

// 128 random bits from the kernel, as 32 hex digits: unguessable ids.
std::string new_allocation_id() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  return to_hex(bytes, sizeof bytes);
}

constexpr auto kNoDeadline = std::chrono::hours(24 * 365);

// Reads the record of an instance the caller has claimed. A store that fails
// gets the claim back (the scheduler's next tick resumes the instance) and
// the error goes on.
std::optional<Instance> read_claimed(Store& store, Pool& pool, std::int64_t id) {
  try {
    return store.instance(id);
  } catch (const StoreError& e) {
    spdlog::warn("instance {}: cannot read its record: {}", id, e.what());
    pool.unclaim(id);
    throw;
  }
}

}  // namespace

Pool::Pool(PoolSettings settings, Store& store, engine::Engine& engine, WorkerClient& worker,
           Lanes& lanes, const Clock& clock, HostMonitor* host, Metrics* metrics)
    : settings_(std::move(settings)),
      store_(store),
      engine_(engine),
      worker_(worker),
      lanes_(lanes),
      clock_(clock),
      host_(host),
      metrics_(metrics) {}

// ---------------------------------------------------------------------------
// Hand-out: the hot path.

Allocation Pool::allocate(const AllocateRequest& request) {
  const auto started = SteadyClock::now();
  bool waited = false;
  for (;;) {
    HandOut attempt = hand_out_on_high_lane(request);
    if (attempt.allocation) {
      if (metrics_) {
        const HandOutPath path = waited ? HandOutPath::Cold
                                 : attempt.was == InstanceState::Paused ? HandOutPath::Paused
                                                                        : HandOutPath::Running;
        metrics_->observe_hand_out(path, std::chrono::duration<double>(SteadyClock::now() - started).count());
      }
      return *attempt.allocation;
    }
    waited = true;

    // Nothing idle. Without an engine no instance can come: say so now.
    if (auto down = engine_down())
      throw AllocateError(AllocateError::Kind::EngineDown,
                          "no idle instance, and the container engine is unreachable: " + *down);
    // Make sure instances are coming, then wait for one.
    std::unique_lock lock(mu_);
    ++waiting_;
    // From here on, an event that may free an instance wakes one waiter (not
    // all: then every freed instance was fought over by every waiter on the
    // high lane, 26 hand-out attempts per request with 200 clients on a pool
    // of 8). An event that came after this request looked but before it
    // counted as waiting woke nobody for it: then it looks again at once.
    bool changed = idle_generation_ != attempt.idle_generation;
    lock.unlock();
    request_instances_for_waiters();
    lock.lock();
    if (!changed) {
      changed = idle_changed_.wait_until(lock, request.deadline, [&] { return wakeups_ > 0; });
      if (changed) --wakeups_;
    }
    --waiting_;
    wakeups_ = std::min(wakeups_, waiting_);  // none kept for waiters that have gone
    if (!changed) {
      std::string why = "no instance became available before the deadline";
      lock.unlock();
      if (auto refusal = create_refusal(store_.instances(Show::Current), settings_.policy,
                                        settings_.capacity, host_usage()))
        why += " (" + *refusal + ")";
      throw AllocateError(AllocateError::Kind::Timeout, why);
    }
  }
}

// The caller and its hand-out task agree on who decides the outcome: the
// caller may give up at its deadline only while the task has not begun to
// commit, and the task commits only if the caller has not given up.
struct Pool::HandOutCall {
  enum Stage { Running, Committing, Abandoned };
  std::promise<HandOut> result;
  std::atomic<int> stage{Running};
};

Pool::HandOut Pool::hand_out_on_high_lane(const AllocateRequest& request) {
  auto call = std::make_shared<HandOutCall>();
  auto future = call->result.get_future();
  const bool queued = lanes_.submit(
      Lane::High, request.deadline,
      [this, request, call] {
        try {
          call->result.set_value(try_hand_out(request, *call));
        } catch (...) {
          call->result.set_exception(std::current_exception());
        }
      },
      [call] {
        call->result.set_exception(std::make_exception_ptr(AllocateError(
            AllocateError::Kind::Timeout, "the request waited in the queue past its deadline")));
      });
  if (!queued) throw AllocateError(AllocateError::Kind::QueueFull, "the allocation queue is full");
  // An engine or worker call may outlast the request's deadline (a hung
  // engine answers nothing for its whole timeout): answer by the deadline and
  // leave the task to put its instance back.
  if (future.wait_until(request.deadline) == std::future_status::timeout) {
    int running = HandOutCall::Running;
    if (call->stage.compare_exchange_strong(running, HandOutCall::Abandoned)) {
      if (auto down = engine_down())
        throw AllocateError(AllocateError::Kind::EngineDown,
                            "the container engine is unreachable: " + *down);
      throw AllocateError(AllocateError::Kind::Timeout,
                          "the hand-out's health check did not finish before the deadline");
    }
    // It is committing: a database write away.
  }
  return future.get();
}

Pool::HandOut Pool::try_hand_out(const AllocateRequest& request, HandOutCall& call) {
  for (;;) {
    if (call.stage == HandOutCall::Abandoned)  // the caller has gone: try no more instances
      throw AllocateError(AllocateError::Kind::Timeout, "abandoned at the request's deadline");
    auto [id, generation] = claim_idle();
    if (!id) return HandOut{std::nullopt, generation};
    if (test_on_claim) test_on_claim(*id);

    auto instance = read_claimed(store_, *this, *id);
    if (instance->state == InstanceState::Paused) {
      // Unpausing needs the engine. One that refuses connections fails the
      // call at once (and is back as soon as it answers); one that hangs
      // would hold this thread for its whole timeout: do not ask it.
      std::unique_lock lock(mu_);
      if (engine_hung_) {
        const std::string why = engine_error_;
        lock.unlock();
        unclaim(*id);
        throw AllocateError(AllocateError::Kind::EngineDown,
                            "every idle instance is paused, and the container engine does not answer: " + why);
      }
    }
    try {
      if (instance->state == InstanceState::Paused) {
        try {
          engine_.unpause(instance->container_id);
        } catch (const EngineError& e) {
          // Not paused after all (an unpause whose answer was lost, someone
          // else's)? Then the reset and ping below decide whether it serves.
          // (Docker 20.10 says so with a 500, newer engines with a 409.)
          if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout ||
              engine_.inspect(instance->container_id).status != engine::ContainerStatus::Running)
            throw;
        }
      }
      worker_.reset(instance->endpoint(), settings_.reset_timeout);
      worker_.ping(instance->endpoint(), settings_.ping_timeout);
    } catch (const EngineError& e) {
      if (e.kind() == EngineError::Kind::Unreachable) {
        observe(e);
        unclaim(*id);
        throw AllocateError(AllocateError::Kind::EngineDown,
                            std::string("the container engine is unreachable: ") + e.what());
      }
      if (e.kind() == EngineError::Kind::Timeout) {
        judge_timeout(*id, std::string("hand-out: ") + e.what());
        throw AllocateError(AllocateError::Kind::EngineDown,
                            std::string("the container engine did not answer in time: ") + e.what());
      }
      fail(*id, std::string("hand-out: ") + e.what());
      continue;
    } catch (const WorkerError& e) {
      fail(*id, std::string("hand-out: ") + e.what());
      continue;
    }

    const std::int64_t now = clock_.now_ms();
    int running = HandOutCall::Running;
    if (SteadyClock::now() > request.deadline ||
        !call.stage.compare_exchange_strong(running, HandOutCall::Committing)) {
      put_back(*instance);  // the caller has given up; keep it for the next one
      throw AllocateError(AllocateError::Kind::Timeout,
                          "the health check finished after the request's deadline");
    }
    std::int64_t lease = request.lease_ms > 0 ? request.lease_ms : settings_.default_lease_ms;
    lease = std::min(lease, settings_.max_lease_ms);
    try {
      Allocation allocation =
          store_.allocate(*id, new_allocation_id(), request.client, now, now + lease);
      {
        std::lock_guard lock(mu_);
        claimed_.erase(*id);  // allocated, not idle: no waiter to wake
      }
      return HandOut{allocation, 0, instance->state};
    } catch (const StaleState&) {
      unclaim(*id);  // moved by someone else meanwhile; try the next one
      if (SteadyClock::now() > request.deadline)  // the caller is waiting on this commit
        throw AllocateError(AllocateError::Kind::Timeout, "no instance could be committed before the deadline");
      call.stage = HandOutCall::Running;
    } catch (...) {
      put_back(*instance);  // the database refused the commit
      throw;
    }
  }
}

// An engine call timed out on a claimed instance: either the engine hangs (no
// fault of the instance) or this container is stuck. Off the hot path, ask
// the engine something simple: if it answers, the instance is at fault.
// REQUIRES: the caller holds the claim on id; it passes to the judgement.
void Pool::judge_timeout(std::int64_t id, const std::string& error) {
  post_or_unclaim(id, [this, id, error] {
    if (engine_answers("")) fail(id, error);
    else unclaim(id);  // noted down; the scheduler's checks take it from here
  });
}

// A hand-out abandoned after its checks: the instance is healthy and running
// now. Record that; if the database refuses, pause it again, so that the
// container still matches its record and nothing needs recovering later.
// REQUIRES: the caller holds the claim on instance.id; this releases it.
void Pool::put_back(const Instance& instance) {
  if (instance.state == InstanceState::Paused) {
    try {
      store_.transition(instance.id, InstanceState::Ready, clock_.now_ms());
    } catch (const StoreError& e) {
      spdlog::warn("instance {}: cannot record it running ({}); pausing it again", instance.id, e.what());
      try {
        engine_.pause(instance.container_id);
      } catch (const std::exception& pause_error) {
        spdlog::warn("instance {}: {}", instance.id, pause_error.what());  // the scheduler's check finds it
      }
    }
  }
  unclaim(instance.id);
  notify_idle();
}

std::pair<std::optional<std::int64_t>, std::uint64_t> Pool::claim_idle() {
  std::lock_guard lock(mu_);
  auto id = pick_idle(store_.instances(Show::Current), claimed_);
  if (id) claimed_.insert(*id);
  return {id, idle_generation_};
}

// ---------------------------------------------------------------------------
// Release.

std::optional<Allocation> Pool::release(const std::string& allocation_id,
                                        const std::string& reason) {
  bool ended_now = false;
  auto allocation = store_.end_allocation(allocation_id, reason, clock_.now_ms(), &ended_now);
  // If the lane is full the instance stays `resetting`; upkeep recycles it.
  if (allocation && ended_now)
    post(Lane::High, [this, id = allocation->instance_id] { recycle(id); });
  return allocation;
}

std::optional<Allocation> Pool::renew(const std::string& allocation_id, std::int64_t lease_ms) {
  lease_ms = std::clamp<std::int64_t>(lease_ms, 1, settings_.max_lease_ms);
  return store_.renew(allocation_id, clock_.now_ms() + lease_ms);
}

void Pool::recycle(std::int64_t id, bool resumed) {
  if (!claim(id)) return;  // someone else (a delete) has it
  auto instance = read_claimed(store_, *this, id);
  if (!instance || instance->state != InstanceState::Resetting) {
    unclaim(id);
    return;
  }
  try {
    // A manager killed after pausing it, before recording that, left it
    // paused: a frozen worker would never answer the reset.
    if (resumed && paused_now(instance->container_id)) engine_.unpause(instance->container_id);
    worker_.reset(instance->endpoint(), settings_.reset_timeout);
    InstanceState target = settle_state(store_.instances(Show::Current), id, settings_.policy);
    if (target == InstanceState::Paused) {
      try {
        engine_.pause(instance->container_id);
      } catch (const EngineError& e) {
        if (e.kind() != EngineError::Kind::Unreachable) throw;
        // The worker is reset and answers: keep it running-idle rather than
        // fail a healthy instance; upkeep pauses it once the engine is back.
        observe(e);
        target = InstanceState::Ready;
      }
    }
    store_.transition(id, target, clock_.now_ms());
  } catch (const std::exception& e) {
    observe(e);
    fail(id, std::string("reset after release: ") + e.what());
    return;
  }
  unclaim(id);
  notify_idle();
}

// ---------------------------------------------------------------------------
// Creation, deletion, restart (normal lane).

Instance Pool::add_instance() {
  std::lock_guard lock(mu_);
  const auto instances = store_.instances(Show::Current);
  if (auto refusal = create_refusal(instances, settings_.policy, settings_.capacity, host_usage()))
    throw PoolConflict("cannot create an instance: " + *refusal);
  auto instance = add_instance_locked();
  if (!instance) throw PoolConflict("cannot create an instance: no free port in the range");
  return *instance;
}

std::optional<Instance> Pool::add_instance_locked() {
  auto port = pick_port(store_.instances(Show::Current), settings_.host, settings_.port_first,
                        settings_.port_last);
  if (!port) return std::nullopt;
  Instance instance = store_.add_instance(settings_.host, *port, clock_.now_ms());
  claimed_.insert(instance.id);  // held until create() ends
  if (!post(Lane::Normal, [this, id = instance.id] { create(id); })) {
    claimed_.erase(instance.id);
    spdlog::warn("instance {}: normal lane full; creation left to upkeep", instance.id);
  }
  return instance;
}

void Pool::request_instances_for_waiters() {
  std::lock_guard lock(mu_);
  if (!engine_error_.empty()) return;
  auto instances = store_.instances(Show::Current);
  // Instances that will soon be idle: fresh ones starting (restarting ones
  // are suspect), ones being reset, and idle ones another operation holds.
  int coming = 0;
  for (const auto& i : instances)
    coming += (i.state == InstanceState::Starting && i.restarts == 0) ||
              i.state == InstanceState::Resetting || (is_idle(i.state) && claimed_.count(i.id));
  while (coming < waiting_ &&
         !create_refusal(instances, settings_.policy, settings_.capacity, host_usage())) {
    auto added = add_instance_locked();
    if (!added) break;
    instances.push_back(*added);
    ++coming;
  }
}

engine::ContainerSpec Pool::spec_for(const Instance& instance) const {
  engine::ContainerSpec spec = settings_.container;
  spec.image = settings_.image;
  spec.name = "warmpool-" + settings_.manager_id + "-" + std::to_string(instance.id);
  spec.labels[engine::kManagerLabel] = settings_.manager_id;
  spec.labels[engine::kInstanceLabel] = std::to_string(instance.id);
  spec.cmd = {"serve", "--host", instance.host, "--port", std::to_string(instance.port)};
  spec.cmd.insert(spec.cmd.end(), settings_.worker_args.begin(), settings_.worker_args.end());
  return spec;
}

void Pool::create(std::int64_t id) {
  try {
    Instance instance = *store_.instance(id);
    const std::string container = engine_.create(spec_for(instance));
    store_.set_container(id, container, clock_.now_ms());
    engine_.start(container);
    wait_ready(instance);
    store_.transition(id, InstanceState::Ready, clock_.now_ms());
    settle(id, settle_state(store_.instances(Show::Current), id, settings_.policy));
  } catch (const std::exception& e) {
    observe(e);
    fail(id, std::string("create: ") + e.what(), Retry::NextTick);
    return;
  }
  set_engine_state(true);
  unclaim(id);
  notify_idle();
}

void Pool::wait_ready(const Instance& instance) {
  const auto give_up = SteadyClock::now() + settings_.ready_timeout;
  auto pause = milliseconds(10);
  for (;;) {
    try {
      worker_.ping(instance.endpoint(), settings_.ping_timeout);
      return;
    } catch (const WorkerError& e) {
      if (SteadyClock::now() + pause > give_up)
        throw WorkerError("worker not ready after " +
                          std::to_string(settings_.ready_timeout.count()) + " ms: " + e.what());
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(200));
  }
}

void Pool::settle(std::int64_t id, InstanceState target) {
  auto instance = store_.instance(id);
  if (!instance || instance->state == target) return;
  if (target == InstanceState::Paused) engine_.pause(instance->container_id);
  if (target == InstanceState::Ready) engine_.unpause(instance->container_id);
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

void Pool::remove(std::int64_t id, const std::string& reason) {
  try {
    auto instance = store_.instance(id);
    if (instance->state != InstanceState::Deleting)
      store_.transition(id, InstanceState::Deleting, clock_.now_ms());
    if (!instance->container_id.empty()) engine_.remove(instance->container_id);
    store_.transition(id, InstanceState::Deleted, clock_.now_ms());
    spdlog::info("instance {} deleted: {}", id, reason);
  } catch (const std::exception& e) {
    // Stays `deleting`; upkeep retries the removal.
    spdlog::warn("instance {}: removal failed: {}", id, e.what());
  }
  unclaim(id);
}

void Pool::remove_all(const std::string& reason) {
  std::vector<Instance> instances;
  try {
    instances = store_.instances(Show::Current);
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

void Pool::restart(std::int64_t id) {
  try {
    Instance instance = *store_.instance(id);
    bool recreate = instance.container_id.empty();
    if (!recreate) {
      try {
        auto info = engine_.inspect(instance.container_id);
        if (info.status == engine::ContainerStatus::Paused) engine_.unpause(instance.container_id);
        engine_.stop(instance.container_id, std::chrono::seconds(1));
        engine_.start(instance.container_id);
      } catch (const EngineError& e) {
        if (e.kind() != EngineError::Kind::NotFound) throw;
        recreate = true;  // the container is gone: make a new one for this record
      }
    }
    if (recreate) {
      const std::string container = engine_.create(spec_for(instance));
      store_.set_container(id, container, clock_.now_ms());
      engine_.start(container);
    }
    wait_ready(instance);
    store_.transition(id, InstanceState::Ready, clock_.now_ms());
    settle(id, settle_state(store_.instances(Show::Current), id, settings_.policy));
  } catch (const std::exception& e) {
    observe(e);
    if (metrics_) metrics_->count_restart(false);
    fail(id, std::string("restart: ") + e.what(), Retry::NextTick);
    return;
  }
  if (metrics_) metrics_->count_restart(true);
  spdlog::info("instance {} restarted", id);
  unclaim(id);
  notify_idle();
}

// REQUIRES: the caller holds the claim on id; it passes to the recovery.
void Pool::fail(std::int64_t id, const std::string& error, Retry retry) {
  spdlog::warn("instance {}: {}", id, error);
  if (metrics_) metrics_->count_fault();
  try {
    store_.transition(id, InstanceState::Error, clock_.now_ms(), error);
  } catch (const StoreError& e) {
    spdlog::error("instance {}: cannot record the error: {}", id, e.what());
  }
  if (retry == Retry::Now) post_or_unclaim(id, [this, id] { recover(id); });
  else unclaim(id);  // the scheduler resumes it on its next tick
  notify_idle();  // waiters re-evaluate: they may need a new instance now
}

void Pool::recover(std::int64_t id) {
  auto instance = read_claimed(store_, *this, id);
  // With the engine down a restart cannot work; the scheduler resumes this
  // instance on a later tick, which paces the retries.
  if (!instance || instance->state != InstanceState::Error || engine_down()) {
    unclaim(id);
    return;
  }
  if (instance->restarts < settings_.max_restarts) {
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
  } else {
    if (metrics_) metrics_->count_replacement();
    remove(id, "replaced after " + std::to_string(instance->restarts) + " failed restarts");
    notify_idle();  // waiters re-evaluate, and create a replacement if they still need one
  }
}

bool Pool::paused_now(const std::string& container_id) {
  try {
    return engine_.inspect(container_id).status == engine::ContainerStatus::Paused;
  } catch (const EngineError&) {
    return false;  // the reset that follows finds out what is wrong
  }
}

bool Pool::engine_answers(const std::string& container_id) {
  try {
    if (container_id.empty()) engine_.version();
    else engine_.inspect(container_id);
  } catch (const EngineError& e) {
    if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout) {
      set_engine_state(false, e.what(), e.kind() == EngineError::Kind::Timeout);
      return false;
    }
  }
  return true;  // it answered, if only to say the container is gone
}

void Pool::resume(std::int64_t id) {
  auto instance = read_claimed(store_, *this, id);
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
      post(Lane::High, [this, id] { recycle(id, /*resumed=*/true); });
      break;
    case InstanceState::Deleting:
      post_or_unclaim(id, [this, id] { remove(id, "resumed"); });
      break;
    case InstanceState::Error:
      post_or_unclaim(id, [this, id] { recover(id); });
      break;
    default:
      unclaim(id);
  }
}

void Pool::post_or_unclaim(std::int64_t id, std::function<void()> task) {
  if (!post(Lane::Normal, std::move(task))) unclaim(id);
}

// ---------------------------------------------------------------------------
// Claims and bookkeeping.

bool Pool::claim(std::int64_t id) {
  std::lock_guard lock(mu_);
  return claimed_.insert(id).second;
}

void Pool::unclaim(std::int64_t id) {
  std::lock_guard lock(mu_);
  claimed_.erase(id);
  // A hand-out may have skipped this instance while it was claimed (by a
  // health check, say): let one look again.
  ++idle_generation_;
  wake_one_waiter();
}

std::set<std::int64_t> Pool::claimed() const {
  std::lock_guard lock(mu_);
  return claimed_;
}

void Pool::notify_idle() {
  std::lock_guard lock(mu_);
  ++idle_generation_;
  wake_one_waiter();
}

void Pool::wake_one_waiter() {
  if (wakeups_ >= waiting_) return;  // every waiter will look already
  ++wakeups_;
  idle_changed_.notify_one();
}

bool Pool::post(Lane lane, std::function<void()> task) {
  return lanes_.submit(lane, SteadyClock::now() + kNoDeadline, std::move(task));
}

void Pool::observe(const std::exception& e) {
  auto* engine_error = dynamic_cast<const EngineError*>(&e);
  if (engine_error && engine_error->kind() == EngineError::Kind::Unreachable)
    set_engine_state(false, e.what());
}

void Pool::set_engine_state(bool reachable, const std::string& error, bool hung) {
  bool recovered = false;
  {
    std::lock_guard lock(mu_);
    recovered = reachable && !engine_error_.empty();
    engine_error_ = reachable ? "" : (error.empty() ? "unreachable" : error);
    engine_hung_ = !reachable && hung;
  }
  if (recovered) {
    // Every waiter looks again: idle instances the engine could not unpause
    // while it was down may all be usable now, not just one.
    std::lock_guard lock(mu_);
    ++idle_generation_;
    wakeups_ = waiting_;
    idle_changed_.notify_all();
  }
}

std::optional<std::string> Pool::engine_down() const {
  std::lock_guard lock(mu_);
  if (engine_error_.empty()) return std::nullopt;
  return engine_error_;
}

HostUsage Pool::host_usage() const { return host_ ? host_->last() : HostUsage{}; }

PoolCounts Pool::counts() {
  PoolCounts counts;
  for (const auto& instance : store_.instances(Show::Current))
    ++counts.by_state[to_string(instance.state)];
  std::lock_guard lock(mu_);
  counts.claimed = static_cast<int>(claimed_.size());
  counts.waiting = waiting_;
  return counts;
}

}  // namespace warmpool
