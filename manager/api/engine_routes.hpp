// Several engines through the admin API: GET /engines lists them with their
// state; POST /engines adds one (recorded, back at the next start) and
// DELETE /engines/{name} removes one; POST /engines/{name}/drain stops
// placement on one and removes its idle instances (allocated ones are left
// to finish; upkeep replaces the idle ones on the other engines);
// POST /engines/{name}/resume undoes it. The handlers parse and answer;
// pools/engine_admin.hpp decides.
#pragma once

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "engine/engine_set.hpp"
#include "pools/engine_admin.hpp"

namespace warmpool::api {

// The engines in the order given, each as the spec's EngineStatus.
nlohmann::json engines_json(const engine::EngineSet& engines);

// The references must outlive the server.
void add_engine_routes(Server& server, engine::EngineSet& engines, EngineAdmin& admin);

}  // namespace warmpool::api
