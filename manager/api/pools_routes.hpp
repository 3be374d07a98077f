// The admin routes of pools: GET/POST /pools, GET/PATCH/DELETE
// /pools/{name}. A new pool takes the default pool's limits and policy for
// the fields it does not give; name, image and its port range are
// required. PATCH merges the fields it gives into the record (the name
// stays; see Pools::change for what happens to the instances). DELETE
// drains (202): no new hand-outs, idle instances removed, allocated ones as
// their allocations end; the record goes once the pool is empty.
#pragma once

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "pools/pools.hpp"

namespace warmpool::api {

// {name, image, ..., state, createdAt, updatedAt, instances: {state: count}}.
nlohmann::json to_json(const PoolRecord& pool, const std::vector<Instance>& instances);

// A new pool's record from a POST body, its unnamed fields from `defaults`.
// Throws BadRequest naming the field.
PoolRecord pool_from_body(const std::string& body, const PoolRecord& defaults);

// A pool's changed record from a PATCH body: `current` with the fields the
// body gives. Throws BadRequest naming the field (a name that differs too).
PoolRecord pool_patch_from_body(const std::string& body, const PoolRecord& current);

// `pools` and `store` must outlive the server.
void add_pools_routes(Server& server, Pools& pools, Store& store);

}  // namespace warmpool::api
