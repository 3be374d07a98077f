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

double get_number(const json& body, const char* key, double lo, double hi, double fallback) {
  if (!body.contains(key)) return fallback;
  const json& v = body[key];
  if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
    throw BadRequest("\"" + std::string(key) + "\" must be a number from " + std::to_string(lo) + " to " +
                     std::to_string(hi));
  return v.get<double>();
}

}  // namespace

namespace {

json parse_pool_body(const std::string& text) {
  return parse_object(text, {"name", "image", "memoryMb", "cpus", "pids", "tmpfsMb", "portFirst", "portLast",
                             "minIdle", "maxIdle", "keepRunning", "health", "healthPath", "reset", "dataVolume",
                             "clientQuota"});
}

// The fields `body` gives, read into p; the others stay as they are.
void read_pool_fields(const json& body, PoolRecord& p) {
  auto text = [&](const char* key, std::size_t max_len, std::string& field) {
    if (body.contains(key)) field = get_string(body, key, max_len);
  };
  text("image", 500, p.image);
  p.memory_mb = get_int(body, "memoryMb", 16, 1'048'576, p.memory_mb);
  p.cpus = get_number(body, "cpus", 0.01, 1024, p.cpus);
  p.pids = static_cast<int>(get_int(body, "pids", 1, 65536, p.pids));
  p.tmpfs_mb = get_int(body, "tmpfsMb", 1, 1'048'576, p.tmpfs_mb);
  p.port_first = static_cast<int>(get_int(body, "portFirst", 1, 65535, p.port_first));
  p.port_last = static_cast<int>(get_int(body, "portLast", 1, 65535, p.port_last));
  p.min_idle = static_cast<int>(get_int(body, "minIdle", 0, 10000, p.min_idle));
  p.max_idle = static_cast<int>(get_int(body, "maxIdle", 0, 10000, p.max_idle));
  p.keep_running = static_cast<int>(get_int(body, "keepRunning", 0, 10000, p.keep_running));
  text("health", 20, p.health);
  text("healthPath", 500, p.health_path);
  text("reset", 20, p.reset);
  if (body.contains("dataVolume") && body["dataVolume"].is_null()) p.data_volume.clear();
  else text("dataVolume", 200, p.data_volume);
  p.client_quota = static_cast<int>(get_int(body, "clientQuota", 0, 100000, p.client_quota));
}

// Runs `change` (an add or a change of a pool); when the registry refuses
// it, answers with the problem and returns true.
template <typename F>
bool refused(httplib::Response& res, F&& change) {
  try {
    change();
    return false;
  } catch (const PoolRefused& e) {
    problem(res, e.refusal().status, "\"" + e.refusal().field + "\": " + e.refusal().detail, 0,
            {{"field", e.refusal().field}});
  } catch (const engine::EngineError& e) {
    problem(res, 503, std::string("cannot ask the engine about the image: ") + e.what(), 5);
  }
  return true;
}

}  // namespace

PoolRecord pool_from_body(const std::string& text, const PoolRecord& defaults) {
  const json body = parse_pool_body(text);
  for (const char* key : {"name", "image", "portFirst", "portLast"})
    if (!body.contains(key)) throw BadRequest("\"" + std::string(key) + "\" is required");
  PoolRecord p;
  p.name = get_string(body, "name", 200);
  p.memory_mb = defaults.memory_mb;
  p.cpus = defaults.cpus;
  p.pids = defaults.pids;
  p.tmpfs_mb = defaults.tmpfs_mb;
  read_pool_fields(body, p);
  if (!body.contains("maxIdle")) p.max_idle = std::max(p.min_idle, defaults.max_idle);
  if (!body.contains("keepRunning")) p.keep_running = std::min(p.min_idle, 1);
  return p;
}

PoolRecord pool_patch_from_body(const std::string& text, const PoolRecord& current) {
  const json body = parse_pool_body(text);
  if (body.contains("name") && get_string(body, "name", 200) != current.name)
    throw BadRequest("\"name\": a pool's name cannot change (add a pool of the new name and delete this one)");
  PoolRecord p = current;
  read_pool_fields(body, p);
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
    if (!refused(res, [&] { record = pools.add(record); })) {
      res.set_header("Location", "/pools/" + record.name);
      json_reply(res, 201, to_json(record, store.instances(Show::Current)));
    }
  });

  server.route("PATCH", R"(/pools/([^/]+))", Access::Admin, [&pools, &store](const auto& req, auto& res) {
    const std::string name = req.matches[1];
    std::optional<PoolRecord> record;
    if (refused(res, [&] {
          record = pools.change(name, [&](const PoolRecord& current) { return pool_patch_from_body(req.body, current); });
        }))
      return;
    if (!record) return problem(res, 404, "no pool named " + name, 0, {{"pool", name}});
    json_reply(res, 200, to_json(*record, store.instances(Show::Current)));
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
