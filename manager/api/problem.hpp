// Error answers as application/problem+json ({status, title, detail}), and
// the JSON shapes of our records.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "store/store.hpp"

namespace httplib {
struct Response;
}

namespace warmpool::api {

// Sets status, body and content type. retry_after_s > 0 adds Retry-After.
// `extra` (an object) adds members beside them.
void problem(httplib::Response& res, int status, const std::string& detail, int retry_after_s = 0,
             const nlohmann::json& extra = nlohmann::json::object());
void json_reply(httplib::Response& res, int status, const nlohmann::json& body);
// The body as JSON text; bytes that are not UTF-8 become U+FFFD (never throws).
std::string dump(const nlohmann::json& body);

nlohmann::json to_json(const Allocation& allocation);
nlohmann::json to_json(const Instance& instance);
nlohmann::json to_json(const InstanceEvent& event);

// Thrown by request parsing; the router turns it into a 400 problem.
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses an optional JSON object body. Empty body -> {}. Throws BadRequest
// for malformed JSON, a non-object, or a key not in `allowed`.
nlohmann::json parse_object(const std::string& body, std::initializer_list<const char*> allowed);
// The same for a body already parsed into `parsed` (discarded when it was not JSON).
nlohmann::json checked_object(const std::string& body, nlohmann::json parsed, std::initializer_list<const char*> allowed);
// The integer at key in [lo, hi], or fallback when absent. Throws BadRequest.
std::int64_t get_int(const nlohmann::json& body, const char* key, std::int64_t lo, std::int64_t hi,
                     std::int64_t fallback);
// The string at key, at most max_len bytes, or "" when absent. Throws BadRequest.
std::string get_string(const nlohmann::json& body, const char* key, std::size_t max_len);

}  // namespace warmpool::api
