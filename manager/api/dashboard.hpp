// The live dashboard: GET /dashboard (a page of the docs directory, open)
// polls GET /dashboard/feed (admin) every second, and GET
// /dashboard/history (admin: the last 15 minutes, one sample per scheduler
// tick, PoolHistory) for its charts, and the admin routes GET /pools and GET
// /engines for its tables of pools and engines. The feed is one snapshot:
// instances by state, current allocations with their leases, queue depths,
// pi jobs with progress, and recent faults and recoveries (DashboardFeed in
// swagger/openapi.yaml).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "base/clock.hpp"
#include "config/config.hpp"

namespace warmpool::api {

// What the feed shows that the pool and the store do not know.
struct DashboardSources {
  // Recent pi jobs, newest first, each shaped as GET /pi_job/{id} answers
  // (PiJobStatus). Empty function: the feed reports "piJobs": null.
  std::function<nlohmann::json()> pi_jobs;
};

// Registers GET /dashboard and GET /dashboard/feed on `server`. Every
// reference must outlive the server.
void add_dashboard_routes(Server& server, const Config& config, Store& store, Pool& pool,
                          Lanes& lanes, const Clock& clock, DashboardSources sources = {});

// The pool part of /details and of the feed (PoolSummary).
nlohmann::json pool_summary(const Config& config, Pool& pool);
// Both lanes' statistics (Queues).
nlohmann::json queue_stats(const Lanes& lanes);

// The faults, recoveries and removals in the event log (`events` newest
// first, as Store::events gives them), newest first, at most `limit`
// (FaultEvent): "fault" on entering error, "recovered" on entering ready or
// paused after a fault (with the fault it recovered from), "removed" on
// entering deleting. A fault that recovered within a second still shows,
// unlike in the instance records, which keep only the last error.
nlohmann::json recent_faults(const std::vector<InstanceEvent>& events, std::size_t limit);

// One feed snapshot taken at now_ms.
nlohmann::json dashboard_feed(const Config& config, Store& store, Pool& pool, const Lanes& lanes,
                              const DashboardSources& sources, std::int64_t now_ms);

}  // namespace warmpool::api
