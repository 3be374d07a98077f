#include "worker/worker_client.hpp"

#include <httplib.h>

namespace warmpool {

namespace {
constexpr std::size_t kIdlePerEndpoint = 4;

void set_deadline(httplib::Client& c, std::chrono::milliseconds d) {
  auto s = static_cast<time_t>(d.count() / 1000);
  auto us = static_cast<time_t>((d.count() % 1000) * 1000);
  c.set_connection_timeout(s, us);
  c.set_read_timeout(s, us);
  c.set_write_timeout(s, us);
}
}  // namespace

HttpWorkerClient::HttpWorkerClient() = default;
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

void HttpWorkerClient::call(const char* what, bool post, const std::string& endpoint,
                            const std::string& path, std::chrono::milliseconds deadline) {
  auto c = checkout(endpoint);
  set_deadline(*c, deadline);
  auto started = std::chrono::steady_clock::now();
  httplib::Result r = post ? c->Post(path) : c->Get(path);
  auto context = [&] { return std::string(what) + " " + endpoint; };
  if (!r) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started).count();
    throw WorkerError(context() + ": " + httplib::to_string(r.error()) + " after " +
                      std::to_string(ms) + " ms");
  }
  if (r->status != 200)
    throw WorkerError(context() + ": HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200));
  checkin(endpoint, std::move(c));
}

void HttpWorkerClient::ping(const std::string& endpoint, std::chrono::milliseconds deadline) {
  call("ping", false, endpoint, "/ping", deadline);
}

void HttpWorkerClient::reset(const std::string& endpoint, std::chrono::milliseconds deadline) {
  call("reset", true, endpoint, "/reset", deadline);
}

}  // namespace warmpool
