// Two real engines under one manager: the shared test engine and a second
// private dockerd (second-engine). The pool spreads over both; when the
// second stops, hand-outs go on with the first at once and the pool is back
// at its target there; when it starts again, its engine is up and its
// instances are adopted or recovered.
#include <catch2/catch.hpp>

#include <httplib.h>

#include "scheduler/drill_support.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::map<std::string, int> idle_by_engine(test::Stack& s) {
  std::map<std::string, int> n;
  for (const auto& i : s.store.instances(Show::Current))
    if (is_idle(i.state)) ++n[i.engine];
  return n;
}

// Every record with its engine, state, restarts and last error: what a
// failed placement check needs to be read.
std::string records(test::Stack& s) {
  std::string out;
  for (const auto& i : s.store.instances(Show::All))
    out += "#" + std::to_string(i.id) + " on " + i.engine + " " + to_string(i.state) + " restarts " +
           std::to_string(i.restarts) + (i.last_error.empty() ? "" : " (" + i.last_error + ")") + "\n";
  return out;
}

bool all_settled(test::Stack& s) {
  for (const auto& i : s.store.instances(Show::Current))
    if (!is_idle(i.state) && i.state != InstanceState::Allocated) return false;
  return s.pool.claimed().empty();
}

}  // namespace

TEST_CASE("two engines: spread over both; one stops and hand-outs go on with the other; it comes back",
          "[engines]") {
  drill::SecondEngine second;
  test::Stack stack([&](Config& c) {
    c.engines = {"a=" + test::engine_options().endpoint, "b=" + second.endpoint()};
    c.max_instances = 10;
    c.min_idle = 4;
    c.max_idle = 10;
    c.keep_running = 0;  // paused: a hand-out unpauses through its engine
    c.scheduler_period_ms = 500;
    c.port_first = 11000;  // this test's range: 11000-11039
    c.port_last = 11039;
  });
  REQUIRE(stack.eventually([&] { return all_settled(stack) && stack.count_idle() >= 4; }, 60s));
  {
    INFO(records(stack));
    CHECK(idle_by_engine(stack) == std::map<std::string, int>{{"a", 2}, {"b", 2}});
  }
  engine::DockerEngine b_client(engine_options(stack.config, second.endpoint()));
  for (const auto& i : stack.store.instances(Show::Current))
    if (i.engine == "b") CHECK(b_client.inspect(i.container_id).status == engine::ContainerStatus::Paused);

  second.stop();
  const auto stopped = std::chrono::steady_clock::now();
  auto client = stack.client();
  for (int n = 0; n < 6; ++n) {
    auto r = client.Post("/allocations", R"({"timeout_ms":5000})", "application/json");
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
    const json a = json::parse(r->body);
    CHECK(stack.store.instance(a["instance"].get<std::int64_t>())->engine == "a");
    httplib::Client worker("http://" + a["endpoint"].get<std::string>());
    worker.set_read_timeout(2, 0);
    auto ping = worker.Get("/ping");
    CHECK((ping && ping->status == 200));
    client.Delete("/allocations/" + a["id"].get<std::string>());
  }
  // The pool is back at its target on a; b's records wait for it.
  REQUIRE(stack.eventually([&] { return idle_by_engine(stack)["a"] >= 4; }, 10s));
  const auto back_at_target = std::chrono::steady_clock::now() - stopped;
  CHECK_FALSE(stack.engines().engine_up("b"));
  CHECK(client.Get("/health")->status == 200);
  const json listed = json::parse(client.Get("/engines")->body);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["name"] == "a");
  CHECK(listed[0]["state"] == "up");
  CHECK(listed[1]["name"] == "b");
  CHECK(listed[1]["state"] == "down");
  CHECK(json::parse(client.Get("/health")->body)["engine"]["engines"][1]["state"] == "down");
  const std::string metrics = client.Get("/metrics")->body;
  CHECK(metrics.find(R"(warmpool_engine_state{engine="b",state="down"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(warmpool_engine_state{engine="a",state="up"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(warmpool_engine_instances{engine="a"})") != std::string::npos);
  CHECK(back_at_target < 10s);

  second.start();
  REQUIRE(stack.eventually([&] { return stack.engines().engine_up("b"); }, 10s));
  REQUIRE(stack.eventually([&] { return all_settled(stack); }, 30s));
  // Its containers were stopped with it: recovered on b or replaced, never left behind.
  for (const auto& i : stack.store.instances(Show::Current))
    if (i.engine == "b") CHECK(b_client.inspect(i.container_id).status != engine::ContainerStatus::Exited);

  // Drained: no new instance goes to b, its idle ones go, a takes the pool.
  auto drained = client.Post("/engines/b/drain", "", "application/json");
  REQUIRE(drained);
  CHECK(drained->status == 200);
  CHECK(json::parse(drained->body)["state"] == "draining");
  // (A removal the restarted dockerd is slow to finish may still be under way: only idle ones count.)
  REQUIRE(stack.eventually([&] { return idle_by_engine(stack)["b"] == 0 && idle_by_engine(stack)["a"] >= 4; }, 30s));
  CHECK(client.Post("/engines/nope/drain", "", "application/json")->status == 404);
}
