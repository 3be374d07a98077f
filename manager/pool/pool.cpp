// Claims, waking waiters, the engine's reachability and counts: the
// bookkeeping every other part of the pool shares.
#include "pool/pool.hpp"

#include <spdlog/spdlog.h>

#include "host/host.hpp"

namespace warmpool {

namespace {
using engine::EngineError;
constexpr auto kNoDeadline = std::chrono::hours(24 * 365);
}  // namespace

Pool::Pool(PoolSettings settings, Store& store, engine::Engine& engine, WorkerClient& worker,
           Lanes& lanes, const Clock& clock, HostUsageSource* host, Metrics* metrics,
           const SteadyClock& steady, Pauser* pauser)
    : store_(store),
      engine_(engine),
      worker_(worker),
      lanes_(lanes),
      clock_(clock),
      host_usage_(host),
      metrics_(metrics),
      steady_(steady),
      own_pauser_(pauser ? nullptr : std::make_unique<Pauser>(engine)),
      pauser_(pauser ? *pauser : *own_pauser_),
      demand_(demand_settings_for(settings)) {
  settings_versions_.push_back(std::make_unique<const PoolSettings>(std::move(settings)));
  settings_ = settings_versions_.back().get();
}

DemandSettings demand_settings_for(const PoolSettings& settings) {
  DemandSettings d = settings.demand;
  d.floor = settings.policy.min_idle;
  d.ceiling = settings.policy.max_idle;
  d.capacity = settings.policy.max_instances;
  d.running_floor = settings.policy.keep_running;
  d.quiet_ms = settings.policy.idle_shrink_ms;
  return d;
}

bool Pool::claim(std::int64_t id) {
  {
    std::lock_guard lock(mu_);
    if (!claimed_.insert(id).second) return false;
  }
  return hold_claimed(id);
}

// The claim may be a hand-out's that listed the instance idle just before
// its release and lets go on reading the record: if this reset gave up, the
// instance would stay resetting until the scheduler resumes it. So the
// holder's unclaim() posts the reset again.
bool Pool::claim_to_recycle(std::int64_t id) {
  {
    std::lock_guard lock(mu_);
    if (!claimed_.insert(id).second) {
      recycle_due_.insert(id);
      return false;
    }
  }
  return hold_claimed(id);
}

bool Pool::hold_claimed(std::int64_t id) {
  if (hold_in_store(id)) return true;
  std::lock_guard lock(mu_);
  claimed_.erase(id);
  return false;
}

void Pool::unclaim(std::int64_t id) {
  bool recycle_due = false;
  {
    std::lock_guard lock(mu_);
    claimed_.erase(id);
    recycle_due = recycle_due_.erase(id) > 0;
    // A hand-out may have skipped this instance while it was claimed (by a
    // health check, say): let one look again.
    ++idle_generation_;
    wake_one_waiter();
  }
  let_go_in_store(id);
  // After letting go in the store, or the reset's own hold would be refused.
  // As resumed: the reset left here may be a resume's, which first unpauses a
  // container left paused.
  if (recycle_due) post(reset_lane(settings().protocol), [this, id] { recycle(id, /*resumed=*/true); });
}

// Several managers on one database: a claim is also held there, so that no
// other manager drives the container meanwhile. The claimed_ set keeps this
// manager's own operations apart; the store's hold keeps the managers apart.
bool Pool::hold_in_store(std::int64_t id) {
  try {
    return store_.hold(Hold::Instance, id);
  } catch (const StoreError& e) {
    spdlog::warn("instance {}: cannot hold it in the database: {}", id, e.what());
    return false;  // without the database, leave it alone
  }
}

void Pool::let_go_in_store(std::int64_t id) {
  try {
    store_.let_go(Hold::Instance, id);
  } catch (const StoreError& e) {
    // A lost connection has let go of everything already.
    spdlog::warn("instance {}: cannot let go of it in the database: {}", id, e.what());
  }
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
  return lanes_.submit(lane, std::chrono::steady_clock::now() + kNoDeadline, std::move(task));
}

void Pool::post_or_unclaim(std::int64_t id, std::function<void()> task) {
  if (!post(Lane::Normal, std::move(task))) unclaim(id);
}

void Pool::note_if_unreachable(const std::exception& e) {
  auto* engine_error = dynamic_cast<const EngineError*>(&e);
  if (!engine_error || engine_error->kind() != EngineError::Kind::Unreachable) return;
  // Several engines: one container's engine being down is that engine's
  // state, not the pool's; the others still take hand-outs and creates.
  const std::string& container = engine_error->container_id();
  if (!container.empty() && !engine_.engine_up(engine_.engine_of(container))) return;
  set_engine_state(false, e.what());
}

bool Pool::on_down_engine(const Instance& instance) {
  return !instance.container_id.empty() && !engine_.engine_up(instance.engine);
}

bool Pool::paused_now(const std::string& container_id) {
  try {
    return pauser_.inspect(container_id).status == engine::ContainerStatus::Paused;
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

void Pool::set_engine_state(bool reachable, const std::string& error, bool hung) {
  std::lock_guard lock(mu_);
  const bool recovered = reachable && !engine_error_.empty();
  engine_error_ = reachable ? "" : (error.empty() ? "unreachable" : error);
  engine_hung_ = !reachable && hung;
  if (recovered) {
    // Every waiter looks again: idle instances the engine could not unpause
    // while it was down may all be usable now, not just one.
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

HostUsage Pool::host_usage() const { return host_usage_ ? host_usage_->last() : HostUsage{}; }

int Pool::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

std::vector<Instance> Pool::own_instances() { return store_.instances_of(settings().name, Show::Current); }

std::optional<std::string> Pool::creation_refusal(const std::vector<Instance>& all) const {
  if (draining_) return std::string("the pool is draining");
  if (auto refusal = create_refusal(all, settings().policy, settings().capacity, host_usage())) return refusal;
  if (!floors_) return std::nullopt;
  auto floors = floors_->snapshot();
  floors.emplace(settings().name, settings().policy.min_idle);
  const auto allowed = warmpool::share_capacity(pool_shares(all, floors), settings().policy.max_instances);
  if (allowed.at(settings().name) > 0) return std::nullopt;
  return "the free capacity (--max-instances " + std::to_string(settings().policy.max_instances) +
         ") is held for other pools' floors";
}

PoolCounts Pool::counts() {
  PoolCounts counts;
  for (const auto& instance : own_instances())
    ++counts.by_state[to_string(instance.state)];
  std::lock_guard lock(mu_);
  counts.claimed = static_cast<int>(claimed_.size());
  counts.waiting = waiting_ + looking_;
  return counts;
}

}  // namespace warmpool
