#include "api/dashboard.hpp"

#include <algorithm>

#include <httplib.h>

#include "api/docs.hpp"
#include "api/problem.hpp"
#include "base/text.hpp"

namespace warmpool::api {

using nlohmann::json;

json pool_summary(const Config& config, Pool& pool) {
  const PoolCounts counts = pool.counts();
  return {{"byState", counts.by_state},
          {"busy", counts.claimed},
          {"waitingAllocations", counts.waiting},
          {"maxInstances", config.max_instances},
          {"minIdle", config.min_idle},
          {"maxIdle", config.max_idle},
          {"keepRunning", config.keep_running}};
}

json queue_stats(const Lanes& lanes) {
  auto lane = [&lanes](Lane l) {
    const auto s = lanes.stats(l);
    return json{{"queued", s.queued}, {"running", s.running}, {"completed", s.completed},
                {"expired", s.expired}, {"rejected", s.rejected}};
  };
  return {{"high", lane(Lane::High)}, {"normal", lane(Lane::Normal)}};
}

json recent_faults(const std::vector<Instance>& instances, std::size_t limit) {
  std::vector<const Instance*> touched;
  for (const auto& i : instances) {
    if (!i.last_error.empty() || i.restarts > 0 || i.state == InstanceState::Error) touched.push_back(&i);
  }
  std::stable_sort(touched.begin(), touched.end(),
                   [](const Instance* a, const Instance* b) { return a->updated_ms > b->updated_ms; });
  if (touched.size() > limit) touched.resize(limit);

  json events = json::array();
  for (const Instance* i : touched) {
    const char* kind = "recovered";
    if (i->state == InstanceState::Error || (i->state == InstanceState::Starting && i->failures > 0))
      kind = "fault";
    else if (i->state == InstanceState::Deleting || i->state == InstanceState::Deleted)
      kind = "removed";
    events.push_back({{"instance", i->id},
                      {"state", to_string(i->state)},
                      {"kind", kind},
                      {"at", iso8601(i->updated_ms)},
                      {"failures", i->failures},
                      {"restarts", i->restarts},
                      {"lastError", i->last_error.empty() ? json(nullptr) : json(i->last_error)}});
  }
  return events;
}

json dashboard_feed(const Config& config, Store& store, Pool& pool, const Lanes& lanes,
                    const DashboardSources& sources, std::int64_t now_ms) {
  json instances = json::array();
  std::map<std::int64_t, std::string> allocation_of;
  json allocations = json::array();
  for (const auto& a : store.allocations(Show::Current)) {
    allocation_of[a.instance_id] = a.id;
    allocations.push_back(to_json(a));
  }
  const auto all = store.instances(Show::All);
  for (const auto& i : all) {
    if (i.deleted_ms) continue;
    json record = to_json(i);
    auto it = allocation_of.find(i.id);
    record["allocation"] = it != allocation_of.end() ? json(it->second) : json(nullptr);
    instances.push_back(std::move(record));
  }
  return {{"generatedAt", iso8601(now_ms)},
          {"pool", pool_summary(config, pool)},
          {"queues", queue_stats(lanes)},
          {"instances", std::move(instances)},
          {"allocations", std::move(allocations)},
          {"piJobs", sources.pi_jobs ? sources.pi_jobs() : json(nullptr)},
          {"faults", recent_faults(all, 20)}};
}

void add_dashboard_routes(Server& server, const Config& config, Store& store, Pool& pool,
                          Lanes& lanes, const Clock& clock, DashboardSources sources) {
  using Access = Server::Access;
  server.route("GET", "/dashboard", Access::Open,
               [&config](const httplib::Request&, httplib::Response& res) {
                 serve_docs_file(res, config, "dashboard.html");
               });
  server.route("GET", "/dashboard/feed", Access::Admin,
               [&, sources = std::move(sources)](const httplib::Request&, httplib::Response& res) {
                 res.set_header("Cache-Control", "no-store");
                 json_reply(res, 200,
                            dashboard_feed(config, store, pool, lanes, sources, clock.now_ms()));
               });
  server.route("GET", "/dashboard/history", Access::Admin,
               [&history = server.metrics().history()](const httplib::Request&, httplib::Response& res) {
                 res.set_header("Cache-Control", "no-store");
                 json_reply(res, 200, history.to_json());
               });
}

}  // namespace warmpool::api
