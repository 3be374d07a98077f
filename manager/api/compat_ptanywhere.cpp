// The earlier system's management API as a view (see compat_ptanywhere.hpp).
#include "api/compat_ptanywhere.hpp"

#include <filesystem>
#include <limits>
#include <memory>
#include <set>

#include <httplib.h>

#include "api/problem.hpp"
#include "base/text.hpp"

namespace warmpool::api {

using nlohmann::json;

namespace {

const std::string kPrefix = kPtAnywherePrefix;

// Both names: the earlier server wrote status and message, its client reads
// errorCode and errorMsg.
void earlier_error(httplib::Response& res, int status, const std::string& message, int retry_after_s) {
  if (retry_after_s > 0) res.set_header("Retry-After", std::to_string(retry_after_s));
  json_reply(res, status, {{"status", status}, {"message", message}, {"errorCode", status}, {"errorMsg", message}});
}

json time_or_null(const std::optional<std::int64_t>& ms) { return ms ? json(iso8601(*ms)) : json(nullptr); }

// A positive decimal number, or nullopt (then: no such record).
std::optional<std::int64_t> number_in(const std::string& text) {
  return parse_int(text, 1, std::numeric_limits<std::int64_t>::max());
}

std::string show_of(const httplib::Request& req, const std::set<std::string>& allowed, const std::string& fallback) {
  if (!req.has_param("show")) return fallback;
  const std::string v = req.get_param_value("show");
  if (allowed.count(v)) return v;
  std::string names;
  for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
  throw BadRequest("\"show\" must be one of " + names);
}

// What the routes need; each route keeps a copy (references only), so the
// view lives as long as the server's route table.
class PtAnywhereView {
 public:
  PtAnywhereView(Server& server, const Config& config, Store& store, Pool& pool,
                 std::shared_ptr<files::FileCache> files)
      : server_(server), config_(config), store_(store), pool_(pool), files_(std::move(files)) {}
  void add_allocation_routes();
  void add_file_routes();
  void add_instance_routes();
  void add_host_routes();

 private:
  void allocate(const httplib::Request& req, httplib::Response& res) const;
  std::optional<Allocation> allocation_at(const std::string& number_text) const {
    const auto n = number_in(number_text);
    return n ? store_.allocation_by_number(*n) : std::nullopt;
  }

  Server& server_;
  const Config& config_;
  Store& store_;
  Pool& pool_;
  std::shared_ptr<files::FileCache> files_;  // shared by the routes' copies
};

void PtAnywhereView::allocate(const httplib::Request& req, httplib::Response& res) const {
  parse_object(req.body, {});  // the earlier client sends none; an empty object is no more
  Pool::AllocateRequest request;
  request.lease_ms = static_cast<std::int64_t>(config_.lease_s) * 1000;
  request.client = "ptanywhere";
  // Its client talks to the instance without a token: the session stays open.
  request.token = false;
  // As the main API's: counted from when the client sent the request.
  request.deadline = std::chrono::steady_clock::now() - Server::request_wait() +
                     std::chrono::milliseconds(config_.allocate_timeout_ms);
  const auto started = request.deadline - std::chrono::milliseconds(config_.allocate_timeout_ms);
  try {
    const Allocation a = pool_.allocate(request);
    res.set_header("Location", kPrefix + "/allocations/" + std::to_string(a.number));
    json_reply(res, 201, ptanywhere_json(a));
  } catch (const AllocateError& e) {
    // The earlier client knows one answer for "not now": 503.
    earlier_error(res, 503, std::string("no instance is available: ") + e.what(),
                  e.kind() == AllocateError::Kind::EngineDown ? 5 : 1);
  }
  server_.metrics().observe_allocate(
      pool_.settings().name, std::to_string(res.status), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void PtAnywhereView::add_allocation_routes() {
  using Access = Server::Access;
  server_.route("POST", kPrefix + "/allocations", Access::Public,
                [v = *this](const auto& req, auto& res) { v.allocate(req, res); });
  server_.route("GET", kPrefix + "/allocations", Access::Public, [v = *this](const auto& req, auto& res) {
    const std::string show = show_of(req, {"current", "finished", "all"}, "current");
    const Show which = show == "current" ? Show::Current : show == "finished" ? Show::Finished : Show::All;
    json list = json::array();
    for (const auto& a : v.store_.allocations(which)) list.push_back(ptanywhere_json(a));
    json_reply(res, 200, {{"allocations", list}});
  });
  server_.route("GET", kPrefix + "/allocations/([^/]+)", Access::Public, [v = *this](const auto& req, auto& res) {
    auto a = v.allocation_at(req.matches[1]);
    if (!a) return earlier_error(res, 404, "no allocation " + std::string(req.matches[1]), 0);
    json_reply(res, 200, ptanywhere_json(*a));
  });
  server_.route("DELETE", kPrefix + "/allocations/([^/]+)", Access::Public, [v = *this](const auto& req, auto& res) {
    auto a = v.allocation_at(req.matches[1]);
    if (a) a = v.pool_.release(a->id);
    if (!a) return earlier_error(res, 404, "no allocation " + std::string(req.matches[1]), 0);
    json_reply(res, 200, ptanywhere_json(*a));
  });
}

void PtAnywhereView::add_instance_routes() {
  using Access = Server::Access;
  server_.route("GET", kPrefix + "/instances", Access::Admin, [v = *this](const auto& req, auto& res) {
    const std::string show =
        show_of(req, {"all", "starting", "deallocated", "allocated", "running", "finished", "error"}, "all");
    json list = json::array();
    for (const auto& i : v.store_.instances(Show::All))
      if (show == "all" || show == ptanywhere_state(i.state)) list.push_back(ptanywhere_json(i));
    json_reply(res, 200, {{"instances", list}});
  });
  server_.route("POST", kPrefix + "/instances", Access::Admin, [v = *this](const auto& req, auto& res) {
    parse_object(req.body, {});
    try {
      const Instance i = v.pool_.add_instance();
      res.set_header("Location", kPrefix + "/instances/" + std::to_string(i.id));
      json_reply(res, 201, ptanywhere_json(i));
    } catch (const PoolConflict& e) {
      earlier_error(res, 409, e.what(), 1);  // as the main API: capacity or state, not "try later"
    }
  });
  server_.route("GET", kPrefix + "/instances/([^/]+)", Access::Admin, [v = *this](const auto& req, auto& res) {
    const auto id = number_in(req.matches[1]);
    auto i = id ? v.store_.instance(*id) : std::nullopt;
    if (!i) return earlier_error(res, 404, "no instance " + std::string(req.matches[1]), 0);
    json_reply(res, 200, ptanywhere_json(*i));
  });
  server_.route("DELETE", kPrefix + "/instances/([^/]+)", Access::Admin, [v = *this](const auto& req, auto& res) {
    const auto id = number_in(req.matches[1]);
    try {
      auto i = id ? v.pool_.delete_instance(*id, "deleted through the compatibility view") : std::nullopt;
      if (!i) return earlier_error(res, 404, "no instance " + std::string(req.matches[1]), 0);
      json_reply(res, 200, ptanywhere_json(*i));
    } catch (const PoolConflict& e) {
      earlier_error(res, 409, e.what(), 1);
    }
  });
}

void PtAnywhereView::add_host_routes() {
  using Access = Server::Access;
  server_.route("GET", kPrefix + "/details", Access::Admin, [v = *this](const auto&, auto& res) {
    // The earlier limits were percentages of the host's CPU and memory in
    // use above which no instance was created: ours is --host-limit, for both.
    const double percent = v.config_.host_limit * 100;
    json_reply(res, 200, {{"maximum_cpu", percent},
                          {"maximum_memory", percent},
                          {"lowest_port", v.config_.port_first},
                          {"highest_port", v.config_.port_last}});
  });
  server_.route("GET", kPrefix + "/ports", Access::Admin, [v = *this](const auto& req, auto& res) {
    const std::string show = show_of(req, {"all", "available", "unavailable"}, "all");
    std::set<int> held;
    for (const auto& i : v.store_.instances(Show::Current)) held.insert(i.port);
    json list = json::array();
    for (int port = v.config_.port_first; port <= v.config_.port_last; ++port) {
      const bool available = !held.count(port);
      if (show == "all" || (show == "available") == available)
        list.push_back({{"number", port}, {"available", available}});
    }
    json_reply(res, 200, {{"ports", list}});
  });
}

void PtAnywhereView::add_file_routes() {
  using Access = Server::Access;
  server_.route("POST", kPrefix + "/files", Access::Public, [v = *this](const auto& req, auto& res) {
    const auto first = req.body.find_first_not_of(" \t\r\n");
    const std::string url = first == std::string::npos
                                ? std::string()
                                : req.body.substr(first, req.body.find_last_not_of(" \t\r\n") - first + 1);
    try {
      const files::CachedFile f = v.files_->fetch(url);
      json_reply(res, 200, {{"url", f.url}, {"filename", f.filename}});
    } catch (const files::FetchError& e) {
      earlier_error(res, 400, e.what(), 0);
    }
  });
  server_.route("GET", kPrefix + "/files", Access::Public, [v = *this](const auto&, auto& res) {
    json list = json::array();
    for (const auto& f : v.files_->list()) list.push_back({{"url", f.url}, {"filename", f.filename}});
    json_reply(res, 200, {{"files", list}});
  });
}

// Where a fetch must not go: this manager's port and its workers' ports.
files::Forbidden forbidden_for(const Config& c) {
  files::Forbidden f;
  f.own_hosts = {c.listen_host, c.worker_host};
  f.any_host = c.listen_host == "0.0.0.0" || c.listen_host == "::" || c.listen_host.empty();
  f.manager_port = c.listen_port;
  f.worker_port_first = c.port_first;
  f.worker_port_last = c.port_last;
  return f;
}

}  // namespace

const char* ptanywhere_state(InstanceState state) {
  switch (state) {
    case InstanceState::Starting: return "starting";
    case InstanceState::Ready: return "running";
    case InstanceState::Paused:
    case InstanceState::Resetting: return "deallocated";
    case InstanceState::Allocated: return "allocated";
    case InstanceState::Error: return "error";
    case InstanceState::Deleting:
    case InstanceState::Deleted: return "finished";
  }
  return "error";
}

json ptanywhere_json(const Allocation& a) {
  return {{"id", a.number},
          {"url", kPrefix + "/allocations/" + std::to_string(a.number)},
          {"packetTracer", a.endpoint},
          {"createdAt", iso8601(a.created_ms)},
          {"deletedAt", time_or_null(a.deleted_ms)}};
}

json ptanywhere_json(const Instance& i) {
  return {{"id", i.id},
          {"url", kPrefix + "/instances/" + std::to_string(i.id)},
          {"dockerId", i.container_id},
          {"packetTracer", i.endpoint()},
          {"state", ptanywhere_state(i.state)},
          {"createdAt", iso8601(i.created_ms)},
          {"deletedAt", time_or_null(i.deleted_ms)}};
}

void add_ptanywhere_routes(Server& server, const Config& config, Store& store, Pool& pool,
                           files::FetchLimits limits) {
  server.accept_token_in_path(kPrefix);
  server.shape_errors(kPrefix, earlier_error);
  auto cache = std::make_shared<files::FileCache>(std::filesystem::path(config.data_dir) / "files", limits,
                                                 forbidden_for(config));
  PtAnywhereView view(server, config, store, pool, std::move(cache));
  view.add_allocation_routes();
  view.add_file_routes();
  view.add_instance_routes();
  view.add_host_routes();
}

}  // namespace warmpool::api
