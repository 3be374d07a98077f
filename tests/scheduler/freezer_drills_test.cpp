// The freezer path on the real engine: paused instances are frozen through
// their cgroup (the engine still calls them running), a hand-out thaws them,
// and freezes, thaws and kills behind the manager's back end with records
// and containers in step, nothing handed out frozen or twice.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include "drill_support.hpp"
#include "engine/pause_probe.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using drill::report;
using drill::Steady;
using drill::time_until;
using nlohmann::json;

namespace {

// Where the manager finds a container's freezer, from the engine's answers
// (Docker and Podman differ). The drills read and write it as cgroup v1 does.
std::string freezer_state_path(const std::string& container) {
  static const engine::CgroupLayout layout = [] {
    engine::DockerEngine docker(test::engine_options());
    return engine::cgroup_layout_of(docker);
  }();
  if (layout.version != engine::CgroupLayout::Version::V1) FAIL("the freezer drills read cgroup v1 files");
  return engine::cgroup_dir(layout, container, "") + "/freezer.state";
}

std::string freezer_state(const std::string& container) {
  std::ifstream in(freezer_state_path(container));
  std::string state;
  in >> state;
  return state;
}

void write_freezer_state(const std::string& container, const std::string& state) {
  std::ofstream(freezer_state_path(container)) << state;
}

test::Stack freezer_stack(int min_idle, int keep_running) {
  return test::Stack([&](Config& c) {
    c.pause_via = "freezer";
    c.max_instances = min_idle + 1;
    c.min_idle = min_idle;
    c.max_idle = min_idle + 1;
    c.keep_running = keep_running;
    c.scheduler_period_ms = 500;
  });
}

json allocate_healthy(test::Stack& stack) {
  auto r = stack.client().Post("/allocations", json{{"timeout_ms", 5000}}.dump(), "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 201);
  json a = json::parse(r->body);
  httplib::Client worker("http://" + a["endpoint"].get<std::string>());
  worker.set_connection_timeout(1, 0);
  worker.set_read_timeout(1, 0);
  auto ping = worker.Get("/ping");
  REQUIRE(ping);
  CHECK(ping->status == 200);
  return a;
}

void require_settled(test::Stack& stack, int idle) {
  const bool ok = stack.eventually([&] { return drill::settled(stack, idle); }, 30s);
  INFO(drill::describe(stack));
  REQUIRE(ok);
}

Instance first_paused(test::Stack& stack) {
  for (const auto& i : stack.store.instances(Show::Current))
    if (i.state == InstanceState::Paused) return i;
  FAIL("no paused instance");
  return {};
}

}  // namespace

TEST_CASE("freezer: a paused instance is frozen through its cgroup, and a hand-out thaws and serves it", "[drill][freezer]") {
  auto stack = freezer_stack(2, 0);
  require_settled(stack, 2);
  CHECK(stack.pool.pauser().status().freezer);
  auto health = json::parse(stack.client().Get("/health")->body);
  CHECK(health["pause"]["via"] == "freezer");
  for (const auto& i : stack.store.instances(Show::Current)) {
    REQUIRE(i.state == InstanceState::Paused);
    CHECK(freezer_state(i.container_id) == "FROZEN");
    CHECK(stack.engine().inspect(i.container_id).status == engine::ContainerStatus::Running);
  }
  const json a = allocate_healthy(stack);
  const std::string container = stack.store.instance(a["instance"].get<std::int64_t>())->container_id;
  CHECK(freezer_state(container) == "THAWED");
  REQUIRE(stack.client().Delete("/allocations/" + a["id"].get<std::string>())->status == 200);
  require_settled(stack, 2);
  CHECK(freezer_state(container) == "FROZEN");  // keep_running 0: frozen again after its reset
}

TEST_CASE("freezer drill: an allocated instance frozen by hand ends its allocation and is mended", "[drill][freezer]") {
  auto stack = freezer_stack(1, 1);
  require_settled(stack, 1);
  const json a = allocate_healthy(stack);
  const std::string url = "/allocations/" + a["id"].get<std::string>();
  const Instance victim = *stack.store.instance(a["instance"].get<std::int64_t>());
  const auto frozen = Steady::now();
  write_freezer_state(victim.container_id, "FROZEN");
  REQUIRE(time_until([&] { return !json::parse(stack.client().Get(url)->body)["deletedAt"].is_null(); }) >= 0);
  report("freezer", "allocated instance frozen by hand: allocation ended (period 500 ms)", drill::ms_since(frozen));
  CHECK_THAT(json::parse(stack.client().Get(url)->body)["endReason"].get<std::string>(),
             Catch::Contains("container is paused"));
  require_settled(stack, 1);
  report("freezer", "allocated instance frozen by hand: pool whole again", drill::ms_since(frozen));
  allocate_healthy(stack);
}

TEST_CASE("freezer drill: an idle instance thawed by hand is taken as running-idle, then frozen again", "[drill][freezer]") {
  auto stack = freezer_stack(1, 0);
  require_settled(stack, 1);
  const Instance victim = first_paused(stack);
  write_freezer_state(victim.container_id, "THAWED");
  const auto thawed = Steady::now();
  REQUIRE(time_until([&] { return freezer_state(victim.container_id) == "FROZEN"; }) >= 0);
  report("freezer", "idle instance thawed by hand: frozen again", drill::ms_since(thawed));
  require_settled(stack, 1);
  CHECK(stack.store.instance(victim.id)->restarts == 0);  // it was healthy all along
  allocate_healthy(stack);
}

TEST_CASE("freezer drill: a frozen instance killed by hand is never handed out, and is mended", "[drill][freezer]") {
  auto stack = freezer_stack(2, 0);
  require_settled(stack, 2);
  const auto victim_id = pick_idle(stack.store.instances(Show::Current), {});
  REQUIRE(victim_id);
  const Instance victim = *stack.store.instance(*victim_id);
  REQUIRE(freezer_state(victim.container_id) == "FROZEN");
  // SIGKILL to the worker itself: it stays pending while the cgroup is frozen.
  REQUIRE(::kill(drill::worker_pid(stack.engine(), victim.container_id), SIGKILL) == 0);
  // The next hand-out picks it, thaws it (it dies), fails it, serves another.
  const json a = allocate_healthy(stack);
  CHECK(a["instance"].get<std::int64_t>() != victim.id);
  REQUIRE(stack.client().Delete("/allocations/" + a["id"].get<std::string>())->status == 200);
  require_settled(stack, 2);
  const Instance after = *stack.store.instance(victim.id);
  CHECK((after.restarts > victim.restarts || after.state == InstanceState::Deleted));
}
