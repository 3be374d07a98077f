#include "scheduler/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <span>

#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

namespace warmpool {

using engine::ContainerStatus;
using engine::EngineError;

Scheduler::Scheduler(Settings settings, Pool& pool, Store& store, engine::Engine& engine,
                     const Clock& clock, HostUsageSource& host, Metrics* metrics)
    : settings_(settings),
      pool_(pool),
      store_(store),
      engine_(engine),
      clock_(clock),
      host_(host),
      metrics_(metrics),
      pacer_(settings.refill_pace),
      removal_pacer_(settings.remove_pace) {
  pool_.on_arrival = [this] { wake_for_refill(); };
}

Scheduler::~Scheduler() {
  stop();
  pool_.on_arrival = nullptr;  // REQUIRES: no hand-out in flight (the server stopped first)
}

namespace {

// The p-th quantile (0..1) by nearest rank; 0 for none.
double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(samples.size())));
  return samples[std::min(samples.size() - 1, rank == 0 ? 0 : rank - 1)];
}

bool engine_is_the_problem(const EngineError& e) {
  return e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout;
}

// Runs `body` under the claim on id, which it takes and, unless body keeps
// it (returns true), gives back. Skips (false) when an operation holds it.
template <typename F>
bool under_claim(Pool& pool, std::int64_t id, F&& body) {
  if (!pool.claim(id)) return false;
  bool keep = false;
  try {
    keep = body();
  } catch (...) {
    pool.unclaim(id);
    throw;
  }
  if (!keep) pool.unclaim(id);
  return true;
}

}  // namespace

// Safe while the pool works: an instance with an operation in flight (claimed)
// is left alone, and every decision about a live record is taken again under
// its claim, since the listing may be stale by then.
Scheduler::ReconcileReport Scheduler::reconcile() {
  std::vector<engine::ContainerInfo> containers;
  for (auto& c : engine_.list({{engine::kManagerLabel, pool_.settings().manager_id}}))
    if (reconciles(c)) containers.push_back(std::move(c));
  // The records of an engine that is down stay as they are: it could not list their containers.
  const ReconcilePlan plan = plan_reconcile(containers, on_reachable_engines(pool_.own_instances()));
  ReconcileReport report;
  report.adopted = plan.adopted;
  for (const auto& container : plan.remove) remove_orphan(container, report);
  for (const auto& [id, container] : plan.confirm_orphan) {
    bool orphan = false;
    under_claim(pool_, id, [&] { return (orphan = confirm_orphan(id, container)), false; });
    if (orphan) remove_orphan(container, report);
    else ++report.adopted;
  }
  for (auto id : plan.confirm_lost) {
    bool lost = false;
    under_claim(pool_, id, [&] { return lost = confirm_lost(id); });
    report.lost += lost;
  }
  const bool first = first_reconcile_.exchange(false);
  if (first || report.removed_orphans > 0 || report.lost > 0)
    spdlog::info("reconcile: {} adopted, {} orphan containers removed, {} records lost",
                 report.adopted, report.removed_orphans, report.lost);
  return report;
}

bool Scheduler::reconciles(const engine::ContainerInfo& container) const {
  const auto label = container.labels.find(engine::kPoolLabel);
  const std::string pool = label == container.labels.end() ? "" : label->second;
  if (settings_.reconciles) return settings_.reconciles(pool);
  const std::string& own = pool_.settings().name;
  return pool == own || (pool.empty() && own == kDefaultPool);
}

bool Scheduler::confirm_orphan(std::int64_t id, const std::string& container) {
  auto now = store_.instance(id);
  return !now || now->container_id != container;
}

// REQUIRES: the claim on id; passed to the pool's recovery when lost (true).
bool Scheduler::confirm_lost(std::int64_t id) {
  auto now = store_.instance(id);
  if (!now || !expects_container(now->state) || now->container_id.empty()) return false;
  try {
    engine_.inspect(now->container_id);
    return false;
  } catch (const EngineError& e) {
    if (e.kind() != EngineError::Kind::NotFound) throw;
  }
  if (auto current = store_.current_allocation_of(id))
    store_.end_allocation(current->id, "instance lost: its container is gone", clock_.now_ms());
  pool_.fail(id, "lost: container " + now->container_id.substr(0, 12) + " is gone");
  return true;
}

// A removal that fails is tried again after a back-off, not every tick.
void Scheduler::remove_orphan(const std::string& container, ReconcileReport& report) {
  {
    std::lock_guard lock(mu_);
    if (!orphan_backoff_.due(container, clock_.now_ms())) return;
  }
  try {
    spdlog::info("reconcile: removing container {} with no live record", container.substr(0, 12));
    pool_.pauser().thaw_before_stop(container);  // left frozen by an earlier run, perhaps
    engine_.remove(container);
    pool_.pauser().forget(container);
    ++report.removed_orphans;
    std::lock_guard lock(mu_);
    orphan_backoff_.succeeded(container);
  } catch (const EngineError& e) {
    if (engine_is_the_problem(e)) throw;
    std::lock_guard lock(mu_);
    orphan_backoff_.failed(container, clock_.now_ms());
    spdlog::warn("reconcile: cannot remove container {} (attempt {}): {}", container.substr(0, 12),
                 orphan_backoff_.failures(container), e.what());
  }
}

void Scheduler::expire_leases(std::int64_t now_ms, TickReport& report) {
  InstanceRepository::AllocationQuery current;
  current.pool = pool_.settings().name;
  for (const auto& id : pick_expired(store_.allocations(current), now_ms)) {
    pool_.release(id, "lease expired");
    ++report.expired;
  }
}

void Scheduler::check_instances(TickReport& report) {
  for (const auto& listed : pool_.own_instances()) {
    const TickAction action = tick_action(listed.state);
    if (action == TickAction::None || pool_.on_down_engine(listed)) continue;
    under_claim(pool_, listed.id, [&] {
      // Re-read under the claim: the snapshot may be stale.
      auto current = store_.instance(listed.id);
      if (!current || current->state != listed.state) return false;
      if (action == TickAction::Resume) {
        pool_.resume(listed.id);  // takes the claim over
        ++report.resumed;
        return true;
      }
      if (check(*current)) return false;
      ++report.faults;
      return true;  // passed to recovery
    });
  }
}

bool Scheduler::check(const Instance& instance) {
  std::string fault;
  try {
    if (probe_for(instance.state) == Probe::Ping) {
      pool_.check_health(instance);
    } else {
      const ContainerVerdict verdict = judge_container(instance.state, pool_.pauser().inspect(instance.container_id));
      if (verdict.kind == ContainerVerdict::ConfirmRunning) {
        pool_.check_health(instance);
        store_.transition(instance.id, InstanceState::Ready, clock_.now_ms());
      }
      fault = verdict.fault;
    }
  } catch (const EngineError& e) {
    if (engine_is_the_problem(e) && pool_.on_down_engine(instance)) return true;  // its engine's, until the grace ends
    if (engine_is_the_problem(e)) throw;  // not the instance's fault
    fault = e.what();
  } catch (const WorkerError& e) {
    fault = e.what();
  }
  if (fault.empty()) return true;
  if (instance.state == InstanceState::Allocated) {
    if (auto current = store_.current_allocation_of(instance.id))
      store_.end_allocation(current->id, "instance lost: " + fault, clock_.now_ms());
  }
  // Back from being down, its engine has lost its containers (a dockerd
  // killed without live-restore): upkeep replaced the idle ones elsewhere
  // meanwhile, so a restart would only make a surplus to shrink later.
  if (engines_back_.count(instance.engine)) pool_.retire(instance.id, "its engine came back without it: " + fault);
  else pool_.fail(instance.id, "health check: " + fault);
  return false;
}

PoolPolicy Scheduler::policy_now(const std::vector<Instance>& instances, std::int64_t now_ms) {
  PoolPolicy policy = pool_.settings().policy;
  if (pool_.draining()) {
    // Keeps nothing idle: each instance goes as soon as it is idle.
    policy.min_idle = policy.max_idle = policy.keep_running = 0;
    policy.adaptive = false;
    return policy;
  }
  int in_use = 0;
  for (const auto& i : instances) in_use += i.state == InstanceState::Allocated;
  DemandTarget target = pool_.demand().target(now_ms, in_use);
  if (policy.adaptive) {
    // Instances starting now are counted as coming idle; those a waiter will
    // take are not.
    policy.min_idle = target.idle + pool_.waiting();
    policy.keep_running = target.running;
  } else {
    target.idle = policy.min_idle;  // the forecast is still shown
    target.running = policy.keep_running;
  }
  if (metrics_) metrics_->set_demand(target.forecast, target.idle, target.running);
  pool_.demand().applied(target);
  return policy;
}

// Once a tick: what idleness cost since the last one, and a history sample.
void Scheduler::observe(std::int64_t now_ms) {
  if (!metrics_) return;
  HistorySample sample;
  sample.at_ms = now_ms;
  for (const auto& i : pool_.own_instances()) {
    sample.in_use += i.state == InstanceState::Allocated;
    sample.idle_running += i.state == InstanceState::Ready;
    sample.idle_paused += i.state == InstanceState::Paused;
  }
  sample.target_idle = last_target().idle;
  const std::uint64_t arrivals = pool_.demand().arrivals_total();
  const auto times = metrics_->take_recent_hand_outs();
  sample.hand_out_p50_ms = percentile(times, 0.5);
  sample.hand_out_p99_ms = percentile(times, 0.99);
  if (last_observed_ms_ > 0 && now_ms > last_observed_ms_) {
    const double seconds = static_cast<double>(now_ms - last_observed_ms_) / 1000.0;
    sample.arrivals_per_s = static_cast<double>(arrivals - last_arrivals_) / seconds;
    metrics_->add_idle_seconds(last_sample_.idle_running * seconds, last_sample_.idle_paused * seconds);
  }
  last_observed_ms_ = now_ms;
  last_arrivals_ = arrivals;
  last_sample_ = sample;
  metrics_->history().add(sample);
}

DemandTarget Scheduler::last_target() const { return pool_.demand().last_applied().value_or(DemandTarget{}); }

int Scheduler::refill() {
  // Hand-outs ask for refills; while the engine is unreachable or hangs (as
  // the last tick or a hand-out found) a create would only fail, and a
  // create that hangs leaves an instance to restart. The tick that finds the
  // engine back refills.
  if (!engine_ok_ || pool_.engine_down()) return 0;
  const std::int64_t now = clock_.now_ms();
  const auto instances = on_reachable_engines(pool_.own_instances());
  const auto plan = plan_upkeep(instances, pool_.claimed(), policy_now(instances, now),
                                pool_.capacity(), host_.last(), now);
  return start_creates(paced_creates(plan.create, now));
}

int Scheduler::paced_creates(int wanted, std::int64_t now_ms) {
  const auto last_arrival = pool_.demand().last_arrival_ms();
  const int waiting = pool_.waiting();
  std::lock_guard lock(pace_mu_);
  return pacer_.allow(wanted, now_ms, last_arrival, waiting);
}

int Scheduler::start_creates(int n) {
  int started = 0;
  for (; started < n; ++started) {
    try {
      pool_.add_instance();
    } catch (const PoolConflict& e) {
      spdlog::debug("upkeep: {}", e.what());
      break;
    }
  }
  return started;
}

void Scheduler::keep_up(const HostUsage& usage, std::int64_t now_ms, TickReport& report) {
  report.removed += pool_.replace_outdated_idle();  // before the plan: it creates their replacements
  // An engine that is down holds no usable instance: upkeep replaces its idle ones elsewhere at once.
  const auto instances = on_reachable_engines(pool_.own_instances());
  const auto plan = plan_upkeep(instances, pool_.claimed(), policy_now(instances, now_ms),
                                pool_.capacity(), usage, now_ms);
  const int allowed = paced_creates(plan.create, now_ms);
  report.paced += plan.create - allowed;
  report.created += start_creates(allowed);
  for (auto id : plan.pause) set_idle_state(id, InstanceState::Paused, report.paused);
  for (auto id : plan.unpause) set_idle_state(id, InstanceState::Ready, report.unpaused);
  const int removals = pool_.draining() ? static_cast<int>(plan.remove.size())
                                        : removal_pacer_.allow(static_cast<int>(plan.remove.size()), now_ms);
  report.paced_removals += static_cast<int>(plan.remove.size()) - removals;
  for (auto id : std::span(plan.remove).first(removals)) {
    try {
      if (pool_.delete_instance(id, "idle pool shrink")) ++report.removed;
    } catch (const PoolConflict&) {
    }
  }
}

void Scheduler::set_idle_state(std::int64_t id, InstanceState target, int& counter) {
  under_claim(pool_, id, [&] {
    try {
      pool_.set_idle_state(id, target);
      ++counter;
      return false;
    } catch (const EngineError& e) {
      if (engine_is_the_problem(e)) throw;  // the claim is given back by under_claim
      pool_.fail(id, std::string("upkeep: ") + e.what());
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      pool_.fail(id, std::string("upkeep: ") + e.what());
    }
    return true;  // passed to recovery
  });
}

// A failed prune is logged and tried again a minute later: the records it
// would remove are old, and the tick's other work must not wait for it.
void Scheduler::prune(std::int64_t now_ms, TickReport& report) {
  if (!prune_due(settings_.retention, last_prune_ms_, now_ms)) return;
  last_prune_ms_ = now_ms;
  try {
    const Store::Pruned p = prune_finished(store_, settings_.retention, now_ms);
    report.pruned = p.allocations + p.instances;
    if (report.pruned > 0)
      spdlog::info("retention: removed {} finished allocations and {} deleted instances",
                   p.allocations, p.instances);
  } catch (const StoreError& e) {
    spdlog::warn("retention: {}", e.what());
  }
}

Scheduler::TickReport Scheduler::tick() {
  TickReport report;
  // Throws while the engine is unreachable: nothing below can work.
  const engine::EngineVersion version = engine_.version();
  {
    std::lock_guard lock(mu_);
    engine_version_ = version;
  }
  engine_ok_ = true;
  pool_.set_engine_state(true);
  const bool leading = leadership_.check();
  if (metrics_) metrics_->set_leading(leading);
  if (!leading) {
    report.following = true;
    record(report);
    return report;
  }
  const std::int64_t now = clock_.now_ms();
  const HostUsage usage = host_.sample();

  // Every tick, not only at start-up: a container the records lost track of
  // (a failed record write, an engine that restarted) is found within a period.
  const auto reconciled = reconcile();
  report.orphans = reconciled.removed_orphans;
  report.lost = reconciled.lost;
  give_up_on_down_engines(now, report);
  expire_leases(now, report);
  check_instances(report);
  keep_up(usage, now, report);
  prune(now, report);
  observe(clock_.now_ms());
  record(report);
  return report;
}

std::string Scheduler::describe(const TickReport& r) {
  std::string out;
  const std::pair<const char*, int> counts[] = {
      {"expired", r.expired}, {"orphans", r.orphans}, {"lost", r.lost},
      {"faults", r.faults},   {"resumed", r.resumed}, {"created", r.created},
      {"paused", r.paused},   {"unpaused", r.unpaused}, {"removed", r.removed},
      {"paced", r.paced},     {"paced_removals", r.paced_removals}, {"pruned", r.pruned},
      {"engine_lost", r.engine_lost}};
  for (const auto& [name, n] : counts)
    if (n > 0) out += (out.empty() ? "" : " ") + std::string(name) + "=" + std::to_string(n);
  if (r.following) return "following the leader";
  return out.empty() ? "nothing to do" : out;
}

void Scheduler::record(const TickReport& r) {
  spdlog::debug("scheduler tick: {}", describe(r));
  if (!metrics_) return;
  metrics_->count_tick(true);
  metrics_->count_scheduler_actions({{"expired", r.expired}, {"orphans", r.orphans}, {"lost", r.lost},
                                     {"faults", r.faults}, {"resumed", r.resumed}, {"created", r.created},
                                     {"paused", r.paused}, {"unpaused", r.unpaused}, {"removed", r.removed},
                                     {"paced", r.paced}, {"paced_removals", r.paced_removals},
                                     {"pruned", r.pruned}, {"engine_lost", r.engine_lost}});
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

void Scheduler::wake_for_refill() {
  std::lock_guard lock(mu_);
  if (refill_wanted_) return;
  refill_wanted_ = true;
  wake_cv_.notify_all();
}

std::optional<engine::EngineVersion> Scheduler::engine_version() const {
  std::lock_guard lock(mu_);
  return engine_version_;
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
      if (engine_is_the_problem(e) && !one_engine_of_several(e)) {
        engine_ok_ = false;
        pool_.set_engine_state(false, e.what(), e.kind() == EngineError::Kind::Timeout);
      }
      error = e.what();
    } catch (const std::exception& e) {
      error = e.what();
    }
    failing_ticks_ = error.empty() ? 0 : failing_ticks_ + 1;
    const auto delay = next_tick_delay(settings_.period, failing_ticks_, settings_.max_backoff);
    if (!error.empty()) {
      spdlog::warn("scheduler: tick failed ({} in a row; next in {} ms): {}", failing_ticks_.load(),
                   delay.count(), error);
      if (metrics_) metrics_->count_tick(false);
    }
    std::unique_lock lock(mu_);
    last_error_ = error;
    wait_for_next_tick(lock, stop, delay);
  }
}

// Until the next tick is due or someone wakes the loop; refills asked for
// meanwhile run here, without moving the tick.
// REQUIRES: lock holds mu_.
void Scheduler::wait_for_next_tick(std::unique_lock<std::mutex>& lock, std::stop_token stop,
                                   std::chrono::milliseconds delay) {
  const auto due = std::chrono::steady_clock::now() + delay;
  while (wake_cv_.wait_until(lock, stop, due, [&] { return woken_ || refill_wanted_; }) && !woken_) {
    refill_wanted_ = false;
    lock.unlock();
    try {
      refill();
    } catch (const std::exception& e) {
      spdlog::debug("scheduler: refill: {}", e.what());  // the next tick retries and reports
    }
    lock.lock();
  }
  woken_ = false;
  refill_wanted_ = false;
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
    return !agrees && pool_.pauser().inspect(e.container_id).status != expected;
  } catch (const std::exception&) {
    return true;
  }
}

void Scheduler::watch(std::stop_token stop) {
  engine::Labels match = {{engine::kManagerLabel, pool_.settings().manager_id}};
  // The default pool's containers may carry no pool label; the others' do.
  if (pool_.settings().name != kDefaultPool) match[engine::kPoolLabel] = pool_.settings().name;
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
