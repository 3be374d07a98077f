// Several engines through the admin API: GET /engines lists them with their
// state; POST /engines/{name}/drain stops placement on one and removes its
// idle instances (allocated ones are left to finish; upkeep replaces the
// idle ones on the other engines).
#pragma once

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "engine/engine_set.hpp"
#include "pool/pool.hpp"
#include "store/store.hpp"

namespace warmpool::api {

// The engines in the order given, each as the spec's EngineStatus.
nlohmann::json engines_json(const engine::EngineSet& engines);

// The references must outlive the server.
void add_engine_routes(Server& server, engine::EngineSet& engines, Pool& pool, Store& store);

}  // namespace warmpool::api
