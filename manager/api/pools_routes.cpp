#include "api/pools_routes.hpp"

#include <httplib.h>

#include "api/problem.hpp"
#include "base/text.hpp"
#include "engine/engine.hpp"

namespace warmpool::api {

using nlohmann::json;

json to_json(const PoolRecord& p, const std::vector<Instance>& instances) {
  json counts = json::object();
  for (const auto& i : instances)
    if (i.pool == p.name) counts[to_string(i.state)] = counts.value(to_string(i.state), 0) + 1;
  return {{"name", p.name},
          {"url", "/pools/" + p.name},
          {"image", p.image},
          {"memoryMb", p.memory_mb},
          {"cpus", p.cpus},
          {"pids", p.pids},
          {"tmpfsMb", p.tmpfs_mb},
          {"portFirst", p.port_first},
          {"portLast", p.port_last},
          {"minIdle", p.min_idle},
          {"maxIdle", p.max_idle},
          {"keepRunning", p.keep_running},
          {"health", p.health},
          {"healthPath", p.health_path},
          {"reset", p.reset},
          {"dataVolume", p.data_volume.empty() ? json(nullptr) : json(p.data_volume)},
          {"clientQuota", p.client_quota},
          {"state", to_string(p.state)},
          {"createdAt", iso8601(p.created_ms)},
          {"updatedAt", iso8601(p.updated_ms)},
          {"instances", counts}};
}

namespace {

int get_required_int(const json& body, const char* key, std::int64_t lo, std::int64_t hi) {
  if (!body.contains(key)) throw BadRequest("\"" + std::string(key) + "\" is required");
  return static_cast<int>(get_int(body, key, lo, hi, 0));
}

double get_number(const json& body, const char* key, double lo, double hi, double fallback) {
  if (!body.contains(key)) return fallback;
  const json& v = body[key];
  if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
    throw BadRequest("\"" + std::string(key) + "\" must be a number from " + std::to_string(lo) + " to " +
                     std::to_string(hi));
  return v.get<double>();
}

}  // namespace

PoolRecord pool_from_body(const std::string& text, const PoolRecord& defaults) {
  const json body = parse_object(text, {"name", "image", "memoryMb", "cpus", "pids", "tmpfsMb", "portFirst",
                                        "portLast", "minIdle", "maxIdle", "keepRunning", "health", "healthPath",
                                        "reset", "dataVolume", "clientQuota"});
  PoolRecord p;
  for (const char* key : {"name", "image"})
    if (!body.contains(key)) throw BadRequest("\"" + std::string(key) + "\" is required");
  p.name = get_string(body, "name", 200);
  p.image = get_string(body, "image", 500);
  p.memory_mb = get_int(body, "memoryMb", 16, 1'048'576, defaults.memory_mb);
  p.cpus = get_number(body, "cpus", 0.01, 1024, defaults.cpus);
  p.pids = static_cast<int>(get_int(body, "pids", 1, 65536, defaults.pids));
  p.tmpfs_mb = get_int(body, "tmpfsMb", 1, 1'048'576, defaults.tmpfs_mb);
  p.port_first = get_required_int(body, "portFirst", 1, 65535);
  p.port_last = get_required_int(body, "portLast", 1, 65535);
  p.min_idle = static_cast<int>(get_int(body, "minIdle", 0, 10000, 0));
  p.max_idle = static_cast<int>(get_int(body, "maxIdle", 0, 10000, std::max(p.min_idle, defaults.max_idle)));
  p.keep_running = static_cast<int>(get_int(body, "keepRunning", 0, 10000, std::min(p.min_idle, 1)));
  p.health = body.contains("health") ? get_string(body, "health", 20) : std::string("worker");
  p.health_path = body.contains("healthPath") ? get_string(body, "healthPath", 500) : std::string("/");
  p.reset = body.contains("reset") ? get_string(body, "reset", 20) : std::string("worker");
  p.data_volume = get_string(body, "dataVolume", 200);
  p.client_quota = static_cast<int>(get_int(body, "clientQuota", 0, 100000, 0));
  return p;
}

void add_pools_routes(Server& server, Pools& pools, Store& store) {
  using Access = Server::Access;
  server.route("GET", "/pools", Access::Admin, [&pools, &store](const auto&, auto& res) {
    const auto instances = store.instances(Show::Current);
    json list = json::array();
    for (const auto& p : pools.list()) list.push_back(to_json(p, instances));
    json_reply(res, 200, list);
  });

  server.route("POST", "/pools", Access::Admin, [&pools, &store](const auto& req, auto& res) {
    const auto defaults = pools.get(kDefaultPool).value_or(PoolRecord{});
    PoolRecord record = pool_from_body(req.body, defaults);
    try {
      record = pools.add(record);
    } catch (const PoolRefused& e) {
      return problem(res, e.refusal().status, "\"" + e.refusal().field + "\": " + e.refusal().detail, 0,
                     {{"field", e.refusal().field}});
    } catch (const engine::EngineError& e) {
      return problem(res, 503, std::string("cannot ask the engine about the image: ") + e.what(), 5);
    }
    res.set_header("Location", "/pools/" + record.name);
    json_reply(res, 201, to_json(record, store.instances(Show::Current)));
  });

  server.route("GET", R"(/pools/([^/]+))", Access::Admin, [&pools, &store](const auto& req, auto& res) {
    const std::string name = req.matches[1];
    auto record = pools.get(name);
    if (!record) return problem(res, 404, "no pool named " + name, 0, {{"pool", name}});
    json_reply(res, 200, to_json(*record, store.instances(Show::Current)));
  });

  server.route("DELETE", R"(/pools/([^/]+))", Access::Admin, [&pools, &store](const auto& req, auto& res) {
    const std::string name = req.matches[1];
    std::optional<PoolRecord> record;
    try {
      record = pools.drain(name);
    } catch (const PoolRefused& e) {
      return problem(res, e.refusal().status, e.refusal().detail, 0, {{"pool", name}});
    }
    if (!record) return problem(res, 404, "no pool named " + name, 0, {{"pool", name}});
    json_reply(res, 202, to_json(*record, store.instances(Show::Current)));
  });
}

}  // namespace warmpool::api
