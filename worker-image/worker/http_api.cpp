#include "worker/http_api.hpp"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "worker/scratch.hpp"

namespace warmpool::worker {
namespace {

using nlohmann::json;

constexpr std::size_t kResultChunkBytes = 1 << 20;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_problem(httplib::Response& res, int status, const std::string& title, const std::string& detail) {
  res.status = status;
  json body = {{"status", status}, {"title", title}, {"detail", detail}};
  res.set_content(body.dump(), "application/problem+json");
}

json status_json(const JobStatus& s) {
  json body = {{"state", to_string(s.state)},
               {"digits", s.digits},
               {"progress", s.progress},
               {"elapsed_ms", s.elapsed_ms}};
  if (s.state == JobState::Failed) body["error"] = s.error;
  return body;
}

std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

}  // namespace

bool parse_compute_body(std::string_view body, std::size_t max_digits, std::size_t* digits, std::string* problem) {
  const std::string range = "an integer from 1 to " + std::to_string(max_digits);
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    *problem = "request body is not valid JSON; send {\"digits\": N} with N " + range;
    return false;
  }
  if (!doc.is_object()) {
    *problem = "request body must be a JSON object like {\"digits\": 1000}";
    return false;
  }
  auto it = doc.find("digits");
  if (it == doc.end()) {
    *problem = "missing field \"digits\": send {\"digits\": N} with N " + range;
    return false;
  }
  const json& value = *it;
  if (value.is_number_unsigned()) {
    auto n = value.get<std::uint64_t>();
    if (n >= 1 && n <= max_digits) {
      *digits = static_cast<std::size_t>(n);
      return true;
    }
  }
  *problem = "\"digits\" must be " + range + ", got " + describe(value);
  return false;
}

namespace {

// The pool's side: liveness and the wipe between sessions.
void add_control_routes(httplib::Server& server, ComputeJob& job, const std::filesystem::path& scratch) {
  server.Get("/ping", [&job](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"ok", true}, {"state", to_string(job.status().state)}});
  });

  server.Post("/reset", [&job, scratch](const httplib::Request&, httplib::Response& res) {
    job.reset();
    if (std::string problem = wipe_scratch(scratch); !problem.empty()) {
      send_problem(res, 500, "Reset incomplete", problem);
      return;
    }
    send_json(res, 200, {{"ok", true}});
  });
}

// The pi job's side: start, watch, cancel, fetch the digits.
void add_compute_routes(httplib::Server& server, ComputeJob& job) {
  server.Post("/compute", [&job](const httplib::Request& req, httplib::Response& res) {
    std::size_t digits = 0;
    std::string problem;
    if (!parse_compute_body(req.body, job.options().max_digits, &digits, &problem)) {
      send_problem(res, 400, "Invalid request", problem);
      return;
    }
    switch (job.start(digits, &problem)) {
      case ComputeJob::Start::Started:
        send_json(res, 202, status_json(job.status()));
        return;
      case ComputeJob::Start::Busy:
        send_problem(res, 409, "Busy", "a computation is running; wait for it, DELETE /compute or POST /reset");
        return;
      case ComputeJob::Start::Invalid:
        send_problem(res, 400, "Invalid request", problem);
        return;
    }
  });

  server.Get("/compute", [&job](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, status_json(job.status()));
  });

  server.Delete("/compute", [&job](const httplib::Request&, httplib::Response& res) {
    if (!job.cancel()) {
      send_problem(res, 409, "Not running", "no computation is running");
      return;
    }
    send_json(res, 200, status_json(job.status()));
  });

  server.Get("/result", [&job](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<const std::string> digits = job.result();
    if (digits == nullptr) {
      JobStatus s = job.status();
      send_problem(res, 409, "No result",
                   "the computation is " + std::string(to_string(s.state)) + "; the digits are served once it is done");
      return;
    }
    res.status = 200;
    res.set_content_provider(digits->size(), "text/plain; charset=utf-8",
                             [digits](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               std::size_t n = std::min(length, kResultChunkBytes);
                               return sink.write(digits->data() + offset, n);
                             });
  });
}

}  // namespace

void configure_server(httplib::Server& server, ComputeJob& job, const ServerSettings& settings) {
  const std::size_t http_threads = std::max<std::size_t>(1, settings.http_threads);
  server.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(settings.keep_alive_max_requests);
  server.set_keep_alive_timeout(settings.keep_alive_timeout_s);
  server.set_payload_max_length(settings.max_body_bytes);
  // A POST without Content-Length or Transfer-Encoding has no body (RFC 9112
  // section 6.3); cpp-httplib 0.11 would read one to the end of the
  // connection. Its length, 0, is set before the library reads.
  server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    const bool reads_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (reads_body && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  add_control_routes(server, job, settings.scratch_dir);
  add_compute_routes(server, job);
}

}  // namespace warmpool::worker
