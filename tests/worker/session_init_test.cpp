// The `init` of POST /allocations: what is accepted, what is refused (with
// the field named and the right status), and what the record keeps of it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "worker/session_init.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

// The status and detail parse_session_init refuses `init` with.
std::pair<int, std::string> refusal(const json& init, const InitLimits& limits = {}) {
  try {
    parse_session_init(init, limits);
  } catch (const InitRefused& e) {
    return {e.status(), e.what()};
  }
  FAIL("accepted: " << init.dump());
  return {};
}

}  // namespace

TEST_CASE("init: files as text and base64, env and metadata are accepted; size and SHA-256 are of the payload") {
  const json init = {{"files", {{"a.txt", "hello"}, {"dir/b.bin", {{"base64", "AAEC/w=="}}}}},
                     {"env", {{"USER_NAME", "ada"}, {"_x1", ""}}},
                     {"metadata", {{"course", "net101"}}}};
  const SessionInit s = parse_session_init(init, {});
  CHECK(s.bytes == 5 + 4);
  CHECK(s.files == 2);
  CHECK(s.metadata == R"({"course":"net101"})");
  CHECK(s.sha256.size() == 64);
  CHECK(parse_session_init(init, {}).sha256 == s.sha256);  // the same payload, the same digest
  json other = init;
  other["env"]["USER_NAME"] = "bob";
  CHECK(parse_session_init(other, {}).sha256 != s.sha256);

  // The worker gets the files as given, with the token first.
  const json body = json::parse(s.worker_body(std::string("tok")));
  CHECK(body["token"] == "tok");
  CHECK(body["files"] == init["files"]);
  CHECK(body["env"] == init["env"]);
  CHECK(body["metadata"] == init["metadata"]);
  CHECK(json::parse(s.worker_body(std::nullopt))["token"].is_null());
}

TEST_CASE("init: an empty init, and none, give an empty payload for the worker") {
  const SessionInit s = parse_session_init(json::object(), {});
  CHECK(s.bytes == 0);
  CHECK(s.metadata.empty());
  const json body = json::parse(SessionInit{}.worker_body(std::string("t")));
  CHECK(body == json{{"token", "t"}, {"files", json::object()}, {"env", json::object()}, {"metadata", nullptr}});
}

TEST_CASE("init: bad paths, contents, env names and metadata are refused with 400 naming the field") {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"files", {{"../etc/passwd", "x"}}}}, "\"..\" component"},
      {{{"files", {{"a/../../b", "x"}}}}, "\"..\" component"},
      {{{"files", {{"/etc/passwd", "x"}}}}, "is absolute"},
      {{{"files", {{"a//b", "x"}}}}, "empty component"},
      {{{"files", {{"./a", "x"}}}}, "\".\" component"},
      {{{"files", {{"a/", "x"}}}}, "empty component"},
      {{{"files", {{std::string("a\0b", 3), "x"}}}}, "NUL"},
      {{{"files", {{"a\\b", "x"}}}}, "backslash"},
      {{{"files", {{"", "x"}}}}, "is empty"},
      {{{"files", {{"a", "x"}, {"a/b", "y"}}}}, "also the directory of"},
      {{{"files", {{"a", {{"base64", "not base64!"}}}}}}, "init.files[\"a\"].base64 is not valid base64"},
      {{{"files", {{"a", {{"base64", "QUJD"}, {"x", 1}}}}}}, "init.files[\"a\"] must be"},
      {{{"files", {{"a", 3}}}}, "init.files[\"a\"] must be"},
      {{{"files", json::array()}}, "init.files must be an object"},
      {{{"env", {{"1ABC", "x"}}}}, "not a variable name"},
      {{{"env", {{"A-B", "x"}}}}, "not a variable name"},
      {{{"env", {{"", "x"}}}}, "not a variable name"},
      {{{"env", {{"A", 1}}}}, "init.env.A must be a string"},
      {{{"env", "A=1"}}, "init.env must be an object"},
      {{{"metadata", json::array({1, 2})}}, "init.metadata must be a JSON object"},
      {{{"metadata", "text"}}, "init.metadata must be a JSON object"},
      {{{"other", 1}}, "init: unknown field \"other\""},
      {json::array(), "init must be an object"},
  };
  for (const auto& [init, expected] : cases) {
    INFO(init.dump(-1, ' ', false, json::error_handler_t::replace));
    const auto [status, detail] = refusal(init);
    CHECK(status == 400);
    CHECK_THAT(detail, Catch::Contains(expected));
  }
}

TEST_CASE("init: limits on bytes (413), file count and path length are the flags'") {
  InitLimits limits;
  limits.max_bytes = 10;
  limits.max_files = 2;
  limits.max_path_bytes = 8;
  CHECK(parse_session_init({{"files", {{"a", "12345"}, {"b", "12345"}}}}, limits).bytes == 10);
  auto [status, detail] = refusal({{"files", {{"a", "12345"}, {"b", "123456"}}}}, limits);
  CHECK(status == 413);
  CHECK_THAT(detail, Catch::Contains("--max-init-bytes"));
  // base64 counts its decoded bytes: 12 digits are 9 bytes.
  CHECK(parse_session_init({{"files", {{"a", {{"base64", "QUJDREVGR0hJ"}}}}}}, limits).bytes == 9);

  std::tie(status, detail) = refusal({{"files", {{"a", ""}, {"b", ""}, {"c", ""}}}}, limits);
  CHECK(status == 400);
  CHECK_THAT(detail, Catch::Contains("--max-init-files"));
  std::tie(status, detail) = refusal({{"files", {{"abcdefghi", ""}}}}, limits);
  CHECK(status == 400);
  CHECK_THAT(detail, Catch::Contains("longer than 8 bytes"));

  InitLimits with_data;
  with_data.reserved = "data";
  std::tie(status, detail) = refusal({{"files", {{"data/x", ""}}}}, with_data);
  CHECK(status == 400);
  CHECK_THAT(detail, Catch::Contains("data volume"));
  CHECK(parse_session_init({{"files", {{"database/x", ""}}}}, with_data).files == 1);

  std::tie(status, detail) = refusal({{"metadata", {{"k", std::string(kMaxInitMetadataBytes, 'x')}}}});
  CHECK(status == 413);
  std::tie(status, detail) = refusal({{"env", {{"K", std::string(kMaxInitEnvBytes, 'x')}}}});
  CHECK(status == 413);
}

TEST_CASE("duplicate_key names a key given twice, at any depth") {
  CHECK(duplicate_key(R"({"a":1,"b":2})") == std::nullopt);
  CHECK(duplicate_key(R"({"a":1,"a":2})") == "a");
  CHECK(duplicate_key(R"({"init":{"files":{"x":"1","y":"2","x":"3"}}})") == "init.files.x");
  CHECK(duplicate_key(R"({"init":{"env":{}},"client":"a","init":{}})") == "init");
  CHECK(duplicate_key(R"({"a":{"k":1},"b":{"k":1}})") == std::nullopt);  // one per object
  CHECK(duplicate_key("not json") == std::nullopt);
}
