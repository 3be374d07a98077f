#include <catch2/catch.hpp>

#include <set>

#include "support/stack.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

json body_of(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

}  // namespace

TEST_CASE("50 allocate/release cycles on a pool of 4 reuse the same 4 containers, paused between uses") {
  test::Stack stack([](Config& c) {
    c.max_instances = 4;
    c.min_idle = 4;
    c.max_idle = 4;
    c.keep_running = 0;
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 4; }));
  std::set<std::string> containers;
  for (const auto& i : stack.store.instances(Show::Current)) containers.insert(i.container_id);
  REQUIRE(containers.size() == 4);

  auto client = stack.client();
  for (int cycle = 0; cycle < 50; ++cycle) {
    auto r = client.Post("/allocations", "{}", "application/json");
    REQUIRE(r);
    INFO("cycle " << cycle << ": " << r->body);
    REQUIRE(r->status == 201);
    json a = json::parse(r->body);
    CHECK(r->get_header_value("Location") == "/allocations/" + a["id"].get<std::string>());
    CHECK(a["deletedAt"].is_null());

    // The endpoint handed out answers at once.
    httplib::Client worker(a["endpoint"].get<std::string>().insert(0, "http://"));
    worker.set_read_timeout(1, 0);
    auto ping = worker.Get("/ping");
    REQUIRE(ping);
    CHECK(ping->status == 200);

    auto instance = stack.store.instance(a["instance"].get<std::int64_t>());
    CHECK(containers.count(instance->container_id) == 1);

    auto released = client.Delete("/allocations/" + a["id"].get<std::string>());
    REQUIRE(released);
    CHECK(released->status == 200);
    CHECK_FALSE(json::parse(released->body)["deletedAt"].is_null());
    // Back in the pool, paused, before the next cycle.
    REQUIRE(stack.eventually([&] {
      return stack.store.instance(instance->id)->state == InstanceState::Paused;
    }));
  }
  // No new containers, and every one of them is paused now according to the engine.
  auto listed = stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}});
  CHECK(listed.size() == 4);
  REQUIRE(stack.eventually([&] { return stack.pool.claimed().empty(); }));
  for (const auto& c : listed) {
    CHECK(containers.count(c.id) == 1);
    CHECK(stack.engine().inspect(c.id).status == engine::ContainerStatus::Paused);
  }
  CHECK(stack.store.allocations(Show::Finished).size() == 50);
  CHECK(stack.store.allocations(Show::Current).empty());
}

TEST_CASE("the API answers bad input with clear problem+json errors and changes nothing") {
  test::Stack stack([](Config& c) {
    c.max_instances = 1;
    c.min_idle = 1;
    c.max_body_bytes = 1024;
    c.max_init_bytes = 1024;  // a hand-out's body may be 64 KiB more than its init's base64
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  auto client = stack.client();

  struct Case {
    std::string method, path, body;
    int status;
    std::string detail_has;
  };
  const std::vector<Case> cases = {
      {"POST", "/allocations", "{not json", 400, "not valid JSON"},
      {"POST", "/allocations", "[1,2]", 400, "JSON object"},
      {"POST", "/allocations", R"({"lease_seconds":"10"})", 400, "lease_seconds"},
      {"POST", "/allocations", R"({"lease_seconds":0})", 400, "between"},
      {"POST", "/allocations", R"({"lease_seconds":1e3})", 400, "integer"},
      {"POST", "/allocations", R"({"lease_seconds":99999999999999999999})", 400, "lease_seconds"},
      {"POST", "/allocations", R"({"client":5})", 400, "string"},
      {"POST", "/allocations", R"({"leese":5})", 400, "unknown field"},
      {"POST", "/allocations", std::string(100'000, ' '), 413, "larger"},
      {"POST", "/allocations/nope/renew", std::string(2048, ' '), 413, "larger"},
      {"GET", "/allocations/0123456789abcdef", "", 404, "no allocation"},
      {"DELETE", "/allocations/nope", "", 404, "no allocation"},
      {"GET", "/allocations?show=sometimes", "", 400, "show"},
      {"GET", "/instances/999999", "", 404, "no instance"},
      {"GET", "/instances/abc", "", 404, "no route"},
      {"DELETE", "/instances/424242", "", 404, "no instance"},
      {"POST", "/instances/424242/restart", "", 404, "no instance"},
      {"POST", "/allocations/nope/renew", "{}", 404, "no allocation"},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.path << " " << c.body.substr(0, 60));
    httplib::Result r = c.method == "GET"      ? client.Get(c.path)
                        : c.method == "DELETE" ? client.Delete(c.path)
                                               : client.Post(c.path, c.body, "application/json");
    REQUIRE(r);
    CHECK(r->status == c.status);
    CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    json p = json::parse(r->body);
    CHECK(p["status"] == c.status);
    CHECK(p["detail"].get<std::string>().find(c.detail_has) != std::string::npos);
  }
  CHECK(stack.store.allocations(Show::All).empty());
  CHECK(stack.store.instances(Show::Current).size() == 1);

  // At capacity: 503 with Retry-After within the request's deadline.
  auto a = client.Post("/allocations", "{}", "application/json");
  REQUIRE(a->status == 201);
  auto started = std::chrono::steady_clock::now();
  auto full = client.Post("/allocations", R"({"timeout_ms":300})", "application/json");
  REQUIRE(full);
  CHECK(full->status == 503);
  CHECK(full->has_header("Retry-After"));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
  // POST /instances at the limit is a conflict, not a crash.
  auto more = client.Post("/instances", "", "application/json");
  CHECK(more->status == 409);
}

TEST_CASE("leases: renewal extends expiresAt, an expired lease is released by the manager") {
  test::Stack stack([](Config& c) {
    c.max_instances = 1;
    c.min_idle = 1;
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  auto client = stack.client();
  json a = body_of(client.Post("/allocations", R"({"lease_seconds":1,"client":"lease-test"})", "application/json"));
  CHECK(a["client"] == "lease-test");
  json renewed = body_of(client.Post("/allocations/" + a["id"].get<std::string>() + "/renew",
                                     R"({"lease_seconds":2})", "application/json"));
  CHECK(renewed["expiresAt"].get<std::string>() > a["expiresAt"].get<std::string>());
  REQUIRE(stack.eventually([&] {
    return !body_of(client.Get("/allocations/" + a["id"].get<std::string>()))["deletedAt"].is_null();
  }, std::chrono::seconds(10)));
  json ended = body_of(client.Get("/allocations/" + a["id"].get<std::string>()));
  CHECK(ended["endReason"] == "lease expired");
  // and the instance is back for the next client
  auto next = client.Post("/allocations", R"({"timeout_ms":5000})", "application/json");
  CHECK(next->status == 201);
}

TEST_CASE("admin routes: create, inspect, restart and delete an instance") {
  test::Stack stack([](Config& c) { c.max_instances = 2; });
  auto client = stack.client();
  auto created = client.Post("/instances", "", "application/json");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  json i = json::parse(created->body);
  CHECK(i["state"] == "starting");
  const std::string url = "/instances/" + std::to_string(i["id"].get<int>());
  REQUIRE(stack.eventually([&] {
    auto s = body_of(client.Get(url))["state"];
    return s == "ready" || s == "paused";
  }));
  auto restarted = client.Post(url + "/restart", "", "application/json");
  REQUIRE(restarted);
  CHECK(restarted->status == 202);
  REQUIRE(stack.eventually([&] {
    auto s = body_of(client.Get(url));
    return s["restarts"] == 1 && (s["state"] == "ready" || s["state"] == "paused");
  }));
  auto deleted = client.Delete(url);
  CHECK(deleted->status == 202);
  REQUIRE(stack.eventually([&] { return body_of(client.Get(url))["state"] == "deleted"; }));
  CHECK(stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}}).empty());
  json details = body_of(client.Get("/details"));
  CHECK(details["host"]["cpus"].get<int>() >= 1);
  CHECK(details["queues"]["high"].contains("queued"));
  json health = body_of(client.Get("/health"));
  CHECK(health["status"] == "ok");
  CHECK(health["engine"]["reachable"] == true);
}

TEST_CASE("bearer tokens guard the public and admin routes; health and docs stay open") {
  test::Stack stack([](Config& c) {
    c.api_token = "public-secret";
    c.admin_token = "admin-secret";
  });
  auto client = stack.client();
  auto with = [&](const std::string& token) {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return h;
  };
  CHECK(client.Get("/allocations", with(""))->status == 401);
  CHECK(client.Get("/allocations", with("public-secret-"))->status == 401);
  CHECK(client.Get("/allocations", with("admin-secret"))->status == 401);
  auto ok = client.Get("/allocations", with("public-secret"));
  CHECK(ok->status == 200);
  CHECK(client.Get("/instances", with("public-secret"))->status == 401);
  CHECK(client.Get("/instances", with("admin-secret"))->status == 200);
  CHECK(client.Get("/metrics", with(""))->status == 401);
  auto metrics = client.Get("/metrics", with("admin-secret"));
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("warmpool_instances{pool=\"default\",state=\"ready\"}") != std::string::npos);
  auto unauthorized = client.Get("/details", with(""));
  CHECK(unauthorized->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(json::parse(unauthorized->body)["status"] == 401);
  CHECK(client.Get("/health", with(""))->status == 200);
}
