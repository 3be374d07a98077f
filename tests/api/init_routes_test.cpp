// POST /allocations with `init`: bad input is a 4xx problem that names the
// field, and no instance is claimed; a good one is recorded (size, SHA-256,
// metadata) and the answer carries the session's token once.
#include <catch2/catch.hpp>

#include "api_on_fakes.hpp"
#include "support/eventually.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

struct Api : test::ApiOnFakes {
  Api() {
    pool.add_instance();
    REQUIRE(test::eventually([&] { return idle() == 1 && pool.claimed().empty(); }));
  }
  int idle() {
    int n = 0;
    for (const auto& i : store.instances(Show::Current)) n += is_idle(i.state);
    return n;
  }
  httplib::Result post(const std::string& body) {
    httplib::Client client("127.0.0.1", port);
    return client.Post("/allocations", body, "application/json");
  }
};

}  // namespace

TEST_CASE("POST /allocations: a bad init gets a 4xx problem naming the field, and no instance is claimed") {
  Api api;
  const int resets = api.worker.resets();
  const std::string big(api.config.max_init_bytes + 1, 'x');
  const std::vector<std::tuple<std::string, int, std::string>> cases = {
      {json{{"init", {{"files", {{"a", big}}}}}}.dump(), 413, "init.files"},
      {json{{"init", {{"files", {{"../a", "x"}}}}}}.dump(), 400, "\"..\" component"},
      {json{{"init", {{"files", {{"/etc/passwd", "x"}}}}}}.dump(), 400, "absolute"},
      {json{{"init", {{"files", {{"a", {{"base64", "%%%"}}}}}}}}.dump(), 400, "init.files[\"a\"].base64"},
      {json{{"init", {{"env", {{"NOT-A-NAME", "x"}}}}}}.dump(), 400, "init.env"},
      {json{{"init", {{"metadata", json::array()}}}}.dump(), 400, "init.metadata"},
      {R"({"init":{"files":{"a":"1","a":"2"}}})", 400, "init.files.a"},
      {json{{"init", "files"}}.dump(), 400, "init must be an object"},
  };
  for (const auto& [body, status, field] : cases) {
    INFO(body.substr(0, 200));
    auto r = api.post(body);
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    CHECK_THAT(json::parse(r->body)["detail"].get<std::string>(), Catch::Contains(field));
  }
  std::string files;
  for (int i = 0; i <= api.config.max_init_files; ++i) files += (i ? "," : "") + json("f" + std::to_string(i)).dump() + ":\"\"";
  auto many = api.post(R"({"init":{"files":{)" + files + "}}}");
  REQUIRE(many);
  CHECK(many->status == 400);
  CHECK_THAT(many->body, Catch::Contains("--max-init-files"));

  CHECK(api.worker.resets() == resets);  // no instance was touched
  CHECK(api.worker.inits() == 0);
  CHECK(api.idle() == 1);
  CHECK(api.store.allocations(Show::All).empty());
}

TEST_CASE("POST /allocations with init: 201 with the token once; GET shows size, SHA-256 and metadata, never the token") {
  Api api;
  const json init = {{"files", {{"a.txt", "hello"}}}, {"metadata", {{"user", "ada"}}}};
  auto r = api.post(json{{"init", init}, {"client", "lab"}}.dump());
  REQUIRE(r);
  REQUIRE(r->status == 201);
  const json created = json::parse(r->body);
  CHECK(created["token"].get<std::string>().size() == 64);
  CHECK(created["initBytes"] == 5);
  CHECK(created["metadata"] == json{{"user", "ada"}});
  CHECK(created["initSha256"] == parse_session_init(init, {}).sha256);

  httplib::Client client("127.0.0.1", api.port);
  const json read = json::parse(client.Get("/allocations/" + created["id"].get<std::string>())->body);
  CHECK_FALSE(read.contains("token"));
  CHECK(read["initBytes"] == 5);
  CHECK(read["metadata"] == json{{"user", "ada"}});
  const json listed = json::parse(client.Get("/allocations")->body);
  REQUIRE(listed.size() == 1);
  CHECK_FALSE(listed[0].contains("token"));
}

TEST_CASE("POST /allocations: a payload the worker refuses is a 422, and the instance stays in the pool") {
  Api api;
  api.worker.refuse_init(api.store.instances(Show::Current).front().endpoint(), 1);
  auto r = api.post(R"({"init":{"files":{"a":"b"}}})");
  REQUIRE(r);
  CHECK(r->status == 422);
  CHECK_THAT(r->body, Catch::Contains("refused init"));
  REQUIRE(test::eventually([&] { return api.pool.claimed().empty(); }));
  CHECK(api.idle() == 1);
  CHECK(api.post("{}")->status == 201);
}
