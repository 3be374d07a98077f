#include "pools/pools.hpp"

#include <spdlog/spdlog.h>

namespace warmpool {

Pools::Pools(Parts parts, Scheduler::Settings scheduling, Pool& default_pool, Scheduler& default_scheduler)
    : parts_(parts), scheduling_(std::move(scheduling)), default_pool_(default_pool),
      default_scheduler_(default_scheduler) {
  default_pool_.share_capacity(floors_);
  floors_.set(kDefaultPool, default_pool_.settings().policy.min_idle);
}

Pools::~Pools() { stop(); }

void Pools::load() {
  const auto now = parts_.clock.now_ms();
  PoolRecord record = record_of(default_pool_.settings(), now);
  if (auto old = parts_.store.pool(kDefaultPool)) {
    record.created_ms = old->created_ms;
    // Flags that make other containers than the record's replace the
    // instances made before; the same ones keep them.
    if (!changes_instances(*old, record)) record.updated_ms = old->updated_ms;
  }
  record = parts_.store.put_pool(record);
  PoolSettings settings = default_pool_.settings();
  settings.instances_since_ms = record.updated_ms;
  default_pool_.change_settings(std::move(settings));
  std::lock_guard lock(mu_);
  entries_[kDefaultPool] = std::make_unique<Entry>(Entry{record, nullptr, nullptr});
  for (const auto& other : parts_.store.pools())
    if (other.name != kDefaultPool && !entries_.count(other.name)) open(other);
}

Pools::Entry& Pools::open(const PoolRecord& record) {
  auto entry = std::make_unique<Entry>();
  entry->record = record;
  entry->pool = std::make_unique<Pool>(settings_for(default_pool_.settings(), record), parts_.store,
                                       parts_.engine, parts_.worker, parts_.lanes, parts_.clock, &parts_.host,
                                       parts_.metrics, SteadyClock::real(), parts_.pauser);
  entry->pool->share_capacity(floors_);
  if (record.state == PoolState::Draining) entry->pool->drain();
  else floors_.set(record.name, record.min_idle);
  Scheduler::Settings settings = scheduling_;
  settings.retention = {};
  settings.reconciles = nullptr;  // its own pool's containers
  entry->scheduler = std::make_unique<Scheduler>(settings, *entry->pool, parts_.store, parts_.engine,
                                                 parts_.clock, parts_.host, nullptr);
  if (started_) entry->scheduler->start();
  Entry& out = *entry;
  entries_[record.name] = std::move(entry);
  return out;
}

void Pools::start() {
  {
    std::lock_guard lock(mu_);
    started_ = true;
    for (auto& [name, entry] : entries_)
      if (entry->scheduler) entry->scheduler->start();
  }
  sweeper_ = std::jthread([this](std::stop_token stop) { sweep_loop(stop); });
}

void Pools::stop() noexcept {
  sweeper_.request_stop();
  if (sweeper_.joinable()) sweeper_.join();
  std::lock_guard lock(mu_);
  for (auto& [name, entry] : entries_)
    if (entry->scheduler) entry->scheduler->stop();
  started_ = false;
}

Pool* Pools::find(const std::string& name) {
  if (name == kDefaultPool) return &default_pool_;
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second->pool.get();
}

std::vector<PoolRecord> Pools::list() { return parts_.store.pools(); }

std::optional<PoolRecord> Pools::get(const std::string& name) { return parts_.store.pool(name); }

PoolRecord Pools::add(PoolRecord record) {
  std::lock_guard changing(change_mu_);
  // The engine is asked before the lock: it may take its time.
  if (record_refusal(record, {}) == std::nullopt) check_image(record.image);
  std::lock_guard lock(mu_);
  if (auto refusal = record_refusal(record, parts_.store.pools())) throw PoolRefused(*refusal);
  record.state = PoolState::Active;
  record.created_ms = record.updated_ms = parts_.clock.now_ms();
  try {
    record = parts_.store.add_pool(record);
  } catch (const PoolExists& e) {  // another manager on the database, just now
    throw PoolRefused({409, "name", "a pool named " + record.name + " exists"});
  }
  open(record);
  spdlog::info("pool {}: added ({}, ports {}-{}, {} to {} idle)", record.name, record.image, record.port_first,
               record.port_last, record.min_idle, record.max_idle);
  return record;
}

std::optional<PoolRecord> Pools::drain(const std::string& name) {
  if (name == kDefaultPool)
    throw PoolRefused({409, "name", "the default pool cannot be deleted: the flags configure it"});
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  Entry& entry = *it->second;
  if (entry.record.state != PoolState::Draining) {
    PoolRecord changed = entry.record;
    changed.state = PoolState::Draining;
    changed.updated_ms = parts_.clock.now_ms();
    if (auto written = parts_.store.update_pool(changed)) entry.record = *written;
    entry.pool->drain();
    floors_.erase(name);
    spdlog::info("pool {}: draining", name);
  }
  entry.scheduler->wake();
  sweep_cv_.notify_all();
  return entry.record;
}

void Pools::sweep() {
  std::vector<std::unique_ptr<Entry>> done;
  {
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& entry = *it->second;
      const bool empty = entry.pool && entry.pool->draining() &&
                         parts_.store.instances_of(entry.record.name, Show::Current).empty();
      if (!empty) {
        ++it;
        continue;
      }
      parts_.store.remove_pool(entry.record.name);
      spdlog::info("pool {}: drained and removed", entry.record.name);
      done.push_back(std::move(it->second));
      it = entries_.erase(it);
    }
  }
  for (auto& entry : done) entry->scheduler->stop();  // outside the lock: it joins its threads
  std::lock_guard lock(mu_);
  for (auto& entry : done) retired_.push_back(std::move(entry));
}

void Pools::sweep_loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    try {
      sweep();
    } catch (const std::exception& e) {
      spdlog::warn("pools: sweep: {}", e.what());
    }
    std::unique_lock lock(sweep_mu_);
    sweep_cv_.wait_for(lock, stop, scheduling_.period, [] { return false; });
  }
}

void Pools::remove_all(const std::string& reason) {
  default_pool_.remove_all(reason);
  std::lock_guard lock(mu_);
  for (auto& [name, entry] : entries_)
    if (entry->pool) entry->pool->remove_all(reason);
}

bool Pools::reconciled_by_default(const std::string& label) {
  if (label.empty() || label == kDefaultPool) return true;
  std::lock_guard lock(mu_);
  return !entries_.count(label);
}

}  // namespace warmpool
