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
  CHECK(idle_by_engine(stack) == std::map<std::string, int>{{"a", 2}, {"b", 2}});
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

// The issue's goals, on demand (hidden from CI: `engines_integration_tests
// "[engines-goal]"`): three engines, placement, and one engine's dockerd
// killed while 32 clients run 200 hand-outs. Prints its figures.
namespace {

std::map<std::string, int> live_by_engine(test::Stack& s) {
  std::map<std::string, int> n;
  for (const auto& i : s.store.instances(Show::Current)) ++n[i.engine];
  return n;
}

void tune_three(Config& c, const std::string& b, const std::string& d, const std::string& placement) {
  c.engines = {"a=" + test::engine_options().endpoint + ",capacity=24", "b=" + b + ",capacity=24",
               "c=" + d + ",capacity=24"};
  c.placement = placement;
  c.max_instances = 40;
  c.min_idle = 24;
  c.max_idle = 40;
  c.keep_running = 0;
  c.pool_policy = "fixed";
  c.host_limit = 1.0;
  c.scheduler_period_ms = 1000;
  c.normal_threads = 8;
  c.port_first = 11100;  // this drill's range: 11100-11199
  c.port_last = 11199;
}

}  // namespace

TEST_CASE("goal: three engines, 8/8/8 under spread and 24/0/0 under pack; one killed under 32 clients",
          "[.][engines-goal]") {
  drill::SecondEngine b, c;
  {
    test::Stack pack([&](Config& cfg) { tune_three(cfg, b.endpoint(), c.endpoint(), "pack"); });
    REQUIRE(pack.eventually([&] { return all_settled(pack) && pack.count_idle() >= 24; }, 120s));
    const auto placed = live_by_engine(pack);
    std::printf("pack:   a=%d b=%d c=%d\n", placed.count("a") ? placed.at("a") : 0,
                placed.count("b") ? placed.at("b") : 0, placed.count("c") ? placed.at("c") : 0);
    CHECK(placed == std::map<std::string, int>{{"a", 24}});
  }
  test::Stack stack([&](Config& cfg) { tune_three(cfg, b.endpoint(), c.endpoint(), "spread"); });
  REQUIRE(stack.eventually([&] { return all_settled(stack) && stack.count_idle() >= 24; }, 120s));
  const auto placed = live_by_engine(stack);
  std::printf("spread: a=%d b=%d c=%d\n", placed.at("a"), placed.at("b"), placed.at("c"));
  CHECK(placed == std::map<std::string, int>{{"a", 8}, {"b", 8}, {"c", 8}});

  std::atomic<int> next{0}, created{0}, refused_503{0}, other{0}, dead{0};
  std::vector<std::thread> clients;
  const auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point killed_at;
  for (int t = 0; t < 32; ++t)
    clients.emplace_back([&] {
      auto client = stack.client();
      while (next++ < 200) {
        auto r = client.Post("/allocations", R"({"timeout_ms":5000})", "application/json");
        if (!r) { ++other; continue; }
        if (r->status == 503) { ++refused_503; continue; }
        if (r->status != 201) { ++other; continue; }
        ++created;
        const json a = json::parse(r->body);
        httplib::Client worker("http://" + a["endpoint"].get<std::string>());
        worker.set_connection_timeout(1, 0);
        worker.set_read_timeout(2, 0);
        auto ping = worker.Get("/ping");
        if (!ping || ping->status != 200) ++dead;
        client.Delete("/allocations/" + a["id"].get<std::string>());
      }
    });
  while (next < 60) std::this_thread::sleep_for(1ms);
  killed_at = std::chrono::steady_clock::now();
  b.kill_dockerd();
  for (auto& t : clients) t.join();
  const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool back = stack.eventually([&] {
    int idle = 0;
    for (const auto& i : stack.store.instances(Show::Current)) idle += is_idle(i.state) && i.engine != "b";
    return idle >= 24;
  }, 60s);
  const double back_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  std::printf("200 hand-outs, 32 clients, b killed after ~60: %.1f s; 201 %d, 503 %d, other %d, dead workers %d; "
              "24 idle on a and c %.1f s after the kill\n",
              run_s, created.load(), refused_503.load(), other.load(), dead.load(), back_s);
  CHECK(back);
  CHECK(other == 0);
  CHECK(dead == 0);
  CHECK(back_s < 10);

  b.stop();  // the containerd the killed dockerd left behind
  const auto restarted = std::chrono::steady_clock::now();
  b.start();
  REQUIRE(stack.eventually([&] { return stack.engines().engine_up("b"); }, 30s));
  REQUIRE(stack.eventually([&] { return all_settled(stack); }, 60s));
  std::printf("b restarted: up and settled %.1f s after its start (scheduler period 1 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted).count());
}
