// POST /allocations on a pool with a quota, and on a pool whose image does
// not speak the worker protocol: refusals are problems that say why, and
// change nothing.
#include <catch2/catch.hpp>

#include "api_on_fakes.hpp"
#include "support/eventually.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

PoolSettings settings_with(ImageProtocol protocol, int quota) {
  PoolSettings s;
  s.protocol = std::move(protocol);
  s.client_quota = quota;
  s.policy.min_idle = 0;
  return s;
}

struct Api : test::ApiOnFakes {
  Api(ImageProtocol protocol, int quota, int instances)
      : ApiOnFakes({}, test::kLanes, settings_with(std::move(protocol), quota)) {
    for (int i = 0; i < instances; ++i) pool.add_instance();
    REQUIRE(test::eventually([&] { return idle() == instances && pool.claimed().empty(); }));
  }
  int idle() {
    int n = 0;
    for (const auto& i : store.instances(Show::Current)) n += is_idle(i.state);
    return n;
  }
  httplib::Result post(const std::string& path, const json& body) {
    httplib::Client client("127.0.0.1", port);
    return client.Post(path, body.dump(), "application/json");
  }
};

}  // namespace

TEST_CASE("POST /allocations over the client's quota: 429 problem with the quota, the count and Retry-After") {
  Api api({}, 2, 3);
  REQUIRE(api.post("/allocations", {{"client", "front-a"}})->status == 201);
  REQUIRE(api.post("/allocations", {{"client", "front-a"}})->status == 201);
  auto res = api.post("/allocations", {{"client", "front-a"}});
  REQUIRE(res);
  CHECK(res->status == 429);
  CHECK(res->get_header_value("Content-Type") == "application/problem+json");
  CHECK(res->get_header_value("Retry-After") == "1");
  const json problem = json::parse(res->body);
  CHECK(problem["status"] == 429);
  CHECK(problem["client"] == "front-a");
  CHECK(problem["quota"] == 2);
  CHECK(problem["current"] == 2);
  CHECK(problem["detail"].get<std::string>().find("quota is 2") != std::string::npos);
  CHECK(api.idle() == 1);  // nothing was claimed

  CHECK(api.post("/allocations", {{"client", "front-b"}})->status == 201);
  httplib::Client client("127.0.0.1", api.port);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("warmpool_quota_refusals_total{pool=\"default\"} 1") != std::string::npos);
}

TEST_CASE("POST /allocations with init to a pool whose image is not a worker: 400 naming init, nothing claimed") {
  Api api({HealthCheck::Http, "/", ResetMethod::Restart}, 0, 1);
  auto res = api.post("/allocations", {{"init", {{"files", {{"a.txt", "x"}}}}}});
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(json::parse(res->body)["detail"].get<std::string>().find("\"init\"") != std::string::npos);
  CHECK(api.idle() == 1);

  res = api.post("/allocations", json::object());
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(json::parse(res->body)["token"] == "");  // the image could not check one
  CHECK(api.worker.inits() == 0);
}
