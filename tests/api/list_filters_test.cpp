// GET /instances?state=... and GET /allocations?client=...: filters an
// operator uses to find the faulty or one front-end's instances.
#include <catch2/catch.hpp>

#include <set>

#include "api_on_fakes.hpp"
#include "support/eventually.hpp"

using namespace warmpool;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {
std::multiset<std::string> states_of(const json& list) {
  std::multiset<std::string> out;
  for (const auto& i : list) out.insert(i["state"].get<std::string>());
  return out;
}
}  // namespace

TEST_CASE("GET /instances?state= keeps the states named; GET /allocations?client= one client's") {
  test::ApiOnFakes api;
  for (int k = 0; k < 3; ++k) api.pool.add_instance();
  REQUIRE(test::eventually([&] {
    auto [status, list] = api.get("/instances?state=ready,paused");
    return list.size() == 3 && api.pool.claimed().empty();
  }));
  api.pool.allocate({0, "front-a", std::chrono::steady_clock::now() + 2s});
  api.pool.allocate({0, "front-b", std::chrono::steady_clock::now() + 2s});

  auto [status, list] = api.get("/instances?state=allocated");
  CHECK(status == 200);
  CHECK(states_of(list) == std::multiset<std::string>{"allocated", "allocated"});
  std::tie(status, list) = api.get("/instances?state=paused,allocated&show=all");
  CHECK(list.size() == 3);
  std::tie(status, list) = api.get("/instances?state=error");
  CHECK(status == 200);
  CHECK(list.empty());

  std::tie(status, list) = api.get("/allocations?client=front-a");
  REQUIRE(list.size() == 1);
  CHECK(list[0]["client"] == "front-a");
  std::tie(status, list) = api.get("/allocations?client=nobody");
  CHECK(list.empty());
  std::tie(status, list) = api.get("/allocations");
  CHECK(list.size() == 2);

  for (const char* bad : {"/instances?state=sleeping", "/instances?state=", "/instances?state=ready,,paused",
                          "/instances?state=READY"}) {
    INFO(bad);
    std::tie(status, list) = api.get(bad);
    CHECK(status == 400);
    CHECK(list["detail"].get<std::string>().find("\"state\" must be") != std::string::npos);
  }
  std::tie(status, list) = api.get("/allocations?client=" + std::string(201, 'x'));
  CHECK(status == 400);
}

TEST_CASE("GET /allocations pages through the history, oldest first, each full page linking to the next") {
  test::ApiOnFakes api;
  api.pool.add_instance();
  REQUIRE(test::eventually([&] { return api.get("/instances?state=ready,paused").second.size() == 1 &&
                                        api.pool.claimed().empty(); }));
  // Five sessions, one after another; the odd ones for "front-a".
  std::vector<std::string> made;
  for (int k = 0; k < 5; ++k) {
    auto a = api.pool.allocate({0, k % 2 ? "front-a" : "front-b", std::chrono::steady_clock::now() + 2s});
    made.push_back(a.id);
    api.pool.release(a.id);
    REQUIRE(test::eventually([&] { return api.pool.claimed().empty() && api.get("/instances?state=allocated,resetting").second.empty(); }));
  }
  httplib::Client client("127.0.0.1", api.port);
  std::vector<std::string> seen;
  std::string next = "/allocations?show=all&limit=2";
  int pages = 0;
  while (!next.empty()) {
    auto res = client.Get(next);
    REQUIRE(res);
    REQUIRE(res->status == 200);
    for (const auto& a : json::parse(res->body)) seen.push_back(a["id"]);
    ++pages;
    next.clear();
    if (res->has_header("Link")) {
      const std::string link = res->get_header_value("Link");
      INFO(link);
      REQUIRE(link.front() == '<');
      REQUIRE(link.find(">; rel=\"next\"") != std::string::npos);
      next = link.substr(1, link.find('>') - 1);
      CHECK(next.find("show=all") != std::string::npos);
    }
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);  // 2 + 2 + 1
  CHECK(seen == made);

  auto res = client.Get("/allocations?show=all&client=front-a&limit=1");
  REQUIRE(res);
  REQUIRE(json::parse(res->body).size() == 1);
  CHECK(json::parse(res->body)[0]["id"] == made[1]);
  REQUIRE(res->has_header("Link"));
  res = client.Get(res->get_header_value("Link").substr(1, res->get_header_value("Link").find('>') - 1));
  REQUIRE(res);
  REQUIRE(json::parse(res->body).size() == 1);
  CHECK(json::parse(res->body)[0]["id"] == made[3]);  // the filter rides along

  for (const char* bad : {"/allocations?limit=0", "/allocations?limit=10001", "/allocations?after=-1",
                          "/allocations?after=x"}) {
    INFO(bad);
    auto [status, problem] = api.get(bad);
    CHECK(status == 400);
  }
}
