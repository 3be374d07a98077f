#include "worker/worker_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/sha256.hpp"

namespace warmpool {

using nlohmann::json;

namespace {

constexpr std::size_t kIdlePerEndpoint = 4;
constexpr std::size_t kQuoted = 200;  // bytes of an unexpected body quoted in an error

void set_deadline(httplib::Client& c, std::chrono::milliseconds d) {
  const auto s = static_cast<time_t>(d.count() / 1000);
  const auto us = static_cast<time_t>((d.count() % 1000) * 1000);
  c.set_connection_timeout(s, us);
  c.set_read_timeout(s, us);
  c.set_write_timeout(s, us);
}

std::string context(const char* what, const std::string& endpoint) {
  return std::string(what) + " " + endpoint;
}

// The worker's problem+json detail, else the start of the body.
std::string detail_of(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("detail") && doc["detail"].is_string())
    return doc["detail"].get<std::string>();
  return body.substr(0, kQuoted);
}

WorkerError http_error(const char* what, const std::string& endpoint, int status,
                       const std::string& body) {
  return WorkerError(context(what, endpoint) + ": HTTP " + std::to_string(status) + ": " +
                     detail_of(body));
}

httplib::Request request(const char* method, const char* path) {
  httplib::Request r;
  r.method = method;
  r.path = path;
  return r;
}

}  // namespace

const char* to_string(ComputeState state) {
  switch (state) {
    case ComputeState::Idle: return "idle";
    case ComputeState::Running: return "running";
    case ComputeState::Done: return "done";
    case ComputeState::Failed: return "failed";
    case ComputeState::Cancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<ComputeState> parse_compute_state(std::string_view text) {
  for (auto s : {ComputeState::Idle, ComputeState::Running, ComputeState::Done, ComputeState::Failed,
                 ComputeState::Cancelled})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

std::string control_secret(const std::string& control_key, const std::string& endpoint) {
  if (control_key.empty()) return {};
  return jobs::hmac_sha256_hex(control_key, "warmpool worker " + endpoint);
}

HttpWorkerClient::HttpWorkerClient(std::string control_key) : control_key_(std::move(control_key)) {}
HttpWorkerClient::~HttpWorkerClient() = default;

std::unique_ptr<httplib::Client> HttpWorkerClient::checkout(const std::string& endpoint) {
  {
    std::lock_guard lock(mu_);
    auto& idle = idle_[endpoint];
    if (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>("http://" + endpoint);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  return c;
}

void HttpWorkerClient::checkin(const std::string& endpoint, std::unique_ptr<httplib::Client> c) {
  std::lock_guard lock(mu_);
  auto& idle = idle_[endpoint];
  if (idle.size() < kIdlePerEndpoint) idle.push_back(std::move(c));
}

HttpWorkerClient::Answer HttpWorkerClient::call(const char* what, const std::string& endpoint,
                                                httplib::Request& request, Deadline deadline) {
  auto c = checkout(endpoint);
  set_deadline(*c, deadline);
  if (!control_key_.empty())
    request.set_header("Authorization", "Bearer " + control_secret(control_key_, endpoint));
  const auto started = std::chrono::steady_clock::now();
  httplib::Result r = c->send(request);
  if (!r) {
    // The connection is dropped with `c`: its state after a failure is unknown.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started).count();
    throw WorkerError(context(what, endpoint) + ": " + httplib::to_string(r.error()) + " after " +
                      std::to_string(ms) + " ms");
  }
  Answer answer{r->status, std::move(r->body)};
  checkin(endpoint, std::move(c));
  return answer;
}

void HttpWorkerClient::ping(const std::string& endpoint, std::chrono::milliseconds deadline) {
  auto req = request("GET", "/ping");
  const Answer a = call("ping", endpoint, req, deadline);
  if (a.status != 200) throw http_error("ping", endpoint, a.status, a.body);
}

void HttpWorkerClient::reset(const std::string& endpoint, std::chrono::milliseconds deadline) {
  auto req = request("POST", "/reset");
  const Answer a = call("reset", endpoint, req, deadline);
  if (a.status != 200) throw http_error("reset", endpoint, a.status, a.body);
}

void HttpWorkerClient::init(const std::string& endpoint, const std::string& body, Deadline deadline) {
  auto req = request("POST", "/init");
  req.body = body;
  req.set_header("Content-Type", "application/json");
  const Answer a = call("init", endpoint, req, deadline);
  if (a.status == 200) return;
  if (a.status >= 400 && a.status < 500 && a.status != 401 && a.status != 404)
    throw InitRefusedByWorker(context("init", endpoint) + ": HTTP " + std::to_string(a.status) + ": " +
                              detail_of(a.body));
  throw http_error("init", endpoint, a.status, a.body);
}

void HttpWorkerClient::start_compute(const std::string& endpoint, std::int64_t digits,
                                     Deadline deadline) {
  auto req = request("POST", "/compute");
  req.body = json{{"digits", digits}}.dump();
  req.set_header("Content-Type", "application/json");
  const Answer a = call("compute", endpoint, req, deadline);
  if (a.status == 202) return;
  if (a.status == 400)
    throw ComputeRefused(context("compute", endpoint) + ": HTTP 400: " + detail_of(a.body));
  throw http_error("compute", endpoint, a.status, a.body);
}

ComputeStatus HttpWorkerClient::compute_status(const std::string& endpoint, Deadline deadline) {
  const char* what = "compute status";
  auto req = request("GET", "/compute");
  const Answer a = call(what, endpoint, req, deadline);
  if (a.status != 200) throw http_error(what, endpoint, a.status, a.body);
  const json body = json::parse(a.body, nullptr, false);
  ComputeStatus s;
  std::string state;
  try {
    state = body.at("state").get<std::string>();
    s.digits = body.value("digits", std::int64_t{0});
    s.progress = body.value("progress", 0.0);
    s.elapsed_ms = body.value("elapsed_ms", std::int64_t{0});
    s.error = body.value("error", std::string());
  } catch (const json::exception&) {
    throw WorkerError(context(what, endpoint) + ": unexpected answer " + a.body.substr(0, kQuoted));
  }
  const auto parsed = parse_compute_state(state);
  if (!parsed) throw WorkerError(context(what, endpoint) + ": unknown state \"" + state + "\"");
  s.state = *parsed;
  return s;
}

void HttpWorkerClient::fetch_result(const std::string& endpoint, const Sink& sink,
                                    Deadline deadline) {
  int status = 0;
  std::string error_body;  // a problem instead of digits: kept to quote it
  auto req = request("GET", "/result");
  req.response_handler = [&](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    if (status == 200) return sink(data, size);
    if (error_body.size() < 2 * kQuoted) error_body.append(data, std::min(size, 2 * kQuoted));
    return true;
  };
  call("result", endpoint, req, deadline);
  if (status != 200) throw http_error("result", endpoint, status, error_body);
}

void HttpWorkerClient::probe_http(const std::string& endpoint, const std::string& path,
                                  Deadline deadline) {
  // A connection of its own, closed after the answer: an image's server may
  // not keep connections alive, and it gets no control secret.
  httplib::Client c("http://" + endpoint);
  c.set_keep_alive(false);
  c.set_tcp_nodelay(true);
  set_deadline(c, deadline);
  const std::string what = "GET " + path + " " + endpoint;
  const auto started = std::chrono::steady_clock::now();
  httplib::Result r = c.Get(path, [](const char*, std::size_t) { return true; });  // the body is not kept
  if (!r) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started).count();
    throw WorkerError(what + ": " + httplib::to_string(r.error()) + " after " +
                      std::to_string(ms) + " ms");
  }
  if (r->status < 200 || r->status > 299) throw WorkerError(what + ": HTTP " + std::to_string(r->status));
}

namespace {
// A connect to host:port that gives up at the deadline; "" when it opened.
std::string try_connect(const std::string& host, const std::string& port, std::chrono::milliseconds deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) return gai_strerror(rc);
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  std::string error;
  if (::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      error = std::strerror(errno);
    } else {
      pollfd p{fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(deadline.count()));
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (ready == 0) error = "timed out after " + std::to_string(deadline.count()) + " ms";
      else if (ready < 0) error = std::strerror(errno);
      else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) error = std::strerror(errno);
      else if (so_error != 0) error = std::strerror(so_error);
    }
  }
  ::close(fd);
  return error;
}
}  // namespace

void HttpWorkerClient::probe_tcp(const std::string& endpoint, Deadline deadline) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) throw WorkerError(context("connect", endpoint) + ": no port");
  std::string host = endpoint.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string error = try_connect(host, endpoint.substr(colon + 1), deadline);
  if (!error.empty()) throw WorkerError(context("connect", endpoint) + ": " + error);
}

}  // namespace warmpool
