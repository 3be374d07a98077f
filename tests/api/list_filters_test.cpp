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
