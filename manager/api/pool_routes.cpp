// The pool's routes: allocations (public), instances, health and details.
#include <limits>
#include <optional>
#include <set>

#include <httplib.h>

#include "api/dashboard.hpp"
#include "api/problem.hpp"
#include "api/server.hpp"
#include "base/text.hpp"
#include "host/host.hpp"
#include "warmpool/version.hpp"

namespace warmpool::api {

using nlohmann::json;

namespace {

Show parse_show(const httplib::Request& req) {
  if (!req.has_param("show")) return Show::Current;
  const auto v = req.get_param_value("show");
  if (v == "current") return Show::Current;
  if (v == "finished") return Show::Finished;
  if (v == "all") return Show::All;
  throw BadRequest("\"show\" must be current, finished or all");
}

// ?state=paused,error: the states asked for; nullopt when not given.
std::optional<std::set<InstanceState>> parse_states(const httplib::Request& req) {
  if (!req.has_param("state")) return std::nullopt;
  std::set<InstanceState> states;
  const std::string text = req.get_param_value("state");
  std::size_t from = 0;
  for (;;) {
    const std::size_t comma = text.find(',', from);
    const std::string name = text.substr(from, comma - from);
    auto state = instance_state_from(name);
    if (!state)
      throw BadRequest("\"state\" must be a comma-separated list of starting, ready, paused, allocated, "
                       "resetting, error, deleting, deleted; got \"" + name + "\"");
    states.insert(*state);
    if (comma == std::string::npos) return states;
    from = comma + 1;
  }
}

// ?client=...: only that client's allocations; nullopt when not given.
std::optional<std::string> parse_client(const httplib::Request& req) {
  if (!req.has_param("client")) return std::nullopt;
  std::string client = req.get_param_value("client");
  if (client.size() > 200) throw BadRequest("\"client\" must be at most 200 characters");
  return client;
}

// ?pool=...: only that pool's records; nullopt when not given.
std::optional<std::string> parse_pool(const httplib::Request& req) {
  if (!req.has_param("pool")) return std::nullopt;
  std::string pool = req.get_param_value("pool");
  if (auto why = pool_name_refusal(pool)) throw BadRequest("\"pool\": " + *why);
  return pool;
}

constexpr std::int64_t kDefaultAllocationsPage = 1000;
constexpr std::int64_t kMaxAllocationsPage = 10000;

// The next page of GET /allocations: the same filters, after `last`.
std::string next_allocations_link(const httplib::Request& req, const Store::AllocationQuery& query,
                                  std::int64_t last) {
  std::string url = "/allocations?limit=" + std::to_string(query.limit) + "&after=" + std::to_string(last);
  if (req.has_param("show")) url += "&show=" + req.get_param_value("show");  // checked by parse_show
  if (query.client) url += "&client=" + httplib::detail::encode_query_param(*query.client);
  if (query.pool) url += "&pool=" + *query.pool;  // checked by parse_pool: safe in a URL
  return "<" + url + ">; rel=\"next\"";
}

// An optional integer query parameter in [min, max].
std::optional<std::int64_t> int_param(const httplib::Request& req, const char* name, std::int64_t min,
                                      std::int64_t max) {
  if (!req.has_param(name)) return std::nullopt;
  auto value = parse_int(req.get_param_value(name), min, max);
  if (!value)
    throw BadRequest("\"" + std::string(name) + "\" must be an integer from " + std::to_string(min) +
                     " to " + std::to_string(max));
  return value;
}

// The request's `init`, checked before any instance is claimed; null when
// it has none. Throws InitRefused.
std::shared_ptr<const SessionInit> parse_init(const json& parsed, const Config& config) {
  if (!parsed.contains("init")) return nullptr;
  const InitLimits limits{config.max_init_bytes, static_cast<std::size_t>(config.max_init_files),
                          static_cast<std::size_t>(config.max_init_path_bytes),
                          config.data_volume.empty() ? std::string() : std::string("data")};
  return std::make_shared<const SessionInit>(parse_session_init(parsed["init"], limits));
}

// A client over its quota waits for one of its own allocations to end,
// which only it can cause: a short hint.
constexpr int kQuotaRetryAfterS = 1;

// -1 (no such record) for anything that is not a decimal int64.
std::int64_t parse_id(const std::string& text) {
  return parse_int(text, 0, std::numeric_limits<std::int64_t>::max()).value_or(-1);
}

}  // namespace

// ---------------------------------------------------------------------------
// /allocations

void Server::create_allocation(const httplib::Request& req, httplib::Response& res) {
  // One parse: the body's JSON, and whether it names a key twice.
  json parsed;
  const auto twice = duplicate_key(req.body, &parsed);
  if (twice) return problem(res, 400, "the body names \"" + *twice + "\" twice");
  const json body =
      checked_object(req.body, std::move(parsed), {"lease_seconds", "client", "timeout_ms", "init", "pool"});
  const std::string name = body.contains("pool") ? get_string(body, "pool", 200) : std::string(kDefaultPool);
  Pool* pool = pool_named(name);
  if (!pool) return problem(res, 404, "\"pool\": no pool named " + name, 0, {{"pool", name}});
  if (pool->draining())
    return problem(res, 409, "\"pool\": pool " + name + " is draining: it hands nothing out", 0, {{"pool", name}});
  allocate(req, res, *pool, body);
}

Pool* Server::pool_named(const std::string& name) {
  if (pools_) return pools_->find(name);
  return name == kDefaultPool ? &pool_ : nullptr;
}

void Server::allocate(const httplib::Request& req, httplib::Response& res, Pool& pool, const json& body) {
  Pool::AllocateRequest request;
  if (body.contains("init") && !pool.settings().protocol.speaks_worker())
    return problem(res, 400,
                   std::string("\"init\": this pool's image does not speak the worker protocol (health ") +
                       to_string(pool.settings().protocol.health) + "): it takes no init payload");
  try {
    request.init = parse_init(body, config_);
  } catch (const InitRefused& e) {
    return problem(res, e.status(), e.what());
  }
  request.lease_ms = 1000 * get_int(body, "lease_seconds", 1, config_.max_lease_s, config_.lease_s);
  request.client = get_string(body, "client", 200);
  const auto timeout = get_int(body, "timeout_ms", 1, 600000, config_.allocate_timeout_ms);
  // The deadline counts from when the client sent the request: a request
  // read only after its connection waited for a thread, past its deadline,
  // has a client that has given up, and must not take an instance.
  const auto started = std::chrono::steady_clock::now() - request_wait();
  request.deadline = started + std::chrono::milliseconds(timeout);
  auto observe = [&] {
    metrics_->observe_allocate(pool.settings().name, std::to_string(res.status),
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  };
  if (request.deadline <= std::chrono::steady_clock::now()) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(request_wait()).count();
    problem(res, 503,
            "the request waited " + std::to_string(waited) +
                " ms for a server thread, past its deadline (all --http-threads were busy)",
            1);
    observe();
    return;
  }
  try {
    const Allocation a = pool.allocate(request);
    res.set_header("Location", "/allocations/" + a.id);
    json created = to_json(a);
    created["token"] = a.token;  // here only: the store keeps its hash
    json_reply(res, 201, created);
    observe();
  } catch (const AllocateError& e) {
    switch (e.kind()) {
      case AllocateError::Kind::QueueFull: problem(res, 429, e.what(), 1); break;
      case AllocateError::Kind::Timeout: problem(res, 503, e.what(), 1); break;
      case AllocateError::Kind::EngineDown: problem(res, 503, e.what(), 5); break;
      case AllocateError::Kind::InitRefused: problem(res, 422, "the worker refused init: " + std::string(e.what())); break;
      case AllocateError::Kind::OverQuota:
        problem(res, 429, e.what(), kQuotaRetryAfterS,
                {{"client", request.client}, {"scope", to_string(e.quota_scope())}, {"pool", pool.settings().name},
                 {"quota", e.quota()}, {"current", e.current()}});
        break;
    }
    observe();
  }
}

void Server::add_allocation_routes() {
  route("POST", "/allocations", Access::Public,
        [this](const auto& req, auto& res) { create_allocation(req, res); });

  // A page at a time, oldest first: a week of history does not fit one
  // answer. A full page links to the next.
  route("GET", "/allocations", Access::Public, [this](const auto& req, auto& res) {
    const Store::AllocationQuery query{
        .show = parse_show(req),
        .client = parse_client(req),
        .pool = parse_pool(req),
        .after_number = int_param(req, "after", 0, std::numeric_limits<std::int64_t>::max()).value_or(0),
        .limit = int_param(req, "limit", 1, kMaxAllocationsPage).value_or(kDefaultAllocationsPage)};
    const auto page = store_.allocations(query);
    json list = json::array();
    for (const auto& a : page) list.push_back(to_json(a));
    if (static_cast<std::int64_t>(page.size()) == query.limit)
      res.set_header("Link", next_allocations_link(req, query, page.back().number));
    json_reply(res, 200, list);
  });

  route("GET", R"(/allocations/([^/]+))", Access::Public, [this](const auto& req, auto& res) {
    auto a = store_.allocation(req.matches[1]);
    if (!a) return problem(res, 404, "no allocation " + std::string(req.matches[1]));
    json_reply(res, 200, to_json(*a));
  });

  // Through the allocation's own pool. One whose pool is gone has ended
  // already (a pool goes once its last instance has).
  route("DELETE", R"(/allocations/([^/]+))", Access::Public, [this](const auto& req, auto& res) {
    auto a = store_.allocation(req.matches[1]);
    if (!a) return problem(res, 404, "no allocation " + std::string(req.matches[1]));
    if (Pool* pool = pool_named(a->pool)) a = pool->release(a->id);
    if (!a) return problem(res, 404, "no allocation " + std::string(req.matches[1]));
    json_reply(res, 200, to_json(*a));
  });

  route("POST", R"(/allocations/([^/]+)/renew)", Access::Public, [this](const auto& req, auto& res) {
    const json body = parse_object(req.body, {"lease_seconds"});
    const auto lease = get_int(body, "lease_seconds", 1, config_.max_lease_s, config_.lease_s);
    auto a = store_.allocation(req.matches[1]);
    if (!a) return problem(res, 404, "no allocation " + std::string(req.matches[1]));
    if (Pool* pool = pool_named(a->pool)) a = pool->renew(a->id, lease * 1000);
    if (!a) return problem(res, 404, "no allocation " + std::string(req.matches[1]));
    if (!a->current()) return problem(res, 409, "allocation " + a->id + " has ended");
    json_reply(res, 200, to_json(*a));
  });
}

// ---------------------------------------------------------------------------
// /instances

void Server::add_instance_routes() {
  route("GET", "/instances", Access::Admin, [this](const auto& req, auto& res) {
    json list = json::array();
    const auto states = parse_states(req);
    const auto pool = parse_pool(req);
    for (const auto& i : store_.instances(parse_show(req)))
      if ((!states || states->count(i.state)) && (!pool || i.pool == *pool)) list.push_back(to_json(i));
    json_reply(res, 200, list);
  });

  // State changes, newest first: of one instance, or of all.
  route("GET", "/events", Access::Admin, [this](const auto& req, auto& res) {
    const auto instance = int_param(req, "instance", 1, std::numeric_limits<std::int64_t>::max());
    const auto limit = int_param(req, "limit", 1, 1000).value_or(100);
    json list = json::array();
    for (const auto& e : store_.events(instance, static_cast<std::size_t>(limit))) list.push_back(to_json(e));
    json_reply(res, 200, list);
  });

  route("POST", "/instances", Access::Admin, [this](const auto& req, auto& res) {
    parse_object(req.body, {});
    try {
      const Instance i = pool_.add_instance();
      res.set_header("Location", "/instances/" + std::to_string(i.id));
      json_reply(res, 201, to_json(i));
    } catch (const PoolConflict& e) {
      problem(res, 409, e.what());
    }
  });

  route("GET", R"(/instances/(\d+))", Access::Admin, [this](const auto& req, auto& res) {
    auto i = store_.instance(parse_id(req.matches[1]));
    if (!i) return problem(res, 404, "no instance " + std::string(req.matches[1]));
    json body = to_json(*i);
    auto current = store_.current_allocation_of(i->id);
    body["allocation"] = current ? json(current->id) : json(nullptr);
    json_reply(res, 200, body);
  });

  route("DELETE", R"(/instances/(\d+))", Access::Admin, [this](const auto& req, auto& res) {
    try {
      auto i = pool_.delete_instance(parse_id(req.matches[1]), "deleted by an operator");
      if (!i) return problem(res, 404, "no instance " + std::string(req.matches[1]));
      json_reply(res, 202, to_json(*i));
    } catch (const PoolConflict& e) {
      problem(res, 409, e.what(), 1);
    }
  });

  route("POST", R"(/instances/(\d+)/restart)", Access::Admin, [this](const auto& req, auto& res) {
    try {
      auto i = pool_.restart_instance(parse_id(req.matches[1]));
      if (!i) return problem(res, 404, "no instance " + std::string(req.matches[1]));
      json_reply(res, 202, to_json(*i));
    } catch (const PoolConflict& e) {
      problem(res, 409, e.what(), 1);
    }
  });
}

// ---------------------------------------------------------------------------
// /health, /details

// Each pool's name, state, floor, ceiling and counts (`pool` above is
// default's in full).
json Server::pools_summary() {
  json out = json::array();
  for (const auto& record : pools_->list()) {
    Pool* pool = pools_->find(record.name);
    if (!pool) continue;  // removed between the two reads
    const PoolCounts counts = pool->counts();
    out.push_back({{"name", record.name},
                   {"state", to_string(record.state)},
                   {"minIdle", record.min_idle},
                   {"maxIdle", record.max_idle},
                   {"byState", counts.by_state},
                   {"busy", counts.claimed},
                   {"waitingAllocations", counts.waiting}});
  }
  return out;
}

json Server::engine_health() {
  if (health_.engine) {
    if (auto seen = health_.engine()) return *seen;
  }
  std::lock_guard lock(health_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now - engine_checked_ > std::chrono::seconds(1)) {
    try {
      const auto v = engine_.version();
      engine_status_ = {{"reachable", true}, {"version", v.version}, {"apiVersion", v.api_version}};
    } catch (const std::exception& e) {
      engine_status_ = {{"reachable", false}, {"error", e.what()}};
    }
    engine_checked_ = now;
  }
  return engine_status_;
}

// A read of the schema version and a committed no-op write, at most once a
// second: a database that reads but cannot write is not healthy.
json Server::database_health() {
  std::lock_guard lock(health_mu_);
  const auto now = std::chrono::steady_clock::now();
  const bool failing = !database_status_.is_object() || !database_status_["ok"].get<bool>();
  if (failing || now - database_checked_ > std::chrono::seconds(1)) {
    try {
      const int version = store_.schema_version();
      store_.check_writable();
      database_status_ = {{"ok", true}, {"schemaVersion", version}};
    } catch (const std::exception& e) {
      database_status_ = {{"ok", false}, {"error", e.what()}};
    }
    database_checked_ = now;
  }
  return database_status_;
}

void Server::add_health_routes() {
  route("GET", "/health", Access::Open, [this](const auto&, auto& res) {
    const json engine_status = engine_health();
    const json database = database_health();
    json scheduler = {{"ok", health_.scheduler_ok ? health_.scheduler_ok() : true}};
    if (health_.scheduler_error) {
      auto err = health_.scheduler_error();
      scheduler["lastError"] = err.empty() ? json(nullptr) : json(err);
    }
    const Pauser::Status pausing = pool_.pauser().status();
    const bool ok = engine_status["reachable"].get<bool>() && database["ok"].get<bool>();
    json body = {{"status", ok ? "ok" : "degraded"},
                 {"version", kVersion},
                 {"engine", engine_status},
                 {"database", database},
                 {"scheduler", scheduler},
                 {"pause", {{"via", pausing.freezer ? "freezer" : "engine"}, {"why", pausing.why}}}};
    if (health_.managers) body["managers"] = health_.managers();
    json_reply(res, ok ? 200 : 503, body);
  });

  route("GET", "/metrics", Access::Admin, [this](const auto&, auto& res) {
    res.set_content(metrics_->render(store_, lanes_), "text/plain; version=0.0.4; charset=utf-8");
  });

  route("GET", "/details", Access::Admin, [this](const auto&, auto& res) {
    const HostInfo host = read_host_info();
    const HostUsage usage = pool_.host_usage();
    json body = {{"host", {{"cpus", host.cpus},
                           {"memoryTotalBytes", host.memory_total},
                           {"memoryAvailableBytes", host.memory_available},
                           {"cpuUse", usage.cpu},
                           {"memoryUse", usage.memory}}},
                 {"pool", pool_summary(config_, pool_)},
                 {"queues", queue_stats(lanes_)}};
    if (pools_) body["pools"] = pools_summary();
    if (health_.managers) body["managers"] = health_.managers();
    if (health_.engines) body["engines"] = health_.engines();
    json_reply(res, 200, body);
  });
}

}  // namespace warmpool::api
