#include "api/dashboard.hpp"

#include <algorithm>
#include <map>

#include <httplib.h>

#include "api/docs.hpp"
#include "api/problem.hpp"
#include "base/text.hpp"

namespace warmpool::api {

using nlohmann::json;

json pool_summary(const Config& config, Pool& pool) {
  const PoolCounts counts = pool.counts();
  const Capacity capacity = pool.capacity();
  const auto target = pool.demand().last_applied();
  return {{"byState", counts.by_state},
          {"busy", counts.claimed},
          {"waitingAllocations", counts.waiting},
          {"maxInstances", config.max_instances},
          {"minIdle", config.min_idle},
          {"maxIdle", config.max_idle},
          {"keepRunning", config.keep_running},
          {"policy", config.pool_policy},
          {"ports", {{"first", config.port_first}, {"last", config.port_last}}},
          {"thresholds", {{"hostCpu", capacity.cpu_limit()},
                          {"hostMemory", capacity.memory_limit()},
                          {"memoryBudgetBytes", capacity.memory_budget_bytes},
                          {"cpuBudget", capacity.cpu_budget}}},
          {"target", target ? json{{"idle", target->idle},
                                   {"running", target->running},
                                   {"forecast", target->forecast}}
                            : json(nullptr)}};
}

json queue_stats(const Lanes& lanes) {
  auto lane = [&lanes](Lane l) {
    const auto s = lanes.stats(l);
    return json{{"queued", s.queued}, {"running", s.running}, {"completed", s.completed},
                {"expired", s.expired}, {"rejected", s.rejected}};
  };
  return {{"high", lane(Lane::High)}, {"normal", lane(Lane::Normal)}};
}

json recent_faults(const std::vector<InstanceEvent>& events, std::size_t limit) {
  std::map<std::int64_t, std::string> fault_of;  // instance -> the fault it has not recovered from
  std::vector<json> story;
  for (auto it = events.rbegin(); it != events.rend(); ++it) {  // oldest first
    const InstanceEvent& e = *it;
    std::string kind;
    json detail = e.detail.empty() ? json(nullptr) : json(e.detail);
    if (e.to == InstanceState::Error) {
      kind = "fault";
      fault_of[e.instance_id] = e.detail.empty() ? "error" : e.detail;
    } else if (e.to == InstanceState::Deleting) {
      kind = "removed";
      fault_of.erase(e.instance_id);
    } else if ((e.to == InstanceState::Ready || e.to == InstanceState::Paused) && fault_of.count(e.instance_id)) {
      kind = "recovered";
      detail = "recovered from: " + fault_of[e.instance_id];
      fault_of.erase(e.instance_id);
    } else {
      continue;
    }
    story.push_back({{"instance", e.instance_id},
                     {"kind", kind},
                     {"at", iso8601(e.at_ms)},
                     {"from", e.from ? json(to_string(*e.from)) : json(nullptr)},
                     {"to", to_string(e.to)},
                     {"detail", std::move(detail)}});
  }
  json newest_first = json::array();
  for (auto it = story.rbegin(); it != story.rend() && newest_first.size() < limit; ++it)
    newest_first.push_back(std::move(*it));
  return newest_first;
}

// Enough of the event log to pair recent recoveries with their faults.
constexpr std::size_t kFeedEvents = 500;

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
          {"faults", recent_faults(store.events(std::nullopt, kFeedEvents), 30)}};
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
