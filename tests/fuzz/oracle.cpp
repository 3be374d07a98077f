#include "fuzz/oracle.hpp"

#include <httplib.h>

namespace warmpool::fuzz {

using nlohmann::json;

namespace {

constexpr auto kTimeout = std::chrono::seconds(5);

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string media_type(const Answer& a) {
  std::string t = a.header("content-type");
  t = t.substr(0, t.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return lower(t);
}

const char* error_name(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "connection failed";
    case httplib::Error::Read: return "read failed (the server closed or did not answer)";
    case httplib::Error::Write: return "write failed";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    default: return "client error";
  }
}

void check_headers(const json& response, const Answer& a, const Spec& spec, std::vector<std::string>& problems) {
  if (!response.contains("headers")) return;
  for (const auto& [name, node] : response["headers"].items()) {
    const json& h = spec.resolve(node);
    const auto it = a.headers.find(lower(name));
    if (it == a.headers.end()) {
      if (h.value("required", false)) problems.push_back("the documented header " + name + " is missing");
      continue;
    }
    if (h.contains("schema"))
      for (const auto& p : spec.validate(json(it->second), h["schema"])) problems.push_back("header " + name + ": " + p);
  }
}

// The body against the documented content of `response`, if it documents any.
void check_body(const json& response, const Answer& a, const Spec& spec, std::vector<std::string>& problems) {
  if (!response.contains("content")) return;
  const std::string type = media_type(a);
  const json& content = response["content"];
  if (!content.contains(type)) {
    problems.push_back("Content-Type \"" + a.header("content-type") + "\" is not documented for " +
                       std::to_string(a.status));
    return;
  }
  const json schema = content[type].value("schema", json::object());
  if (type.find("json") != std::string::npos) {
    const json body = json::parse(a.body, nullptr, false);
    if (body.is_discarded()) return problems.push_back("the body is not JSON");
    for (const auto& p : spec.validate(body, schema)) problems.push_back("body " + p);
  } else if (type.rfind("text/", 0) == 0 || type.find("javascript") != std::string::npos) {
    for (const auto& p : spec.validate(json(a.body), schema)) problems.push_back("body " + p);
  }
}

}  // namespace

Answer send(const Request& r, int port, httplib::Client& client) {
  if (r.raw) return test::raw_exchange(port, r.bytes, r.half_close, r.method == "HEAD", kTimeout);
  httplib::Request req;
  req.method = r.method;
  req.path = r.target;
  for (const auto& [k, v] : r.headers) req.headers.emplace(k, v);
  req.body = r.body;
  Answer a;
  auto res = client.send(req);
  if (!res) {
    a.error = error_name(res.error());
    return a;
  }
  a.answered = true;
  a.status = res->status;
  for (const auto& [k, v] : res->headers) a.headers.emplace(lower(k), v);
  a.body = res->body;
  return a;
}

std::string describe(const Answer& a, std::size_t body_limit) {
  if (!a.answered) return "no answer: " + a.error;
  std::string out = "status " + std::to_string(a.status) + "\n";
  for (const auto& [k, v] : a.headers) out += "  " + k + ": " + v.substr(0, 200) + "\n";
  std::string body = a.body.substr(0, body_limit);
  for (auto& c : body)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') c = '?';
  out += "  body: " + body + (a.body.size() > body_limit ? "... (" + std::to_string(a.body.size()) + " bytes)" : "");
  return out;
}

std::vector<std::string> judge_answer(const Request& r, const Answer& a, const std::vector<Route>& routes,
                                      const Spec& spec, const OracleContext& context) {
  std::vector<std::string> problems;
  if (!a.answered) {
    if (!r.incomplete) problems.push_back("no answer: " + a.error);
    return problems;
  }
  const Route* route = r.route >= 0 ? &routes[static_cast<std::size_t>(r.route)] : nullptr;
  const json* op = route ? route->operation : nullptr;
  const int s = a.status;
  const std::string op_id = op ? op->value("operationId", "") : "";

  if (s >= 200 && s < 300) {
    if (r.expect == Expect::Reject) problems.push_back("bad input was accepted");
    if (!route) return problems.push_back("a 2xx, yet no route serves this request"), problems;
    const json* documented = spec.response(*op, s);
    if (!documented) return problems.push_back(std::to_string(s) + " is not documented for " + route->name()), problems;
    check_headers(*documented, a, spec, problems);
    if (r.head) {
      if (!a.body.empty()) problems.push_back("an answer to HEAD has a body");
    } else {
      check_body(*documented, a, spec, problems);
    }
    return problems;
  }

  if (s >= 400 && s < 500) {
    const std::string type = media_type(a);
    if (r.method == "HEAD") {
      // no body to look at
    } else if (type == "application/problem+json") {
      const json body = json::parse(a.body, nullptr, false);
      if (body.is_discarded()) {
        problems.push_back("the problem+json body is not JSON");
      } else {
        for (const auto& p : spec.validate(body, spec.doc()["components"]["schemas"]["Problem"]))
          problems.push_back("problem " + p);
        if (body.value("status", 0) != s) problems.push_back("the problem's status is not the answer's");
      }
    } else if (type == "application/json") {
      const json body = json::parse(a.body, nullptr, false);
      if (body.is_discarded()) problems.push_back("the JSON body does not parse");
      else if (const json* documented = op ? spec.response(*op, s) : nullptr)
        check_body(*documented, a, spec, problems);
    } else {
      problems.push_back("a " + std::to_string(s) + " without a JSON body (Content-Type \"" +
                         a.header("content-type") + "\")");
    }
    if (s == 401) {
      if (a.header("www-authenticate") != "Bearer") problems.push_back("a 401 without WWW-Authenticate: Bearer");
      if (r.server == 0) problems.push_back("a 401 from the server that has no tokens");
      if (route && route->security.empty()) problems.push_back("a 401 on an open route");
      if (route) {
        const auto& sec = route->security;
        const bool has_token = (r.auth == Auth::Api && std::count(sec.begin(), sec.end(), "apiToken")) ||
                               (r.auth == Auth::Admin && std::count(sec.begin(), sec.end(), "adminToken"));
        if (has_token) problems.push_back("a 401 to a request with the route's token");
      }
    }
    if (s == 429 && a.header("retry-after").empty()) problems.push_back("a 429 without Retry-After");
    return problems;
  }

  if (s == 503 && op_id == "allocate" && r.expect == Expect::Any) {
    if (a.header("retry-after").empty()) problems.push_back("a 503 without Retry-After");
    if (media_type(a) != "application/problem+json") problems.push_back("a 503 that is not problem+json");
    return problems;
  }
  // The compatibility view's hand-out: the same 503, in the earlier shape.
  if (s == 503 && op_id == "ptanywhereAllocate" && r.expect == Expect::Any) {
    if (a.header("retry-after").empty()) problems.push_back("a 503 without Retry-After");
    if (const json* documented = spec.response(*op, 503)) check_body(*documented, a, spec, problems);
    return problems;
  }
  if (s == 503 && op_id == "health" && context.engine_down) {
    if (r.method == "HEAD") return problems;
    const json body = json::parse(a.body, nullptr, false);
    if (body.is_discarded() || body.value("status", "") != "degraded") problems.push_back("a 503 from /health that is not \"degraded\"");
    else if (const json* documented = spec.response(*op, 503)) check_body(*documented, a, spec, problems);
    return problems;
  }
  problems.push_back("status " + std::to_string(s) + " is never a right answer here");
  return problems;
}

}  // namespace warmpool::fuzz
