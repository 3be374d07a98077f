#include "api/problem.hpp"

#include <httplib.h>

#include "base/text.hpp"

namespace warmpool::api {

using nlohmann::json;

namespace {
const char* title_of(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 500 ? "Client Error" : "Server Error";
  }
}
}  // namespace

// Request paths, ids and labels may hold bytes that are not UTF-8 (a path
// with %ff, say); dump() would throw on them, and in the error handler that
// ends the process. They are written as U+FFFD instead.
std::string dump(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

void problem(httplib::Response& res, int status, const std::string& detail, int retry_after_s,
             const json& extra) {
  res.status = status;
  if (retry_after_s > 0) res.set_header("Retry-After", std::to_string(retry_after_s));
  json body = extra;
  body.update({{"type", "about:blank"}, {"status", status}, {"title", title_of(status)}, {"detail", detail}});
  res.set_content(dump(body), "application/problem+json");
}

void json_reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

namespace {
json time_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(iso8601(*ms)) : json(nullptr);
}
// The stored metadata (compact JSON) as a value; null when there is none.
json metadata_json(const std::string& text) {
  if (text.empty()) return nullptr;
  json m = json::parse(text, nullptr, false);
  return m.is_object() ? m : json(nullptr);
}
}  // namespace

json to_json(const Allocation& a) {
  return {{"id", a.id},
          {"url", "/allocations/" + a.id},
          {"instance", a.instance_id},
          {"endpoint", a.endpoint},
          {"client", a.client},
          {"pool", a.pool},
          {"createdAt", iso8601(a.created_ms)},
          {"expiresAt", iso8601(a.expires_ms)},
          {"deletedAt", time_or_null(a.deleted_ms)},
          {"endReason", a.end_reason.empty() ? json(nullptr) : json(a.end_reason)},
          {"initBytes", a.session.init_bytes},
          {"initSha256", a.session.init_sha256.empty() ? json(nullptr) : json(a.session.init_sha256)},
          {"metadata", metadata_json(a.session.metadata)}};
}

json to_json(const Instance& i) {
  return {{"id", i.id},
          {"url", "/instances/" + std::to_string(i.id)},
          {"containerId", i.container_id},
          {"endpoint", i.endpoint()},
          {"state", to_string(i.state)},
          {"pool", i.pool},
          {"createdAt", iso8601(i.created_ms)},
          {"updatedAt", iso8601(i.updated_ms)},
          {"deletedAt", time_or_null(i.deleted_ms)},
          {"failures", i.failures},
          {"restarts", i.restarts},
          {"lastError", i.last_error.empty() ? json(nullptr) : json(i.last_error)},
          {"engine", i.engine}};
}

json to_json(const InstanceEvent& e) {
  return {{"id", e.id},
          {"instance", e.instance_id},
          {"at", iso8601(e.at_ms)},
          {"from", e.from ? json(to_string(*e.from)) : json(nullptr)},
          {"to", to_string(e.to)},
          {"detail", e.detail.empty() ? json(nullptr) : json(e.detail)}};
}

json parse_object(const std::string& body, std::initializer_list<const char*> allowed) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  return checked_object(body, json::parse(body, nullptr, /*allow_exceptions=*/false), allowed);
}

json checked_object(const std::string& body, json parsed, std::initializer_list<const char*> allowed) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  if (parsed.is_discarded()) throw BadRequest("the body is not valid JSON");
  if (!parsed.is_object()) throw BadRequest("the body must be a JSON object");
  for (const auto& [key, value] : parsed.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) throw BadRequest("unknown field \"" + key + "\"");
  }
  return parsed;
}

std::int64_t get_int(const json& body, const char* key, std::int64_t lo, std::int64_t hi,
                     std::int64_t fallback) {
  auto it = body.find(key);
  if (it == body.end()) return fallback;
  if (!it->is_number_integer())
    throw BadRequest(std::string("\"") + key + "\" must be an integer");
  // Unsigned values above INT64_MAX are out of range too.
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    throw BadRequest(std::string("\"") + key + "\" must be between " + std::to_string(lo) +
                     " and " + std::to_string(hi));
  const auto v = it->get<std::int64_t>();
  if (v < lo || v > hi)
    throw BadRequest(std::string("\"") + key + "\" must be between " + std::to_string(lo) +
                     " and " + std::to_string(hi));
  return v;
}

std::string get_string(const json& body, const char* key, std::size_t max_len) {
  auto it = body.find(key);
  if (it == body.end()) return "";
  if (!it->is_string()) throw BadRequest(std::string("\"") + key + "\" must be a string");
  auto s = it->get<std::string>();
  if (s.size() > max_len)
    throw BadRequest(std::string("\"") + key + "\" must be at most " + std::to_string(max_len) +
                     " bytes");
  return s;
}

}  // namespace warmpool::api
