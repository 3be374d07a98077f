#include "api/server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <regex>
#include <utility>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/guarded_http.hpp"
#include "api/http_limits.hpp"
#include "api/problem.hpp"
#include "base/logging.hpp"
#include "base/text.hpp"

namespace warmpool::api {

using nlohmann::json;

namespace {

// When the thread began serving its request (set with the request id).
thread_local std::chrono::steady_clock::time_point t_request_started;

// How long the request being handled waited for a server thread once it
// had arrived whole.
thread_local std::chrono::steady_clock::duration t_request_wait{};

// The route found for the request before its body was read, and its groups
// (over the request's own path), for dispatch() to run it.
thread_local const void* t_route = nullptr;
thread_local std::smatch t_matches;

// A token taken from the request's path (accept_token_in_path), and whether
// the path is to be logged without its tail (under such a prefix, no route).
thread_local std::string t_path_token;
thread_local std::string t_hidden_path;

// Whether `path` is `prefix` or below it.
bool under(const std::string& path, const std::string& prefix) {
  return path.rfind(prefix, 0) == 0 && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// The limits from the flags. The reserve is at most a quarter of the threads.
HttpLimits limits_from(const Config& c) {
  HttpLimits l;
  l.threads = static_cast<std::size_t>(c.http_threads);
  l.reserved_threads = std::min<std::size_t>(static_cast<std::size_t>(c.http_reserved_threads), l.threads / 4);
  l.max_connections = static_cast<std::size_t>(c.http_max_connections);
  l.max_per_client = static_cast<std::size_t>(c.http_max_connections_per_client);
  l.request_read_timeout = std::chrono::milliseconds(c.http_request_read_timeout_ms);
  l.keep_alive_timeout = std::chrono::milliseconds(c.http_keep_alive_timeout_ms);
  l.max_header_bytes = static_cast<std::size_t>(c.http_max_header_bytes);
  // The largest body any route takes: the guard reads requests whole up to
  // it; each route's own limit is checked once the request is routed.
  l.max_body_bytes = std::max(c.max_body_bytes, c.allocation_body_bytes());
  return l;
}

// The requests the reserve of threads is kept for: health probes, and
// hand-outs and releases, which a client waits on.
bool is_priority(const std::string& method, const std::string& path) {
  if (path == "/health") return method == "GET" || method == "HEAD";
  if (path == "/allocations") return method == "POST";
  return method == "DELETE" && path.rfind("/allocations/", 0) == 0;
}

// cpp-httplib 0.11 cuts every answer to the bytes a Range header names,
// JSON and error bodies included, and keeps the status: a 200 or a 404 with
// one byte of JSON. Our answers are whole or nothing: Range is ignored, as
// RFC 9110 allows. (The library's Request is not const; only our view is.)
void ignore_ranges(const httplib::Request& req) { const_cast<httplib::Request&>(req).ranges.clear(); }

// The library reads a body by the request's framing headers, once the
// pre-routing step is done: a Content-Length of 0 makes it read nothing.
void declare_no_body(const httplib::Request& req) {
  const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
}

// The answer asks the client to close. Said on the request, the library
// writes the header itself, once (set on the answer too, it came twice).
void close_after(const httplib::Request& req) {
  auto& headers = const_cast<httplib::Request&>(req).headers;
  headers.erase("Connection");
  headers.emplace("Connection", "close");
}

}  // namespace

bool same_token(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

Server::Server(const Config& config, Pool& pool, Store& store, engine::Engine& engine,
               Lanes& lanes, HealthSource health, Metrics* metrics)
    : config_(config),
      pool_(pool),
      store_(store),
      engine_(engine),
      lanes_(lanes),
      health_(std::move(health)),
      own_metrics_(metrics ? nullptr : std::make_unique<Metrics>()),
      metrics_(metrics ? metrics : own_metrics_.get()),
      http_(std::make_unique<GuardedHttp>(limits_from(config), is_priority, metrics_)) {
  tune_http();
  install_hooks();
  add_allocation_routes();
  add_instance_routes();
  add_health_routes();
}

Server::~Server() { stop(); }

// The HTTP library's settings, measured on this kind of machine.
void Server::tune_http() {
  // cpp-httplib's defaults cost ~26 ms per keep-alive request (Nagle with
  // delayed ACKs). Its threads, keep-alive and read deadlines are replaced
  // by the connection guard's (GuardedHttp).
  http_->set_tcp_nodelay(true);
  // Only for the Keep-Alive header it writes: the guard applies them.
  http_->set_keep_alive_max_count(limits_from(config_).keep_alive_max_count);
  http_->set_keep_alive_timeout(std::max(1, config_.http_keep_alive_timeout_ms / 1000));
  // cpp-httplib listens with a backlog of 5: a burst of clients connecting
  // while its accept thread waits for a core overflows that, and the kernel
  // drops their SYNs (a 1 s retransmission, or no answer at all). Note the
  // socket here; widen_listen_queue() lengthens the queue once it is bound.
  http_->set_socket_options([this](int sock) {
    httplib::default_socket_options(sock);
    listen_fd_ = sock;
  });
  http_->set_payload_max_length(std::max(config_.max_body_bytes, config_.allocation_body_bytes()));
}

// What runs around every request: framing and token checks before the body
// is read, error answers as problems, the access log at the end.
void Server::install_hooks() {
  // The logger runs last, on the thread that served the request.
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (res.get_header_value("Connection") == "close") GuardedHttp::close_after_answer();
    metrics_->count_request(req.method, res.status);
    log_access(req, res);
    logging::set_request_id({});
    t_request_started = {};
    t_path_token.clear();
    t_hidden_path.clear();
  });
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    begin_request(req, res);
    take_path_token(req);
    if (!framing_ok(req, res)) return httplib::Server::HandlerResponse::Handled;
    // Routed and authorized before the body is read: a request without its
    // token is refused unread.
    const auto [route, access] = find_route(req);
    if (!route)
      for (const auto& prefix : token_path_prefixes_)
        if (under(req.path, prefix)) t_hidden_path = prefix + "/...";
    if (!authorized(req, res, access)) return httplib::Server::HandlerResponse::Handled;
    t_route = route;
    t_matches = req.matches;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                      std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const BadRequest& e) {
      fail(req, res, 400, e.what());
    } catch (const StoreError& e) {
      spdlog::error("{} {}: {}", req.method, req.path, e.what());
      fail(req, res, 503, std::string("the database is unavailable: ") + e.what(), 5);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", req.method, req.path, e.what());
      fail(req, res, 500, e.what());
    } catch (...) {
      fail(req, res, 500, "unknown error");
    }
  });
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    ignore_ranges(req);  // every answer of 400 and above passes here
    if (!res.body.empty()) return;
    const std::string& path = t_hidden_path.empty() ? req.path : t_hidden_path;
    if (res.status == 404) fail(req, res, 404, "no route for " + req.method + " " + path);
    else if (res.status == 413) fail(req, res, 413, "the body is larger than the limit");
    else if (res.status == 400) fail(req, res, 400, "malformed request");
    else fail(req, res, res.status, "request failed");
  });
}

std::chrono::steady_clock::duration Server::request_wait() { return t_request_wait; }

void Server::route(const std::string& method, const std::string& pattern, Access access,
                   Handler handler) {
  const bool first_of_method = std::none_of(routes_.begin(), routes_.end(),
                                            [&](const Route& r) { return r.method == method; });
  if (first_of_method) {
    // The library hands the method's requests to our table; a method with
    // no route stays unknown to it, and answers as it did.
    auto all = [this](const httplib::Request& req, httplib::Response& res) { dispatch(req, res); };
    if (method == "GET") http_->Get(".*", all);
    else if (method == "POST") http_->Post(".*", all);
    else if (method == "DELETE") http_->Delete(".*", all);
    else if (method == "PUT") http_->Put(".*", all);
    else if (method == "PATCH") http_->Patch(".*", all);
    else throw std::invalid_argument("unsupported method " + method);
  }
  routes_.push_back({method, pattern, std::regex(pattern), access, std::move(handler)});
}

void Server::accept_token_in_path(const std::string& prefix) { token_path_prefixes_.push_back(prefix); }

void Server::shape_errors(const std::string& prefix, ErrorWriter write) {
  error_shapes_.emplace_back(prefix, std::move(write));
}

void Server::fail(const httplib::Request& req, httplib::Response& res, int status, const std::string& detail,
                  int retry_after_s) const {
  for (const auto& [prefix, write] : error_shapes_)
    if (under(req.path, prefix)) return write(res, status, detail, retry_after_s);
  problem(res, status, detail, retry_after_s);
}

void Server::take_path_token(const httplib::Request& req) const {
  if (config_.api_token.empty() && config_.admin_token.empty()) return;
  for (const auto& prefix : token_path_prefixes_) {
    if (!under(req.path, prefix) || req.path.size() == prefix.size()) continue;
    const std::size_t start = prefix.size() + 1;
    const std::size_t end = std::min(req.path.find('/', start), req.path.size());
    const std::string segment = req.path.substr(start, end - start);
    // Both compared, in constant time, whichever matches.
    const bool api = !config_.api_token.empty() && same_token(segment, config_.api_token);
    const bool admin = !config_.admin_token.empty() && same_token(segment, config_.admin_token);
    if (!api && !admin) return;
    t_path_token = segment;
    const_cast<httplib::Request&>(req).path = prefix + req.path.substr(end);
    return;
  }
}

std::vector<std::pair<std::string, std::string>> Server::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

std::pair<const Server::Route*, Server::Access> Server::find_route(const httplib::Request& req) const {
  // HEAD is served by the GET route, as the library does.
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  auto& matches = const_cast<httplib::Request&>(req).matches;
  std::optional<Access> access;  // of the first route whose path matches
  for (const Route& r : routes_) {
    if (!std::regex_match(req.path, matches, r.regex)) continue;
    if (!access) access = r.access;
    if (r.method == method) return {&r, *access};
  }
  matches = {};
  return {nullptr, access.value_or(Access::Open)};
}

void Server::dispatch(const httplib::Request& req, httplib::Response& res) const {
  const auto* route = static_cast<const Route*>(std::exchange(t_route, nullptr));
  if (!route) {
    res.status = 404;  // the error handler writes the problem
    return;
  }
  const_cast<httplib::Request&>(req).matches = t_matches;  // the library matched ".*" over ours
  t_request_wait = GuardedHttp::queued_for();
  ignore_ranges(req);
  route->handler(req, res);
}

void Server::begin_request(const httplib::Request& req, httplib::Response& res) {
  const std::string given = req.get_header_value("X-Request-Id");
  std::string id = logging::acceptable_request_id(given) ? given : logging::new_request_id();
  res.set_header("X-Request-Id", id);
  logging::set_request_id(std::move(id));
  t_request_started = std::chrono::steady_clock::now();
}

// Changes and failures at info, so an operator sees every hand-out and
// release; reads (health probes, dashboards polling) only at debug.
void Server::log_access(const httplib::Request& req, const httplib::Response& res) const {
  const bool notable = req.method != "GET" && req.method != "HEAD";
  const auto level = notable || res.status >= 500 ? spdlog::level::info : spdlog::level::debug;
  if (!spdlog::should_log(level)) return;
  const std::string& path = t_hidden_path.empty() ? req.path : t_hidden_path;
  if (t_request_started == std::chrono::steady_clock::time_point{}) {
    // Refused before routing (a malformed or oversized request).
    spdlog::log(level, "{} {} {} from {}", req.method, path, res.status, req.remote_addr);
    return;
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_request_started).count();
  spdlog::log(level, "{} {} {} {:.1f} ms from {}", req.method, path, res.status, ms, req.remote_addr);
}

// Runs before cpp-httplib 0.11 reads the body, and refuses what it would
// misread (each refusal closes the connection: a refused body stays unread):
//  - an invalid Content-Length, read with strtoull ("abc" as 0, "12abc" as
//    12), the first of several taken: RFC 9112 has such a request refused (400);
//  - a Content-Length above --max-body-bytes, which it reads (or waits for)
//    whole before answering 413: the 413 comes at once;
//  - a chunked body, which it reads with no bound at all: 411, send
//    Content-Length;
//  - a body on any other method than POST, PUT, PATCH (PRI) and DELETE,
//    which it never reads: the bytes were taken for the next request, or a
//    close with them unread reset the connection and cut the answer short: 400.
// A POST, PUT or PATCH with neither Content-Length nor Transfer-Encoding has
// no body (RFC 9112 section 6.3); the library would read one to the end of
// the connection, so the request is given its length, 0, before it reads.
bool Server::framing_ok(const httplib::Request& req, httplib::Response& res) const {
  auto refuse = [&](int status, const std::string& detail) {
    fail(req, res, status, detail);
    close_after(req);
    return false;
  };
  // Route patterns are std::regex, which libstdc++ matches by recursion, a
  // few frames per character: an 8 KiB path took 2 to 4 MiB of a thread's
  // stack (and overflowed it under ASan). No route has a path this long.
  if (req.path.size() > kMaxPathBytes)
    return refuse(414, "the path is longer than " + std::to_string(kMaxPathBytes) + " bytes");
  const std::size_t lengths = req.get_header_value_count("Content-Length");
  const std::string length = req.get_header_value("Content-Length");
  for (std::size_t i = 0; i < lengths; ++i) {
    const std::string v = req.get_header_value("Content-Length", i);
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v != length)
      return refuse(400, "Content-Length must be one decimal number of bytes");
  }
  // A hand-out's body may carry its session's files (--max-init-bytes).
  const std::size_t max_body = req.method == "POST" && req.path == "/allocations" ? config_.allocation_body_bytes()
                                                                                  : config_.max_body_bytes;
  const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(max_body, std::numeric_limits<std::int64_t>::max()));
  // Twenty characters or more are refused whatever their value, zeros included.
  if (lengths > 0 && (length.size() > 19 || !parse_int(length, 0, limit)))
    return refuse(413, "the body is larger than the limit (" + std::to_string(max_body) + " bytes)");
  if (req.has_header("Transfer-Encoding"))
    return refuse(411, "send the body with Content-Length; chunked bodies are not read");
  const bool reads_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "PRI";
  if (reads_body && lengths == 0) declare_no_body(req);
  if (!reads_body && req.method != "DELETE" && lengths > 0 && length.find_first_not_of('0') != std::string::npos)
    return refuse(400, "a " + req.method + " takes no body");
  return true;
}

bool Server::authorized(const httplib::Request& req, httplib::Response& res, Access access) const {
  if (config_.api_token.empty() && config_.admin_token.empty()) return true;
  const std::string& token = access == Access::Admin ? config_.admin_token
                             : access == Access::Public ? config_.api_token
                                                        : std::string();
  if (access == Access::Open || token.empty()) return true;
  if (!t_path_token.empty()) {
    if (same_token(t_path_token, token)) return true;
  } else {
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (header.rfind(prefix, 0) == 0 && same_token(header.substr(prefix.size()), token)) return true;
  }
  res.set_header("WWW-Authenticate", "Bearer");
  fail(req, res, 401, "a valid bearer token is required");
  return false;
}

// ---------------------------------------------------------------------------

bool Server::listen(const std::string& host, int port) { return bind(host, port) && http_->listen_after_bind(); }

bool Server::bind(const std::string& host, int port) {
  if (!http_->bind_to_port(host, port)) return false;
  widen_listen_queue();
  return true;
}

int Server::bind_any_port(const std::string& host) {
  const int port = http_->bind_to_any_port(host);
  if (port > 0) widen_listen_queue();
  return port;
}

void Server::widen_listen_queue() {
  // listen() on a listening socket only changes its backlog; the kernel caps
  // it at net.core.somaxconn.
  if (listen_fd_ >= 0 && ::listen(listen_fd_, SOMAXCONN) != 0)
    spdlog::warn("cannot lengthen the listen queue: {}", std::strerror(errno));
}

bool Server::listen_after_bind() { return http_->listen_after_bind(); }

void Server::stop() {
  if (http_) http_->stop();
}

bool Server::running() const { return http_->is_running(); }

}  // namespace warmpool::api
