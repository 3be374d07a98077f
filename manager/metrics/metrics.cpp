#include "metrics/metrics.hpp"

#include <set>
#include <sstream>
#include <utility>

#include <prometheus/text_serializer.h>

#include "store/store.hpp"

namespace warmpool {

namespace {
// Hand-outs cost milliseconds; slow ones wait for a create (about a second).
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// Queue waits are usually far below a millisecond.
const prometheus::Histogram::BucketBoundaries kWaitBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
// Jobs take from milliseconds (small N) to many minutes (10^8 digits).
const prometheus::Histogram::BucketBoundaries kJobBuckets = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 7200};

constexpr JobState kJobStates[] = {JobState::Queued, JobState::Running, JobState::Complete,
                                   JobState::Failed, JobState::Cancelled};

template <typename Builder>
auto& family(Builder builder, const char* name, const char* help, prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}
}  // namespace

const char* to_string(HandOutPath path) {
  switch (path) {
    case HandOutPath::Running: return "running";
    case HandOutPath::Paused: return "paused";
    case HandOutPath::Cold: return "cold";
  }
  return "?";
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      allocate_seconds_(family(prometheus::BuildHistogram(), "warmpool_allocate_seconds",
                               "Time to answer POST /allocations, by pool and outcome", *registry_)),
      hand_out_seconds_(family(prometheus::BuildHistogram(), "warmpool_hand_out_seconds",
                               "Time of a successful hand-out, by pool and path: running-idle, paused, or "
                               "cold (none idle on arrival)",
                               *registry_)),
      queue_wait_seconds_(family(prometheus::BuildHistogram(), "warmpool_queue_wait_seconds",
                                 "Time a task waited in its lane before a thread took it", *registry_)),
      engine_call_seconds_(family(prometheus::BuildHistogram(), "warmpool_engine_call_seconds",
                                  "Docker Engine API calls, by operation and result", *registry_)),
      job_seconds_(family(prometheus::BuildHistogram(), "warmpool_pi_job_seconds",
                          "Pi jobs that ran, from submission to their end, by final state", *registry_)),
      requests_(family(prometheus::BuildCounter(), "warmpool_http_requests_total",
                       "HTTP requests, by method and status class", *registry_)),
      faults_(family(prometheus::BuildCounter(), "warmpool_faults_total",
                     "Faults recorded: an instance put in error (a failed check, create or restart), by pool",
                     *registry_)),
      quota_refusals_(family(prometheus::BuildCounter(), "warmpool_quota_refusals_total",
                             "POST /allocations refused because the client held its quota (--quota-per-client), "
                             "by pool",
                             *registry_)),
      restarts_total_(family(prometheus::BuildCounter(), "warmpool_restarts_total",
                             "Restarts of faulty instances, by pool and result", *registry_)),
      replacements_(family(prometheus::BuildCounter(), "warmpool_replacements_total",
                           "Instances deleted because restarts did not save them, by pool", *registry_)),
      ticks_(family(prometheus::BuildCounter(), "warmpool_scheduler_ticks_total",
                    "Scheduler ticks, by result (ok, failed)", *registry_)),
      scheduler_actions_(family(prometheus::BuildCounter(), "warmpool_scheduler_actions_total",
                                "What scheduler ticks did, by action", *registry_)),
      instances_(family(prometheus::BuildGauge(), "warmpool_instances", "Live instances, by pool and state",
                        *registry_)),
      jobs_(family(prometheus::BuildGauge(), "warmpool_pi_jobs", "Pi jobs, by state", *registry_)),
      queue_depth_(family(prometheus::BuildGauge(), "warmpool_queue_depth", "Tasks waiting in a lane",
                          *registry_)),
      queue_tasks_(family(prometheus::BuildGauge(), "warmpool_queue_tasks",
                          "Tasks a lane has finished, by outcome (completed, expired, rejected)",
                          *registry_)),
      restarts_(family(prometheus::BuildGauge(), "warmpool_instance_restarts",
                       "Restarts of live instances since their last successful hand-out, by pool", *registry_)),
      hand_outs_(family(prometheus::BuildCounter(), "warmpool_hand_outs_total",
                        "Successful hand-outs, by pool and path: running-idle, paused, or cold (none idle on arrival)",
                        *registry_)),
      warm_share_(family(prometheus::BuildGauge(), "warmpool_warm_share_5m",
                         "Share of the last 5 minutes' hand-outs that found an idle instance (1 when none)",
                         *registry_).Add({})),
      forecast_(family(prometheus::BuildGauge(), "warmpool_demand_forecast",
                       "Hand-outs the demand model expects within one create time", *registry_).Add({})),
      target_(family(prometheus::BuildGauge(), "warmpool_demand_target",
                     "Idle instances upkeep aims for, by tier (idle: all, running: of them unpaused)", *registry_)),
      idle_seconds_(family(prometheus::BuildCounter(), "warmpool_idle_instance_seconds_total",
                           "Idle instances times seconds idle, by state (running, paused): what warmth costs",
                           *registry_)) {
  for (const char* tier : {"idle", "running"}) target_.Add({{"tier", tier}});
  for (const char* state : {"running", "paused"}) idle_seconds_.Add({{"state", state}});
  for (Lane lane : {Lane::High, Lane::Normal})
    queue_wait_by_lane_[static_cast<int>(lane)] =
        &queue_wait_seconds_.Add({{"lane", to_string(lane)}}, kWaitBuckets);
  // Series exist from the start, at zero: a scrape shows what can happen,
  // and rates need no special case for a series not yet seen. (A pool's
  // series: from its first render or observation.)
  for (JobState s : {JobState::Complete, JobState::Failed, JobState::Cancelled})
    job_seconds_.Add({{"state", to_string(s)}}, kJobBuckets);
  ticks_.Add({{"result", "ok"}});
  ticks_.Add({{"result", "failed"}});
  add_http_series();
  leader_ = &family(prometheus::BuildGauge(), "warmpool_leader",
                    "1 while this manager leads upkeep, reconcile and lease expiry, else 0", *registry_).Add({});
  leadership_changes_ = &family(prometheus::BuildCounter(), "warmpool_leadership_changes_total",
                                "Times this manager took or lost the leadership", *registry_).Add({});
}

// The HTTP server's bounds: connections, busy threads, refusals by reason.
void Metrics::add_http_series() {
  http_connections_ = &family(prometheus::BuildGauge(), "warmpool_http_connections",
                              "HTTP connections open now", *registry_).Add({});
  http_busy_threads_ = &family(prometheus::BuildGauge(), "warmpool_http_busy_threads",
                               "HTTP server threads serving a request now", *registry_).Add({});
  http_rejections_ = &family(prometheus::BuildCounter(), "warmpool_http_rejections_total",
                             "HTTP connections refused or cut, by reason: connections (--http-max-connections), "
                             "client_connections (--http-max-connections-per-client), read_timeout "
                             "(--http-request-read-timeout-ms), header_too_large (--http-max-header-bytes)",
                             *registry_);
  for (const char* reason : {"connections", "client_connections", "read_timeout", "header_too_large"})
    http_rejections_->Add({{"reason", reason}});
}

void Metrics::add_http_connections(int delta) { http_connections_->Increment(delta); }
void Metrics::add_http_busy_threads(int delta) { http_busy_threads_->Increment(delta); }
void Metrics::count_http_rejection(const std::string& reason) {
  http_rejections_->Add({{"reason", reason}}).Increment();
}

void Metrics::set_leading(bool leading) {
  leader_->Set(leading ? 1 : 0);
  if (leading_.exchange(leading) != leading) leadership_changes_->Increment();
}

void Metrics::observe_hand_out(const std::string& pool, HandOutPath path, double seconds) {
  {
    std::lock_guard lock(pools_mu_);
    PoolSeries& series = pool_series(pool);
    series.hand_out_seconds[static_cast<int>(path)]->Observe(seconds);
    series.hand_outs[static_cast<int>(path)]->Increment();
  }
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(recent_mu_);
  if (recent_ms_.size() < 100'000) recent_ms_.push_back(seconds * 1000);
  if (share_buckets_.empty() || now - share_buckets_.back().start >= std::chrono::seconds(10))
    share_buckets_.push_back({now});
  share_buckets_.back().warm += path != HandOutPath::Cold;
  ++share_buckets_.back().all;
}

double Metrics::warm_share_5m() {
  const auto since = std::chrono::steady_clock::now() - std::chrono::minutes(5);
  std::lock_guard lock(recent_mu_);
  while (!share_buckets_.empty() && share_buckets_.front().start < since) share_buckets_.pop_front();
  int warm = 0, all = 0;
  for (const auto& b : share_buckets_) warm += b.warm, all += b.all;
  return all ? static_cast<double>(warm) / all : 1.0;
}

void Metrics::set_demand(double forecast, int target_idle, int target_running) {
  forecast_.Set(forecast);
  target_.Add({{"tier", "idle"}}).Set(target_idle);
  target_.Add({{"tier", "running"}}).Set(target_running);
}

void Metrics::add_idle_seconds(double running, double paused) {
  if (running > 0) idle_seconds_.Add({{"state", "running"}}).Increment(running);
  if (paused > 0) idle_seconds_.Add({{"state", "paused"}}).Increment(paused);
}

std::vector<double> Metrics::take_recent_hand_outs() {
  std::lock_guard lock(recent_mu_);
  return std::exchange(recent_ms_, {});
}

void Metrics::observe_queue_wait(Lane lane, double seconds) {
  queue_wait_by_lane_[static_cast<int>(lane)]->Observe(seconds);
}

void Metrics::observe_engine_call(const std::string& operation, bool ok, double seconds) {
  engine_call_seconds_.Add({{"operation", operation}, {"result", ok ? "ok" : "error"}}, kLatencyBuckets)
      .Observe(seconds);
}

void Metrics::count_tick(bool ok) { ticks_.Add({{"result", ok ? "ok" : "failed"}}).Increment(); }

void Metrics::count_scheduler_actions(const std::vector<std::pair<std::string, int>>& actions) {
  for (const auto& [action, n] : actions)
    if (n > 0) scheduler_actions_.Add({{"action", action}}).Increment(n);
}

void Metrics::observe_job(JobState final_state, double seconds) {
  job_seconds_.Add({{"state", to_string(final_state)}}, kJobBuckets).Observe(seconds);
}

void Metrics::count_request(const std::string& method, int status) {
  requests_.Add({{"method", method}, {"code", std::to_string(status / 100) + "xx"}}).Increment();
}

void Metrics::observe_allocate(const std::string& pool, const std::string& outcome, double seconds) {
  std::lock_guard lock(pools_mu_);
  PoolSeries& series = pool_series(pool);
  auto*& histogram = series.allocate_seconds[outcome];
  if (!histogram) histogram = &allocate_seconds_.Add({{"pool", pool}, {"outcome", outcome}}, kLatencyBuckets);
  histogram->Observe(seconds);
}

void Metrics::count_fault(const std::string& pool) {
  std::lock_guard lock(pools_mu_);
  pool_series(pool).faults->Increment();
}

void Metrics::count_restart(const std::string& pool, bool ok) {
  std::lock_guard lock(pools_mu_);
  pool_series(pool).restarts[ok ? 0 : 1]->Increment();
}

void Metrics::count_replacement(const std::string& pool) {
  std::lock_guard lock(pools_mu_);
  pool_series(pool).replacements->Increment();
}

void Metrics::count_quota_refusal(const std::string& pool) {
  std::lock_guard lock(pools_mu_);
  pool_series(pool).quota_refusals->Increment();
}

Metrics::PoolSeries& Metrics::pool_series(const std::string& pool) {
  auto [it, made] = pools_.try_emplace(pool);
  if (!made) return it->second;
  PoolSeries& s = it->second;
  for (HandOutPath p : {HandOutPath::Running, HandOutPath::Paused, HandOutPath::Cold}) {
    const prometheus::Labels labels{{"pool", pool}, {"path", to_string(p)}};
    s.hand_out_seconds[static_cast<int>(p)] = &hand_out_seconds_.Add(labels, kLatencyBuckets);
    s.hand_outs[static_cast<int>(p)] = &hand_outs_.Add(labels);
  }
  for (const char* outcome : {"201", "429", "503"})
    s.allocate_seconds[outcome] = &allocate_seconds_.Add({{"pool", pool}, {"outcome", outcome}}, kLatencyBuckets);
  for (int state = 0; state < 8; ++state)
    s.instances[state] =
        &instances_.Add({{"pool", pool}, {"state", to_string(static_cast<InstanceState>(state))}});
  s.faults = &faults_.Add({{"pool", pool}});
  s.quota_refusals = &quota_refusals_.Add({{"pool", pool}});
  s.replacements = &replacements_.Add({{"pool", pool}});
  s.restarts = {&restarts_total_.Add({{"pool", pool}, {"result", "ok"}}),
                &restarts_total_.Add({{"pool", pool}, {"result", "failed"}})};
  s.instance_restarts = &restarts_.Add({{"pool", pool}});
  return s;
}

void Metrics::remove_pool_series(const PoolSeries& s) {
  for (auto* h : s.hand_out_seconds) hand_out_seconds_.Remove(h);
  for (auto* c : s.hand_outs) hand_outs_.Remove(c);
  for (const auto& [outcome, h] : s.allocate_seconds) allocate_seconds_.Remove(h);
  for (auto* g : s.instances) instances_.Remove(g);
  faults_.Remove(s.faults);
  quota_refusals_.Remove(s.quota_refusals);
  replacements_.Remove(s.replacements);
  for (auto* c : s.restarts) restarts_total_.Remove(c);
  restarts_.Remove(s.instance_restarts);
}

void Metrics::render_pools(const std::vector<Instance>& live) {
  std::set<std::string> known{kDefaultPool};  // never deleted
  if (pool_names)
    for (auto& name : pool_names()) known.insert(std::move(name));
  for (const auto& i : live) known.insert(i.pool);
  std::lock_guard lock(pools_mu_);
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (pool_names && !known.count(it->first)) {
      remove_pool_series(it->second);
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
  std::map<std::string, double> restarts;
  for (const auto& name : known) {
    for (auto* g : pool_series(name).instances) g->Set(0);
    restarts[name] = 0;
  }
  for (const auto& i : live) {
    pool_series(i.pool).instances[static_cast<int>(i.state)]->Increment();
    restarts[i.pool] += i.restarts;
  }
  for (const auto& [name, n] : restarts) pool_series(name).instance_restarts->Set(n);
}

void Metrics::render_engines(const std::vector<Instance>& live) {
  if (!engine_states) return;
  std::call_once(engine_families_made_, [this] {
    engine_state_ = &family(prometheus::BuildGauge(), "warmpool_engine_state",
                            "Each engine's state: 1 for the one it is in (up, down, draining)", *registry_);
    engine_instances_ = &family(prometheus::BuildGauge(), "warmpool_engine_instances",
                                "Live instances, by the engine that holds them", *registry_);
  });
  for (const auto& [name, state] : engine_states()) {
    for (const char* s : {"up", "down", "draining"})
      engine_state_->Add({{"engine", name}, {"state", s}}).Set(state == s ? 1 : 0);
    engine_instances_->Add({{"engine", name}}).Set(0);
  }
  for (const auto& i : live) engine_instances_->Add({{"engine", i.engine}}).Increment();
}

std::string Metrics::render(Store& store, Lanes& lanes) {
  const auto live = store.instances(Show::Current);
  render_pools(live);
  render_engines(live);
  warm_share_.Set(warm_share_5m());
  const auto jobs = store.job_counts();
  for (JobState s : kJobStates) {
    const auto found = jobs.find(s);
    jobs_.Add({{"state", to_string(s)}}).Set(found == jobs.end() ? 0 : static_cast<double>(found->second));
  }
  for (Lane lane : {Lane::High, Lane::Normal}) {
    const auto stats = lanes.stats(lane);
    const std::string name = to_string(lane);
    queue_depth_.Add({{"lane", name}}).Set(static_cast<double>(stats.queued));
    queue_tasks_.Add({{"lane", name}, {"outcome", "completed"}}).Set(static_cast<double>(stats.completed));
    queue_tasks_.Add({{"lane", name}, {"outcome", "expired"}}).Set(static_cast<double>(stats.expired));
    queue_tasks_.Add({{"lane", name}, {"outcome", "rejected"}}).Set(static_cast<double>(stats.rejected));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace warmpool
