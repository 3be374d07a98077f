#include "worker/http_api.hpp"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "worker/scratch.hpp"
#include "worker/session.hpp"

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

using SessionPtr = std::shared_ptr<Session>;

void refuse_caller(httplib::Response& res) {
  res.set_header("WWW-Authenticate", "Bearer");
  send_problem(res, 401, "Unauthorized", "this route needs the session's token (or the control secret) as a bearer token");
}

// True when the caller may use the control routes; else answers 401.
bool control_allowed(const Session& session, const httplib::Request& req, httplib::Response& res) {
  if (session.may_control(session.caller(req.get_header_value("Authorization")))) return true;
  refuse_caller(res);
  return false;
}

// True when the caller may use the session's routes; else answers 401.
bool session_allowed(const Session& session, const httplib::Request& req, httplib::Response& res) {
  if (session.may_use_session(session.caller(req.get_header_value("Authorization")))) return true;
  refuse_caller(res);
  return false;
}

// The pool's side: liveness, the session's state, and the wipe between sessions.
void add_control_routes(httplib::Server& server, ComputeJob& job, const std::filesystem::path& scratch,
                        const SessionPtr& session) {
  server.Get("/ping", [&job](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"ok", true}, {"state", to_string(job.status().state)}});
  });

  server.Post("/reset", [&job, scratch, session](const httplib::Request& req, httplib::Response& res) {
    if (!control_allowed(*session, req, res)) return;
    job.reset();
    std::string problem = session->clear();
    if (std::string wiped = wipe_scratch(scratch); problem.empty()) problem = wiped;
    if (!problem.empty()) {
      send_problem(res, 500, "Reset incomplete", problem);
      return;
    }
    send_json(res, 200, {{"ok", true}});
  });

  server.Post("/init", [session](const httplib::Request& req, httplib::Response& res) {
    if (!control_allowed(*session, req, res)) return;
    if (auto refused = session->install(req.body)) {
      send_problem(res, refused->status, "Init refused", refused->detail);
      return;
    }
    send_json(res, 200, {{"ok", true}});
  });
}

// The session's side: its state and files, read back, and the data volume's.
void add_session_routes(httplib::Server& server, const SessionPtr& session, const std::filesystem::path& data_dir) {
  server.Get("/init", [session](const httplib::Request& req, httplib::Response& res) {
    if (!session_allowed(*session, req, res)) return;
    send_json(res, 200, session->describe());
  });

  server.Get(R"(/files/(.+))", [session, data_dir](const httplib::Request& req, httplib::Response& res) {
    if (!session_allowed(*session, req, res)) return;
    std::string content;
    const std::string path = req.matches[1];
    const bool data = !data_dir.empty() && path.rfind("data/", 0) == 0;
    if (auto refused = data ? read_file_under(data_dir, path.substr(5), &content) : session->read_file(path, &content)) {
      send_problem(res, refused->status, refused->status == 404 ? "Not Found" : "Bad Request", refused->detail);
      return;
    }
    res.status = 200;
    res.set_content(std::move(content), "application/octet-stream");
  });
}

// The pi job's side: start, watch, cancel, fetch the digits.
void add_compute_routes(httplib::Server& server, ComputeJob& job, const SessionPtr& session) {
  server.Post("/compute", [&job, session](const httplib::Request& req, httplib::Response& res) {
    if (!session_allowed(*session, req, res)) return;
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

  server.Get("/compute", [&job, session](const httplib::Request& req, httplib::Response& res) {
    if (!session_allowed(*session, req, res)) return;
    send_json(res, 200, status_json(job.status()));
  });

  server.Delete("/compute", [&job, session](const httplib::Request& req, httplib::Response& res) {
    if (!session_allowed(*session, req, res)) return;
    if (!job.cancel()) {
      send_problem(res, 409, "Not running", "no computation is running");
      return;
    }
    send_json(res, 200, status_json(job.status()));
  });

  server.Get("/result", [&job, session](const httplib::Request& req, httplib::Response& res) {
    if (!session_allowed(*session, req, res)) return;
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
  server.set_payload_max_length(std::max(settings.max_body_bytes, settings.max_init_body_bytes));
  // A POST without Content-Length or Transfer-Encoding has no body (RFC 9112
  // section 6.3); cpp-httplib 0.11 would read one to the end of the
  // connection. Its length, 0, is set before the library reads.
  // Only POST /init takes a large body; the others are refused above
  // max_body_bytes before it is read.
  server.set_pre_routing_handler([settings](const httplib::Request& req, httplib::Response& res) {
    const bool reads_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (reads_body && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
    const std::size_t limit = req.path == "/init" ? settings.max_init_body_bytes : settings.max_body_bytes;
    if (req.get_header_value<uint64_t>("Content-Length") > limit) {
      send_problem(res, 413, "Payload Too Large", "the body is larger than " + std::to_string(limit) + " bytes");
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto session = std::make_shared<Session>(settings.scratch_dir / "files", settings.control_secret,
                                           settings.data_dir.empty() ? "" : "data");
  add_control_routes(server, job, settings.scratch_dir, session);
  add_session_routes(server, session, settings.data_dir);
  add_compute_routes(server, job, session);
}

}  // namespace warmpool::worker
