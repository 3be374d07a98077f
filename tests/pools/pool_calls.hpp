// HTTP helpers of the pools' real-engine tests: a call to the manager, and
// a GET straight to an instance.
#pragma once

#include <string>
#include <utility>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace warmpool::test {

// The status and JSON body (null when empty) of `method path` with `body`.
inline std::pair<int, nlohmann::json> call(httplib::Client& client, const std::string& method,
                                           const std::string& path,
                                           const nlohmann::json& body = nlohmann::json::object()) {
  httplib::Result r = method == "GET"      ? client.Get(path)
                      : method == "DELETE" ? client.Delete(path)
                      : method == "PATCH"  ? client.Patch(path, body.dump(), "application/json")
                                           : client.Post(path, body.dump(), "application/json");
  REQUIRE(r);
  INFO(method << " " << path << ": " << r->body);
  return {r->status, r->body.empty() ? nlohmann::json() : nlohmann::json::parse(r->body)};
}

// The body of GET `path` from the instance at `endpoint`, which must answer 200.
inline std::string get_body(const std::string& endpoint, const std::string& path) {
  httplib::Client direct("http://" + endpoint);
  direct.set_read_timeout(5, 0);
  auto r = direct.Get(path);
  REQUIRE(r);
  CHECK(r->status == 200);
  return r->body;
}

}  // namespace warmpool::test
