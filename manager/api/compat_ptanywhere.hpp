// A view of the earlier system's management API (the one PT Anywhere's
// client, PTManagementClient, calls), under /compat/ptanywhere, over the same
// pool and records as the main API: an allocation made here is visible and
// can be released there, and the other way round.
//
// Shapes are the earlier ones: allocations {id, url, packetTracer,
// createdAt, deletedAt} with the allocation's number (Allocation::number) as
// the integer id and packetTracer as "host:port"; lists wrapped as
// {"allocations": [...]}, {"instances": [...]}, {"ports": [...]}; errors as
// {status, message, errorCode, errorMsg} (application/json), a 503 when no
// instance can be handed out. POST /files (a URL as text/plain) answers
// {url, filename}: a cached copy of that URL's content, fetched once (see
// files/file_cache.hpp); GET /files lists them. Allocations and files take the API token, instances,
// details and ports the admin token; as a bearer header, or, for that
// client (which sends no header), as the path segment right after the
// prefix: /compat/ptanywhere/{token}/allocations.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "files/file_cache.hpp"

namespace warmpool::api {

inline constexpr const char* kPtAnywherePrefix = "/compat/ptanywhere";

// Start files are cached in <data dir>/files, within `limits`.
void add_ptanywhere_routes(Server& server, const Config& config, Store& store, Pool& pool,
                           files::FetchLimits limits = {});

// The earlier shapes, for the routes and their tests.
nlohmann::json ptanywhere_json(const Allocation& allocation);
nlohmann::json ptanywhere_json(const Instance& instance);
// The earlier state of one of our instance states: starting, running (idle,
// running), deallocated (idle, paused; or being reset), allocated, error,
// finished (deleting or deleted).
const char* ptanywhere_state(InstanceState state);

}  // namespace warmpool::api
