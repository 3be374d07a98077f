// A Store that forwards every call to a real one, but can be told to throw
// StoreError("<operation>: injected store fault") from a chosen operation:
// the next n calls, or every call until cleared. Nothing is forwarded for a
// call that throws, as if the database had refused it.
//
// It can also play other managers on the same database: hold_elsewhere()
// makes hold() refuse, follow() makes lead() answer false.
//
// Thread-safe: the switches are atomics (or under a mutex), flipped by the
// test while the code under test runs on other threads.
#pragma once

#include <array>
#include <atomic>
#include <climits>
#include <functional>
#include <mutex>
#include <set>
#include <utility>

#include "store/store.hpp"

namespace warmpool::test {

enum class StoreOp {
  SchemaVersion, CheckWritable, AddInstance, SetContainer, Transition, Restart, Instance, Instances,
  Allocate, EndAllocation, Renew, Allocation, CurrentAllocationOf, Allocations,
  ExpiredAllocations, Events, AddJob, AddCompleteJob, Job, RecentJobs, JobsInState, JobCounts,
  CompleteJobWithAtLeast, StartJob, SetJobProgress, CompleteJob, RequeueJob, FailJob,
  CancelJob, Hold, LetGo, Lead, Leader, PruneFinished, CurrentAllocationsOfClient, kCount
};

inline const char* to_string(StoreOp op) {
  static constexpr const char* kNames[] = {
      "schema_version", "check_writable", "add_instance", "set_container", "transition", "restart", "instance",
      "instances", "allocate", "end_allocation", "renew", "allocation", "current_allocation_of",
      "allocations", "expired_allocations", "events", "add_job", "add_complete_job", "job", "recent_jobs",
      "jobs_in_state", "job_counts", "complete_job_with_at_least", "start_job",
      "set_job_progress", "complete_job", "requeue_job", "fail_job", "cancel_job",
      "hold", "let_go", "lead", "leader", "prune_finished", "current_allocations_of_client"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(StoreOp::kCount));
  return kNames[static_cast<int>(op)];
}

class FaultyStore final : public Store {
 public:
  explicit FaultyStore(Store& real) : real_(real) {}

  // The next `times` calls of op fail.
  void fail(StoreOp op, int times = 1) { slot(op) = times; }
  // Every call of op fails until clear().
  void fail_always(StoreOp op) { slot(op) = kAlways; }
  void clear(StoreOp op) { slot(op) = 0; }
  // Whether op still has failures to give: a test waits for a fault to be hit.
  bool armed(StoreOp op) { return slot(op) > 0; }
  void clear() {
    for (auto& s : remaining_) s = 0;
  }

  int schema_version() override {
    trip(StoreOp::SchemaVersion);
    return real_.schema_version();
  }

  void check_writable() override {
    trip(StoreOp::CheckWritable);
    real_.check_writable();
  }

  bool hold(Hold what, std::int64_t id) override {
    trip(StoreOp::Hold);
    if (before_hold) before_hold(what, id);
    {
      std::lock_guard lock(held_mu_);
      if (held_elsewhere_.count({what, id})) return false;
    }
    return real_.hold(what, id);
  }
  // hold() answers false for it, as when another manager holds it.
  void hold_elsewhere(Hold what, std::int64_t id, bool yes = true) {
    std::lock_guard lock(held_mu_);
    if (yes) held_elsewhere_.insert({what, id});
    else held_elsewhere_.erase({what, id});
  }
  void let_go(Hold what, std::int64_t id) override {
    trip(StoreOp::LetGo);
    real_.let_go(what, id);
    if (after_let_go) after_let_go(what, id);
  }
  bool lead() override {
    trip(StoreOp::Lead);
    return !following_ && real_.lead();
  }
  // Runs at the start of every hold(): another manager acting just before
  // this one takes its hold. Set it before the pool runs.
  std::function<void(Hold, std::int64_t)> before_hold;
  // Runs at the end of every let_go(): others acting just after this one
  // let go. Set it before the pool runs.
  std::function<void(Hold, std::int64_t)> after_let_go;
  // Runs at the start of every add_instance(): another manager recording an
  // instance just before this one. Set it before the pool runs.
  std::function<void(const std::string& host, int port)> before_add_instance;
  // lead() answers false, as when another manager on the database leads.
  void follow(bool yes = true) { following_ = yes; }
  std::string leader() override {
    trip(StoreOp::Leader);
    return real_.leader();
  }

  using Store::add_instance;
  Instance add_instance(const std::string& host, int port, std::int64_t now_ms,
                        const std::string& pool) override {
    trip(StoreOp::AddInstance);
    if (before_add_instance) before_add_instance(host, port);
    return real_.add_instance(host, port, now_ms, pool);
  }
  // Pool records pass through: no test breaks them yet.
  PoolRecord add_pool(const PoolRecord& pool) override { return real_.add_pool(pool); }
  PoolRecord put_pool(const PoolRecord& pool) override { return real_.put_pool(pool); }
  std::optional<PoolRecord> pool(const std::string& name) override { return real_.pool(name); }
  std::vector<PoolRecord> pools() override { return real_.pools(); }
  std::optional<PoolRecord> update_pool(const PoolRecord& pool) override { return real_.update_pool(pool); }
  bool remove_pool(const std::string& name) override { return real_.remove_pool(name); }
  EngineRecord add_engine(const EngineRecord& engine) override { return real_.add_engine(engine); }
  std::vector<EngineRecord> engines() override { return real_.engines(); }
  bool remove_engine(const std::string& name) override { return real_.remove_engine(name); }
  void set_container(std::int64_t id, const std::string& container_id, const std::string& engine,
                     std::int64_t now_ms) override {
    trip(StoreOp::SetContainer);
    real_.set_container(id, container_id, engine, now_ms);
  }
  Instance transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                      const std::string& error = {}) override {
    trip(StoreOp::Transition);
    return real_.transition(id, to, now_ms, error);
  }
  Instance restart(std::int64_t id, std::int64_t now_ms) override {
    trip(StoreOp::Restart);
    return real_.restart(id, now_ms);
  }
  std::optional<warmpool::Instance> instance(std::int64_t id) override {
    trip(StoreOp::Instance);
    return real_.instance(id);
  }
  std::vector<warmpool::Instance> instances(Show show) override {
    trip(StoreOp::Instances);
    return real_.instances(show);
  }
  warmpool::Allocation allocate(std::int64_t instance_id, const std::string& allocation_id,
                                const std::string& client, std::int64_t now_ms,
                                std::int64_t expires_ms,
                                const warmpool::AllocationSession& session = {},
                                warmpool::ClientQuotas quotas = {}) override {
    trip(StoreOp::Allocate);
    return real_.allocate(instance_id, allocation_id, client, now_ms, expires_ms, session, quotas);
  }
  int current_allocations_of_client(const std::string& client, const std::string& pool = {}) override {
    trip(StoreOp::CurrentAllocationsOfClient);
    return real_.current_allocations_of_client(client, pool);
  }
  std::optional<warmpool::Allocation> end_allocation(const std::string& id,
                                                     const std::string& reason,
                                                     std::int64_t now_ms,
                                                     bool* ended_now = nullptr) override {
    if (ended_now) *ended_now = false;
    trip(StoreOp::EndAllocation);
    return real_.end_allocation(id, reason, now_ms, ended_now);
  }
  std::optional<warmpool::Allocation> renew(const std::string& id,
                                            std::int64_t expires_ms) override {
    trip(StoreOp::Renew);
    return real_.renew(id, expires_ms);
  }
  std::optional<warmpool::Allocation> allocation(const std::string& id) override {
    trip(StoreOp::Allocation);
    return real_.allocation(id);
  }
  std::optional<warmpool::Allocation> allocation_by_number(std::int64_t number) override {
    trip(StoreOp::Allocation);
    return real_.allocation_by_number(number);
  }
  std::optional<warmpool::Allocation> current_allocation_of(std::int64_t instance_id) override {
    trip(StoreOp::CurrentAllocationOf);
    return real_.current_allocation_of(instance_id);
  }
  using Store::allocations;
  std::vector<warmpool::Allocation> allocations(const AllocationQuery& query) override {
    trip(StoreOp::Allocations);
    return real_.allocations(query);
  }
  std::vector<InstanceEvent> events(std::optional<std::int64_t> instance_id, std::size_t limit) override {
    trip(StoreOp::Events);
    return real_.events(instance_id, limit);
  }

  Pruned prune_finished(std::int64_t before_ms, int batch) override {
    trip(StoreOp::PruneFinished);
    return real_.prune_finished(before_ms, batch);
  }

  std::vector<warmpool::Allocation> expired_allocations(std::int64_t now_ms) override {
    trip(StoreOp::ExpiredAllocations);
    return real_.expired_allocations(now_ms);
  }

  using Store::add_job;
  warmpool::Job add_job(std::int64_t digits, std::int64_t now_ms, const std::string& pool) override {
    trip(StoreOp::AddJob);
    return real_.add_job(digits, now_ms, pool);
  }
  warmpool::Job add_complete_job(std::int64_t digits, const ResultFile& result,
                                 std::int64_t source_job, std::int64_t now_ms) override {
    trip(StoreOp::AddCompleteJob);
    return real_.add_complete_job(digits, result, source_job, now_ms);
  }
  std::optional<warmpool::Job> job(std::int64_t id) override {
    trip(StoreOp::Job);
    return real_.job(id);
  }
  std::vector<warmpool::Job> recent_jobs(std::size_t limit) override {
    trip(StoreOp::RecentJobs);
    return real_.recent_jobs(limit);
  }
  std::vector<warmpool::Job> jobs_in_state(JobState state, std::size_t limit) override {
    trip(StoreOp::JobsInState);
    return real_.jobs_in_state(state, limit);
  }
  std::map<JobState, std::int64_t> job_counts() override {
    trip(StoreOp::JobCounts);
    return real_.job_counts();
  }
  std::optional<warmpool::Job> complete_job_with_at_least(std::int64_t digits) override {
    trip(StoreOp::CompleteJobWithAtLeast);
    return real_.complete_job_with_at_least(digits);
  }
  bool start_job(std::int64_t id, const std::string& allocation_id, std::int64_t now_ms) override {
    trip(StoreOp::StartJob);
    return real_.start_job(id, allocation_id, now_ms);
  }
  bool set_job_progress(std::int64_t id, double progress, std::int64_t now_ms) override {
    trip(StoreOp::SetJobProgress);
    return real_.set_job_progress(id, progress, now_ms);
  }
  bool complete_job(std::int64_t id, const ResultFile& result, std::int64_t now_ms,
                    std::optional<std::int64_t> source_job = std::nullopt) override {
    trip(StoreOp::CompleteJob);
    return real_.complete_job(id, result, now_ms, source_job);
  }
  bool requeue_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) override {
    trip(StoreOp::RequeueJob);
    return real_.requeue_job(id, reason, now_ms);
  }
  bool fail_job(std::int64_t id, const std::string& reason, std::int64_t now_ms) override {
    trip(StoreOp::FailJob);
    return real_.fail_job(id, reason, now_ms);
  }
  std::optional<warmpool::Job> cancel_job(std::int64_t id, std::int64_t now_ms) override {
    trip(StoreOp::CancelJob);
    return real_.cancel_job(id, now_ms);
  }

 private:
  static constexpr int kAlways = INT_MAX;

  std::atomic<int>& slot(StoreOp op) { return remaining_[static_cast<int>(op)]; }

  // Throws if op is switched to fail, using up one of its counted failures.
  void trip(StoreOp op) {
    auto& s = slot(op);
    int left = s.load();
    while (left > 0) {
      if (left == kAlways || s.compare_exchange_weak(left, left - 1))
        throw StoreError(std::string(to_string(op)) + ": injected store fault");
    }
  }

  Store& real_;
  std::atomic<bool> following_{false};
  std::mutex held_mu_;
  std::set<std::pair<Hold, std::int64_t>> held_elsewhere_;  // GUARDED_BY(held_mu_)
  std::array<std::atomic<int>, static_cast<std::size_t>(StoreOp::kCount)> remaining_{};
};

}  // namespace warmpool::test
