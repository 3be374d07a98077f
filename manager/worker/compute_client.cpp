#include "worker/compute_client.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace warmpool::jobs {

using nlohmann::json;

namespace {

httplib::Client connect(const std::string& endpoint, std::chrono::milliseconds d) {
  httplib::Client c("http://" + endpoint);
  c.set_tcp_nodelay(true);
  const auto s = static_cast<time_t>(d.count() / 1000);
  const auto us = static_cast<time_t>((d.count() % 1000) * 1000);
  c.set_connection_timeout(s, us);
  c.set_read_timeout(s, us);
  c.set_write_timeout(s, us);
  return c;
}

std::string context(const char* what, const std::string& endpoint) {
  return std::string(what) + " " + endpoint;
}

// The problem's detail, else the start of the body.
std::string detail_of(const httplib::Response& r) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("detail") && body["detail"].is_string())
    return body["detail"].get<std::string>();
  return r.body.substr(0, 200);
}

// The response, or WorkerError when there was none.
const httplib::Response& answered(const httplib::Result& r, const char* what,
                                  const std::string& endpoint) {
  if (!r) throw WorkerError(context(what, endpoint) + ": " + httplib::to_string(r.error()));
  return *r;
}

}  // namespace

void HttpComputeClient::start(const std::string& endpoint, std::int64_t digits, Deadline deadline) {
  auto c = connect(endpoint, deadline);
  const auto result = c.Post("/compute", json{{"digits", digits}}.dump(), "application/json");
  const auto& r = answered(result, "compute", endpoint);
  if (r.status == 202) return;
  const std::string message =
      context("compute", endpoint) + ": HTTP " + std::to_string(r.status) + ": " + detail_of(r);
  if (r.status == 400) throw ComputeRefused(message);
  throw WorkerError(message);
}

ComputeStatus HttpComputeClient::status(const std::string& endpoint, Deadline deadline) {
  auto c = connect(endpoint, deadline);
  const auto result = c.Get("/compute");
  const auto& r = answered(result, "compute status", endpoint);
  if (r.status != 200)
    throw WorkerError(context("compute status", endpoint) + ": HTTP " + std::to_string(r.status) +
                      ": " + detail_of(r));
  json body = json::parse(r.body, nullptr, false);
  try {
    ComputeStatus s;
    s.state = body.at("state").get<std::string>();
    s.digits = body.value("digits", std::int64_t{0});
    s.progress = body.value("progress", 0.0);
    s.elapsed_ms = body.value("elapsed_ms", std::int64_t{0});
    s.error = body.value("error", std::string());
    return s;
  } catch (const json::exception&) {
    throw WorkerError(context("compute status", endpoint) + ": unexpected answer " +
                      r.body.substr(0, 200));
  }
}

void HttpComputeClient::fetch_result(const std::string& endpoint, const Sink& sink,
                                     Deadline deadline) {
  auto c = connect(endpoint, deadline);
  int status = 0;
  std::string error_body;
  auto r = c.Get(
      "/result",
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (status != 200) {
          if (error_body.size() < 400) error_body.append(data, std::min<std::size_t>(size, 400));
          return true;
        }
        return sink(data, size);
      });
  if (!r) throw WorkerError(context("result", endpoint) + ": " + httplib::to_string(r.error()));
  if (r->status != 200)
    throw WorkerError(context("result", endpoint) + ": HTTP " + std::to_string(r->status) + ": " +
                      error_body.substr(0, 200));
}

void HttpComputeClient::reset(const std::string& endpoint, Deadline deadline) {
  auto c = connect(endpoint, deadline);
  const auto result = c.Post("/reset", "", "application/json");
  const auto& r = answered(result, "reset", endpoint);
  if (r.status != 200)
    throw WorkerError(context("reset", endpoint) + ": HTTP " + std::to_string(r.status) + ": " +
                      detail_of(r));
}

}  // namespace warmpool::jobs
