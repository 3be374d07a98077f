#include "api/engine_routes.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/problem.hpp"

namespace warmpool::api {

using json = nlohmann::json;

namespace {

json status_json(const engine::EngineSet::Status& e) {
  json one = {{"name", e.name}, {"endpoint", e.endpoint}, {"state", engine::to_string(e.state)},
              {"instances", e.containers}, {"capacity", e.capacity}, {"weight", e.weight}};
  if (!e.error.empty()) one["error"] = e.error;
  return one;
}

// Idle instances on the drained engine go now; a busy one (claimed by a
// check or a hand-out) is left for a later drain.
int remove_idle_on(const std::string& name, Pool& pool, Store& store) {
  int removed = 0;
  for (const auto& i : store.instances(Show::Current)) {
    if (i.engine != name || !is_idle(i.state)) continue;
    try {
      removed += pool.delete_instance(i.id, "engine " + name + " drained").has_value();
    } catch (const PoolConflict& e) {
      spdlog::info("drain {}: {}", name, e.what());
    }
  }
  return removed;
}

}  // namespace

json engines_json(const engine::EngineSet& engines) {
  json out = json::array();
  for (const auto& e : engines.status()) out.push_back(status_json(e));
  return out;
}

void add_engine_routes(Server& server, engine::EngineSet& engines, Pool& pool, Store& store) {
  using Access = Server::Access;
  server.route("GET", "/engines", Access::Admin, [&engines](const httplib::Request&, httplib::Response& res) {
    json_reply(res, 200, engines_json(engines));
  });
  server.route("POST", R"(/engines/([^/]+)/drain)", Access::Admin,
               [&engines, &pool, &store](const httplib::Request& req, httplib::Response& res) {
                 const std::string name = req.matches[1];
                 if (!engines.drain(name)) return problem(res, 404, "no engine named \"" + name + "\"");
                 const int removed = remove_idle_on(name, pool, store);
                 spdlog::info("engine {} draining: {} idle instances removed", name, removed);
                 for (const auto& e : engines.status())
                   if (e.name == name) return json_reply(res, 200, status_json(e));
               });
}

}  // namespace warmpool::api
