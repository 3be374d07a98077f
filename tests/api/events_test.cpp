// GET /events: an instance's life as an operator reads it afterwards.
#include <catch2/catch.hpp>

#include "api_on_fakes.hpp"
#include "support/eventually.hpp"

using namespace warmpool;
using nlohmann::json;

TEST_CASE("GET /events shows a fault that recovered, newest first; filters and limits; bad input is 400") {
  test::ApiOnFakes api;
  const Instance i = api.pool.add_instance();
  REQUIRE(test::eventually([&] { return api.pool.claimed().empty() && is_idle(api.real.instance(i.id)->state); }));
  // A fault that recovers at once: only the events keep it.
  REQUIRE(api.pool.claim(i.id));
  api.pool.fail(i.id, "health check: ping 127.0.0.1:1: timed out");
  REQUIRE(test::eventually([&] { return api.pool.claimed().empty() && is_idle(api.real.instance(i.id)->state); }));

  auto [status, events] = api.get("/events?instance=" + std::to_string(i.id));
  REQUIRE(status == 200);
  REQUIRE(events.size() >= 5);
  CHECK(events.back()["from"].is_null());  // the creation, oldest
  CHECK(events.back()["to"] == "starting");
  bool fault_seen = false;
  for (const auto& e : events) {
    CHECK(e["instance"] == i.id);
    fault_seen = fault_seen || (e["to"] == "error" && e["detail"] == "health check: ping 127.0.0.1:1: timed out");
  }
  CHECK(fault_seen);
  for (std::size_t k = 1; k < events.size(); ++k) CHECK(events[k - 1]["id"] > events[k]["id"]);

  std::tie(status, events) = api.get("/events?limit=2");
  CHECK(events.size() == 2);
  std::tie(status, events) = api.get("/events?instance=999");
  CHECK(events.empty());
  for (const char* bad : {"/events?limit=0", "/events?limit=1001", "/events?instance=abc", "/events?instance=-1"}) {
    INFO(bad);
    std::tie(status, events) = api.get(bad);
    CHECK(status == 400);
  }
}
