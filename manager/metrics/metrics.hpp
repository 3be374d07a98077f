// Prometheus metrics (prometheus-cpp), served at GET /metrics (admin).
// Counters and histograms are updated where things happen; gauges that
// mirror records (instances and jobs by state, queue depths) are read at
// scrape time.
//
// Series about a pool carry a `pool` label (instances by state, hand-outs
// and their latency by path, POST /allocations by outcome, quota refusals,
// faults, restarts, replacements): each pool's exist from its first render
// or observation, at zero, and go at the first render after the pool is
// gone (not in pool_names, no live instance).
//
// Thread-safe. One Metrics serves the whole manager: the App makes it and
// hands it to the pool, the lanes, the engine client, the job runner and the
// HTTP server.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "metrics/history.hpp"
#include "records/job_state.hpp"
#include "records/records.hpp"
#include "queue/lanes.hpp"

namespace warmpool {

class Store;

// How a hand-out found its instance: running-idle, paused, or none idle on
// arrival (it waited for one to be created or returned).
enum class HandOutPath { Running, Paused, Cold };
const char* to_string(HandOutPath path);

class Metrics {
 public:
  Metrics();

  // One POST /allocations to `pool`, by outcome: "201", "429", "503".
  void observe_allocate(const std::string& pool, const std::string& outcome, double seconds);
  // One successful hand-out inside `pool` (public or pi job), by path.
  void observe_hand_out(const std::string& pool, HandOutPath path, double seconds);
  // Time a task waited in its lane before a thread took it.
  void observe_queue_wait(Lane lane, double seconds);
  // One engine call, by operation ("create", "unpause", ...) and result.
  void observe_engine_call(const std::string& operation, bool ok, double seconds);
  // An instance put in error: a failed hand-out check, reset, scheduler
  // check, create or restart.
  void count_fault(const std::string& pool);
  // A restart of a faulty instance, by result.
  void count_restart(const std::string& pool, bool ok);
  // An instance deleted because restarts did not save it.
  void count_replacement(const std::string& pool);
  // A hand-out refused because its client held its quota.
  void count_quota_refusal(const std::string& pool);
  // One scheduler tick, by result; and what the good ones did, by action
  // ("expired", "faults", "created", ...).
  void count_tick(bool ok);
  void count_scheduler_actions(const std::vector<std::pair<std::string, int>>& actions);
  // A pi job that ran and ended: "complete", "failed" or "cancelled", with
  // the seconds from its submission.
  void observe_job(JobState final_state, double seconds);
  // One HTTP request, by method and status class ("2xx", "4xx", ...).
  void count_request(const std::string& method, int status);

  // The HTTP server's connections (warmpool_http_connections, open now),
  // threads serving a request (warmpool_http_busy_threads), and refused or
  // cut connections by reason (warmpool_http_rejections_total).
  void add_http_connections(int delta);
  void add_http_busy_threads(int delta);
  void count_http_rejection(const std::string& reason);

  // Whether this manager leads upkeep (warmpool_leader, 1 or 0), from each
  // scheduler tick; a change from the last call counts in
  // warmpool_leadership_changes_total.
  void set_leading(bool leading);

  // --- demand (the pool's shape and what warmth costs) ---
  // The demand model's forecast (hand-outs expected within one create time)
  // and the targets upkeep applied.
  void set_demand(double forecast, int target_idle, int target_running);
  // Idle instances times the seconds they were idle, by tier.
  void add_idle_seconds(double running, double paused);
  // Hand-out times (ms) since the last call, for the history's percentiles.
  std::vector<double> take_recent_hand_outs();
  // The last 15 minutes, one sample per scheduler tick (the dashboard's charts).
  History& history() { return history_; }

  // The Prometheus text exposition, gauges refreshed from the sources.
  std::string render(Store& store, Lanes& lanes);

  // Several engines: each engine's name and state (up, down, draining), read
  // at each render into warmpool_engine_state{engine,state} (1 for its state)
  // beside warmpool_engine_instances{engine}. Set before serving; none: no
  // engine series.
  std::function<std::vector<std::pair<std::string, std::string>>()> engine_states;
  // The pools on record (draining ones included), read at each render: each
  // has its series, and those of a pool not listed (and with no live
  // instance) are removed. Set before serving; none: only the pools seen.
  std::function<std::vector<std::string>()> pool_names;

 private:
  void add_http_series();
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& allocate_seconds_;
  prometheus::Family<prometheus::Histogram>& hand_out_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_wait_seconds_;
  prometheus::Family<prometheus::Histogram>& engine_call_seconds_;
  prometheus::Family<prometheus::Histogram>& job_seconds_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& faults_;
  prometheus::Family<prometheus::Counter>& quota_refusals_;
  prometheus::Family<prometheus::Counter>& restarts_total_;
  prometheus::Family<prometheus::Counter>& replacements_;
  prometheus::Family<prometheus::Counter>& ticks_;
  prometheus::Family<prometheus::Counter>& scheduler_actions_;
  prometheus::Family<prometheus::Gauge>& instances_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& queue_tasks_;
  prometheus::Family<prometheus::Gauge>& restarts_;
  // The hot paths' series, looked up once.
  std::array<prometheus::Histogram*, 2> queue_wait_by_lane_{};

  // One pool's series (pool_series.cpp), made together and removed together.
  struct PoolSeries {
    std::array<prometheus::Histogram*, 3> hand_out_seconds{};  // by HandOutPath
    std::array<prometheus::Counter*, 3> hand_outs{};
    std::map<std::string, prometheus::Histogram*> allocate_seconds;  // by outcome; 201, 429, 503 at least
    std::array<prometheus::Gauge*, 8> instances{};             // by InstanceState
    prometheus::Counter* faults = nullptr;
    prometheus::Counter* quota_refusals = nullptr;
    prometheus::Counter* replacements = nullptr;
    std::array<prometheus::Counter*, 2> restarts{};  // ok, failed
    prometheus::Gauge* instance_restarts = nullptr;
  };
  // The series of `pool`, made at zero if new. REQUIRES: pools_mu_ held.
  PoolSeries& pool_series(const std::string& pool);
  void remove_pool_series(const PoolSeries& series);  // REQUIRES: pools_mu_ held
  // The instance gauges, per pool; pools gone lose their series.
  void render_pools(const std::vector<Instance>& live);
  std::mutex pools_mu_;
  std::map<std::string, PoolSeries> pools_;  // GUARDED_BY(pools_mu_)
  // The HTTP server's bounds.
  prometheus::Gauge* http_connections_ = nullptr;
  prometheus::Gauge* http_busy_threads_ = nullptr;
  prometheus::Family<prometheus::Counter>* http_rejections_ = nullptr;
  // Leadership among managers on one database.
  prometheus::Gauge* leader_ = nullptr;
  prometheus::Counter* leadership_changes_ = nullptr;
  std::atomic<bool> leading_{false};


  // demand
  double warm_share_5m();
  prometheus::Family<prometheus::Counter>& hand_outs_;
  prometheus::Gauge& warm_share_;
  prometheus::Gauge& forecast_;
  prometheus::Family<prometheus::Gauge>& target_;
  prometheus::Family<prometheus::Counter>& idle_seconds_;
  std::once_flag engine_families_made_;
  prometheus::Family<prometheus::Gauge>* engine_state_ = nullptr;      // made at the first render with engines
  prometheus::Family<prometheus::Gauge>* engine_instances_ = nullptr;
  void render_engines(const std::vector<Instance>& live);
  History history_;
  std::mutex recent_mu_;
  std::vector<double> recent_ms_;  // GUARDED_BY(recent_mu_); bounded
  struct Bucket {
    std::chrono::steady_clock::time_point start;
    int warm = 0, all = 0;
  };
  std::deque<Bucket> share_buckets_;  // GUARDED_BY(recent_mu_); 10 s each, the last 5 minutes
};

}  // namespace warmpool
