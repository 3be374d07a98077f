// The manager's HTTP API (cpp-httplib). Handlers only parse, call the pool or
// the store, and serialise; errors are application/problem+json.
//
// Route groups: public (allocations, pi jobs: --api-token), admin (instances,
// details, metrics: --admin-token), open (health, docs).
//
// Every request gets an id: the client's X-Request-Id when it is sane, else a
// new one. It is sent back in X-Request-Id and carried by every log line the
// request causes, including those of the lane tasks it submits.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "metrics/metrics.hpp"
#include "pool/pool.hpp"
#include "pools/pools.hpp"
#include "queue/lanes.hpp"
#include "store/store.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace warmpool::api {

class GuardedHttp;

// What /health reports about the parts it cannot see itself.
// /health never waits on the engine: it reports what the scheduler's last
// tick saw. Without a source (tests of the server alone) it asks the engine
// itself, at most once a second.
struct HealthSource {
  std::function<bool()> scheduler_ok;            // may be empty
  std::function<std::string()> scheduler_error;  // may be empty
  // The engine as the scheduler last saw it ({reachable, version,
  // apiVersion} or {reachable: false, error}); nullopt before its first
  // check. May be empty.
  std::function<std::optional<nlohmann::json>()> engine;
  // Several managers on one database: {self, leading, leader}, in /health
  // and /details. May be empty (then both leave it out).
  std::function<nlohmann::json()> managers;
  // The engines as GET /engines lists them, in /details. May be empty (then
  // /details leaves them out).
  std::function<nlohmann::json()> engines;
};

class Server {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  enum class Access { Open, Public, Admin };
  // Longer paths get 414 before any route pattern is tried.
  static constexpr std::size_t kMaxPathBytes = 1024;

  // metrics may be null: the server then keeps its own.
  Server(const Config& config, Pool& pool, Store& store, engine::Engine& engine, Lanes& lanes,
         HealthSource health = {}, Metrics* metrics = nullptr);
  ~Server();

  // Registers a route; `pattern` is a regex over the path. Other modules (pi
  // jobs, docs, metrics) add theirs before listen(). Routes are tried in the
  // order they were registered; the first whose pattern matches the path
  // (whatever its method) says which token the path needs.
  void route(const std::string& method, const std::string& pattern, Access access, Handler handler);
  // Clients that cannot send an Authorization header may put the token in
  // the path instead, as the first segment after `prefix`:
  // "<prefix>/<token>/rest" is served as "<prefix>/rest", authorized by that
  // token. A segment that is no token stays in the path (and finds no
  // route); paths under `prefix` that find no route are logged as
  // "<prefix>/...", so a token never reaches the log. Before listen() only.
  void accept_token_in_path(const std::string& prefix);
  // Errors under `prefix` (refusals, unknown routes, exceptions, tokens) are
  // written by `write` instead of as problems: a view that keeps another
  // system's error shape. Before listen() only.
  using ErrorWriter = std::function<void(httplib::Response&, int status, const std::string& detail, int retry_after_s)>;
  void shape_errors(const std::string& prefix, ErrorWriter write);
  // The error answer for the request's path: a problem, or its view's shape.
  void fail(const httplib::Request& req, httplib::Response& res, int status, const std::string& detail,
            int retry_after_s = 0) const;

  // Every registered (method, pattern), for the contract test.
  std::vector<std::pair<std::string, std::string>> routes() const;

  // Binds and serves until stop(). Returns false if it could not bind.
  bool listen(const std::string& host, int port);
  // Binds only (false if it cannot, errno says why); serve with listen_after_bind().
  bool bind(const std::string& host, int port);
  // Binds to a free port on host and returns it; serve with listen_after_bind().
  int bind_any_port(const std::string& host);
  bool listen_after_bind();
  void stop();
  bool running() const;

  // Serves every pool of `pools` (POST /allocations {"pool": ...}; releases
  // and renewals through the allocation's pool). Without it, the server
  // serves the pool it was made with as `default`. Before listen() only.
  void serve_pools(Pools& pools) { pools_ = &pools; }
  // The pool called `name`; nullptr when there is none.
  Pool* pool_named(const std::string& name);

  Metrics& metrics() { return *metrics_; }
  // How long the request being served waited for a server thread (a
  // hand-out's deadline counts from when its client sent it). Call it from
  // a route's handler.
  static std::chrono::steady_clock::duration request_wait();

 private:
  void add_allocation_routes();
  void add_instance_routes();
  void add_health_routes();
  bool framing_ok(const httplib::Request& req, httplib::Response& res) const;
  struct Route {
    std::string method;
    std::string pattern;
    std::regex regex;
    Access access;
    Handler handler;
  };
  // The route serving the request (nullptr: none) and the access level of
  // its path; fills req.matches for that route.
  std::pair<const Route*, Access> find_route(const httplib::Request& req) const;
  void dispatch(const httplib::Request& req, httplib::Response& res) const;
  bool authorized(const httplib::Request& req, httplib::Response& res, Access access) const;
  void begin_request(const httplib::Request& req, httplib::Response& res);
  void log_access(const httplib::Request& req, const httplib::Response& res) const;
  // Takes a token out of the path (see accept_token_in_path).
  void take_path_token(const httplib::Request& req) const;
  void widen_listen_queue();
  void tune_http();
  void install_hooks();
  void create_allocation(const httplib::Request& req, httplib::Response& res);
  void allocate(const httplib::Request& req, httplib::Response& res, Pool& pool, const nlohmann::json& body);

  const Config& config_;
  Pool& pool_;
  Pools* pools_ = nullptr;
  Store& store_;
  engine::Engine& engine_;
  Lanes& lanes_;
  HealthSource health_;
  std::unique_ptr<Metrics> own_metrics_;  // when none was given
  Metrics* metrics_;
  std::unique_ptr<GuardedHttp> http_;  // cpp-httplib behind the connection guard
  int listen_fd_ = -1;  // the listening socket, once bound
  // The one route table: the HTTP library only hands every request of a
  // method that has routes to dispatch(). Written before listen() only.
  std::vector<Route> routes_;
  std::vector<std::string> token_path_prefixes_;                   // written before listen() only
  std::vector<std::pair<std::string, ErrorWriter>> error_shapes_;  // written before listen() only

  // /health caches the engine's answer briefly so probes stay cheap.
  std::mutex health_mu_;
  std::chrono::steady_clock::time_point engine_checked_{};  // GUARDED_BY(health_mu_)
  nlohmann::json engine_status_;                            // GUARDED_BY(health_mu_)
  std::chrono::steady_clock::time_point database_checked_{};  // GUARDED_BY(health_mu_)
  nlohmann::json database_status_;                            // GUARDED_BY(health_mu_)
  nlohmann::json engine_health();
  nlohmann::json pools_summary();  // REQUIRES: pools_
  nlohmann::json database_health();
};

// Constant-time comparison for tokens.
bool same_token(const std::string& a, const std::string& b);

}  // namespace warmpool::api
