// POST /allocations when the high lane's queue is full: 429 with Retry-After,
// at once, and nothing taken.
#include <catch2/catch.hpp>

#include <future>

#include "api_on_fakes.hpp"

using namespace warmpool;
using namespace std::chrono_literals;

TEST_CASE("a full high lane answers POST /allocations with 429 and Retry-After, taking nothing") {
  test::ApiOnFakes api({}, {.high_threads = 1, .normal_threads = 1, .high_capacity = 1, .normal_capacity = 16});
  std::promise<void> open;
  auto gate = open.get_future().share();
  // The lane's one thread waits on the gate; one more task fills its queue.
  REQUIRE(api.lanes.submit(Lane::High, std::chrono::steady_clock::now() + 1h, [gate] { gate.wait(); }));
  while (api.lanes.stats(Lane::High).running == 0) std::this_thread::sleep_for(1ms);
  REQUIRE(api.lanes.submit(Lane::High, std::chrono::steady_clock::now() + 1h, [] {}));

  httplib::Client client("127.0.0.1", api.port);
  auto res = client.Post("/allocations", R"({"timeout_ms": 5000})", "application/json");
  open.set_value();
  REQUIRE(res);
  CHECK(res->status == 429);
  CHECK(res->get_header_value("Retry-After") == "1");
  CHECK(res->get_header_value("Content-Type") == "application/problem+json");
  const auto body = nlohmann::json::parse(res->body);
  CHECK(body["status"] == 429);
  CHECK(body["detail"] == "the allocation queue is full");
  CHECK(api.store.allocations(Show::All).empty());
  CHECK(api.lanes.stats(Lane::High).rejected == 1);
}
