// Any image on the real engine: BusyBox httpd, which knows nothing of
// warmpool, pooled with an http or tcp health check. What each reset gives
// a session, exactly:
//   restart  the same container; fresh processes and a fresh /scratch tmpfs
//            (the root is read-only, so nothing else was written)
//   recreate a new container every time: a fresh root as well
#include <catch2/catch.hpp>

#include <set>

#include "busybox.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

json allocate(httplib::Client& client) {
  auto r = client.Post("/allocations", R"({"client":"any-image","timeout_ms":20000})", "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 201);
  return json::parse(r->body);
}

void release(httplib::Client& client, const json& allocation) {
  auto r = client.Delete("/allocations/" + allocation["id"].get<std::string>());
  REQUIRE(r);
  REQUIRE(r->status == 200);
}

struct State {
  int visits = 0;
  std::string started;  // the process's start time, clock ticks since boot
};

// GET /cgi-bin/state of the image: visits counted in /scratch, and its process's start.
State state_of(const std::string& endpoint) {
  httplib::Client c("http://" + endpoint);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/cgi-bin/state");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 200);
  State s;
  const auto v = r->body.find("visits="), t = r->body.find(" started=");
  REQUIRE(v != std::string::npos);
  REQUIRE(t != std::string::npos);
  s.visits = std::stoi(r->body.substr(v + 7, t - v - 7));
  s.started = r->body.substr(t + 9, r->body.find_first_of("\r\n", t) - t - 9);
  return s;
}

}  // namespace

TEST_CASE("busybox, --health http --reset restart: every session starts clean on the same container") {
  test::ensure_busybox_image();
  test::Stack stack(test::busybox_pool("http", "restart", [](Config& c) {
    c.max_instances = 1;
    c.min_idle = 1;
    c.max_idle = 1;
    c.keep_running = 1;
  }));
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  auto client = stack.client();
  std::string container;
  std::set<std::string> starts;
  for (int session = 0; session < 3; ++session) {
    INFO("session " << session);
    const json a = allocate(client);
    CHECK(a["token"] == "");
    const std::string endpoint = a["endpoint"];
    // The image itself answers: its page, and its state.
    httplib::Client direct("http://" + endpoint);
    auto page = direct.Get("/");
    REQUIRE(page);
    CHECK(page->status == 200);
    CHECK(page->body.find("BusyBox httpd") != std::string::npos);
    const State first = state_of(endpoint);
    CHECK(first.visits == 1);  // /scratch holds nothing of the session before
    CHECK(state_of(endpoint).visits == 2);
    CHECK(starts.insert(first.started).second);  // a process of its own
    const std::string now = stack.store.instance(a["instance"].get<std::int64_t>())->container_id;
    if (session == 0) container = now;
    CHECK(now == container);  // a restart keeps the container
    release(client, a);
    REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  }
}

TEST_CASE("busybox, --reset recreate: 8 hand-outs, 8 containers, none handed out twice") {
  test::ensure_busybox_image();
  test::Stack stack(test::busybox_pool("http", "recreate", [](Config& c) {
    c.max_instances = 2;
    c.min_idle = 1;
    c.max_idle = 2;
    c.keep_running = 1;
  }));
  REQUIRE(stack.eventually([&] { return stack.count_idle() >= 1; }));
  auto client = stack.client();
  std::set<std::string> containers;
  std::set<std::int64_t> instances;
  for (int round = 0; round < 8; ++round) {
    INFO("hand-out " << round);
    const json a = allocate(client);
    const auto id = a["instance"].get<std::int64_t>();
    CHECK(instances.insert(id).second);
    CHECK(containers.insert(stack.store.instance(id)->container_id).second);
    CHECK(state_of(a["endpoint"]).visits == 1);
    release(client, a);
    REQUIRE(stack.eventually([&] { return stack.store.instance(id)->state == InstanceState::Deleted; }));
  }
  // The containers of released instances are gone from the engine.
  const auto left = stack.engine().list({{engine::kManagerLabel, stack.config.manager_id}});
  for (const auto& c : left) CHECK(containers.count(c.id) == 0);
}

TEST_CASE("busybox, --health tcp: instances are checked by a connect and handed out") {
  test::ensure_busybox_image();
  test::Stack stack(test::busybox_pool("tcp", "restart", [](Config& c) {
    c.max_instances = 1;
    c.min_idle = 1;
    c.max_idle = 1;
    c.keep_running = 0;  // paused when idle: the hand-out unpauses, then connects
  }));
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  auto client = stack.client();
  for (int session = 0; session < 2; ++session) {
    const json a = allocate(client);
    CHECK(state_of(a["endpoint"]).visits == 1);
    release(client, a);
    REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  }
}

TEST_CASE("busybox: a hand-out with init is refused with 400 naming init, and no instance is taken") {
  test::ensure_busybox_image();
  test::Stack stack(test::busybox_pool("http", "restart", [](Config& c) {
    c.max_instances = 1;
    c.min_idle = 1;
    c.max_idle = 1;
  }));
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 1; }));
  auto client = stack.client();
  auto r = client.Post("/allocations", R"({"init":{"files":{"a.txt":"x"}}})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->body.find("init") != std::string::npos);
  CHECK(stack.count_idle() == 1);
}
