// Two pools side by side on the real engine: the pi worker as `default`
// (the flags) and the BusyBox httpd image, which knows nothing of warmpool,
// added through POST /pools with an http health check and a restart reset.
// Hand-outs from each reach their own image; deleting the BusyBox pool while
// one of its allocations is live drains it: no new hand-outs, the idle
// instances go, the allocated one when its allocation ends, then the pool.
// A manager started again over both pools adopts each container into its
// own pool.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "busybox.hpp"
#include "pool_calls.hpp"

using namespace warmpool;
using nlohmann::json;
using test::call;
using test::get_body;

namespace {

// This suite's worker ports: 19100-19999, 20 per pool.
int busybox_first_port() { return 19100 + static_cast<int>(std::random_device{}() % 45) * 20; }

int containers_of_pool(test::Stack& stack, const std::string& pool) {
  return static_cast<int>(
      stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}, {engine::kPoolLabel, pool}}).size());
}

// GET /metrics: the sum of the samples of `name` whose labels include `label`.
double metric_sum(httplib::Client& client, const std::string& name, const std::string& label) {
  auto r = client.Get("/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  double sum = 0;
  std::istringstream lines(r->body);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + "{", 0) == 0 && line.find(label) < line.find('}'))
      sum += std::stod(line.substr(line.rfind(' ') + 1));
  return sum;
}

}  // namespace

TEST_CASE("two pools on the real engine: the pi worker and BusyBox side by side; deleting BusyBox drains it") {
  test::ensure_busybox_image();
  test::Stack stack([](Config& c) {
    c.max_instances = 6;
    c.min_idle = 1;
    c.max_idle = 2;
  });
  auto client = stack.client();
  const int first = busybox_first_port();
  auto [created, pool] = call(client, "POST", "/pools",
                              {{"name", "busybox"}, {"image", test::kBusyboxImage}, {"portFirst", first},
                               {"portLast", first + 19}, {"minIdle", 2}, {"maxIdle", 3}, {"memoryMb", 32},
                               {"pids", 16}, {"health", "http"}, {"healthPath", "/"}, {"reset", "restart"}});
  REQUIRE(created == 201);
  CHECK(pool["state"] == "active");
  REQUIRE(stack.eventually([&] {
    int idle = 0;
    for (const auto& i : stack.store.instances_of("busybox", Show::Current)) idle += is_idle(i.state);
    return idle == 2;
  }));

  // From default: a pi worker, with a session token.
  auto [ok1, pi] = call(client, "POST", "/allocations", {{"timeout_ms", 20000}});
  REQUIRE(ok1 == 201);
  CHECK(pi["pool"] == "default");
  CHECK(pi["token"].get<std::string>().size() == 64);
  CHECK(get_body(pi["endpoint"], "/ping").find("ok") != std::string::npos);

  // From busybox: BusyBox's own page, in its port range, no token.
  auto [ok2, box] = call(client, "POST", "/allocations", {{"pool", "busybox"}, {"timeout_ms", 20000}});
  REQUIRE(ok2 == 201);
  CHECK(box["pool"] == "busybox");
  CHECK(box["token"] == "");
  const std::string endpoint = box["endpoint"];
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  CHECK(port >= first);
  CHECK(port <= first + 19);
  CHECK(get_body(endpoint, "/").find("BusyBox httpd") != std::string::npos);
  auto containers = stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}});
  for (const auto& c : containers) {
    const bool boxed = c.labels.count(engine::kPoolLabel) && c.labels.at(engine::kPoolLabel) == "busybox";
    CHECK(c.image == (boxed ? test::kBusyboxImage : stack.config.image));
  }

  // /metrics shows each pool apart.
  CHECK(metric_sum(client, "warmpool_hand_outs_total", R"(pool="busybox")") == 1);
  CHECK(metric_sum(client, "warmpool_hand_outs_total", R"(pool="default")") == 1);
  CHECK(metric_sum(client, "warmpool_instances", R"(pool="busybox",state="allocated")") == 1);
  CHECK(metric_sum(client, "warmpool_instances", R"(pool="default",state="allocated")") == 1);
  CHECK(metric_sum(client, "warmpool_allocate_seconds_count", R"(outcome="201",pool="busybox")") == 1);

  // Deleting it drains it; the live allocation keeps its instance.
  auto [accepted, draining] = call(client, "DELETE", "/pools/busybox");
  REQUIRE(accepted == 202);
  CHECK(draining["state"] == "draining");
  CHECK(call(client, "POST", "/allocations", {{"pool", "busybox"}}).first == 409);
  REQUIRE(stack.eventually([&] { return stack.store.instances_of("busybox", Show::Current).size() == 1; }));
  CHECK(containers_of_pool(stack, "busybox") == 1);
  CHECK(get_body(endpoint, "/").find("BusyBox httpd") != std::string::npos);  // still served
  CHECK(call(client, "GET", "/pools/busybox").first == 200);

  // Its end empties the pool; then the pool and its containers are gone.
  CHECK(call(client, "DELETE", "/allocations/" + box["id"].get<std::string>()).first == 200);
  REQUIRE(stack.eventually([&] { return call(client, "GET", "/pools/busybox").first == 404; }));
  CHECK(stack.store.instances_of("busybox", Show::Current).empty());
  REQUIRE(stack.eventually([&] { return containers_of_pool(stack, "busybox") == 0; }));
  const auto gone = client.Get("/metrics");  // its series went with it
  REQUIRE(gone);
  CHECK(gone->body.find(R"(pool="busybox")") == std::string::npos);
  CHECK(gone->body.find(R"(pool="default")") != std::string::npos);

  // default never noticed.
  CHECK(call(client, "DELETE", "/allocations/" + pi["id"].get<std::string>()).first == 200);
  auto [ok3, again] = call(client, "POST", "/allocations", {{"timeout_ms", 20000}});
  CHECK(ok3 == 201);
  CHECK(again["pool"] == "default");
}

TEST_CASE("a manager started again over two pools adopts every container into its own pool, removing none") {
  test::ensure_busybox_image();
  const Config config = test::Stack::make_config([](Config& c) {
    c.max_instances = 6;
    c.min_idle = 1;
    c.max_idle = 2;
  });
  const int first = busybox_first_port();
  auto idle_of = [](App& app, const std::string& pool) {
    int idle = 0;
    for (const auto& i : app.store.instances_of(pool, Show::Current)) idle += is_idle(i.state);
    return idle;
  };
  std::map<std::int64_t, std::pair<std::string, std::string>> before;  // id -> {pool, container}
  {
    App app(config);
    app.start_scheduling();
    httplib::Client client("127.0.0.1", app.serve_in_background());
    REQUIRE(call(client, "POST", "/pools",
                 {{"name", "busybox"}, {"image", test::kBusyboxImage}, {"portFirst", first}, {"portLast", first + 19},
                  {"minIdle", 2}, {"maxIdle", 2}, {"memoryMb", 32}, {"pids", 16}, {"health", "tcp"},
                  {"reset", "restart"}})
                .first == 201);
    REQUIRE(test::Stack::eventually([&] { return idle_of(app, kDefaultPool) == 1 && idle_of(app, "busybox") == 2; }));
    for (const auto& i : app.store.instances(Show::Current)) before[i.id] = {i.pool, i.container_id};
    app.stop();  // containers stay for the next start (no --remove-on-exit)
  }
  REQUIRE(before.size() == 3);
  App app(config);  // the same records, the same manager id
  REQUIRE(app.pools.find("busybox"));
  app.start_scheduling();
  // A few ticks of every pool's scheduler: each reconciles its own containers.
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * config.scheduler_period_ms));
  REQUIRE(test::Stack::eventually([&] { return idle_of(app, kDefaultPool) == 1 && idle_of(app, "busybox") == 2; }));
  for (const auto& [id, was] : before) {
    INFO("instance " << id);
    const auto now = app.store.instance(id);
    REQUIRE(now);
    CHECK(is_idle(now->state));
    CHECK(now->pool == was.first);
    CHECK(now->container_id == was.second);
  }
  const auto containers = app.engine.list({{engine::kManagerLabel, config.manager_id}});
  CHECK(containers.size() == before.size());
  for (const auto& c : containers) {
    const auto record = app.store.instance(std::stoll(c.labels.at(engine::kInstanceLabel)));
    REQUIRE(record);
    CHECK(c.labels.at(engine::kPoolLabel) == record->pool);
  }
  app.stop();
  for (const auto& c : app.engine.list({{engine::kManagerLabel, config.manager_id}})) app.engine.remove(c.id);
  std::error_code ignored;
  std::filesystem::remove_all(config.data_dir, ignored);
}
