// Engines through the admin API (EngineAdmin) over fake engines: a and b
// come from the flags, c is added as a record; bad input is refused with
// its reason, and removal waits for the engine's allocations.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "pools/engine_admin.hpp"
#include "scheduler/three_engines.hpp"

using namespace warmpool;
using test::Engines;

namespace {

struct Admin {
  explicit Admin(int min_idle) : e(min_idle, 24, 24, "c") {}
  Engines e;
  int connected = 0;
  EngineAdmin admin{e.set, e.store, *e.pool, e.clock,
                    [this](const engine::EngineSpec&) -> engine::Engine& { return ++connected, e.c; },
                    {.flag_engines = {"a", "b"}, .no_more_engines = ""}};
};

engine::EngineSpec spec_c(const std::string& endpoint = "unix:///run/c.sock") {
  return {"c", endpoint, 8, 2, {}};
}

int refusal(const std::function<void()>& call, const std::string& reason) {
  try {
    call();
  } catch (const EngineRefused& e) {
    INFO(e.what());
    CHECK_THAT(e.what(), Catch::Contains(reason));
    return e.status();
  }
  FAIL("expected a refusal containing " << reason);
  return 0;
}

}  // namespace

TEST_CASE("an engine added through the admin is checked, answers, is recorded and takes instances") {
  Admin t(0);
  CHECK(refusal([&] { t.admin.add({"no good", "unix:///s", 0, 1, {}}); }, "\"name\"") == 400);
  CHECK(refusal([&] { t.admin.add(spec_c("ssh://h")); }, "expected unix:///path/to/socket or tcp://host:port") == 400);
  CHECK(refusal([&] { t.admin.add({"a", "unix:///s", 0, 1, {}}); }, "an engine named \"a\" exists") == 409);
  CHECK(refusal([&] { t.admin.add({"c", "tcp://127.0.0.1:21376", 0, 1, {"/nonexistent/ca.pem", "", ""}}); },
                "cannot read TLS CA file /nonexistent/ca.pem: No such file or directory") == 400);
  CHECK(t.connected == 0);  // none of these reached for an engine
  t.e.c.set_reachable(false);
  CHECK(refusal([&] { t.admin.add(spec_c()); }, "engine c does not answer") == 400);
  CHECK(t.e.store.engines().empty());
  CHECK(t.e.set.size() == 2);

  t.e.c.set_reachable(true);
  const auto added = t.admin.add(spec_c());
  CHECK(added.name == "c");
  CHECK(added.state == engine::EngineState::Up);
  CHECK(added.capacity == 8);
  REQUIRE(t.e.store.engines().size() == 1);
  CHECK(t.e.store.engines()[0].endpoint == "unix:///run/c.sock");
  CHECK(t.e.store.engines()[0].weight == 2);
  CHECK(refusal([&] { t.admin.add(spec_c()); }, "exists") == 409);
  // Spread by weight: c (weight 2) takes half of eight.
  for (int i = 0; i < 8; ++i) t.e.set.create(engine::ContainerSpec{});
  CHECK(t.e.c.list({}).size() == 4);
}

TEST_CASE("no engine can be added while the freezer of the one engine pauses") {
  Engines e(0, 24, 24, "c");
  EngineAdmin admin(e.set, e.store, *e.pool, e.clock, [&](const engine::EngineSpec&) -> engine::Engine& { return e.c; },
                    {.flag_engines = {"a", "b"}, .no_more_engines = "start it with --pause-via engine"});
  CHECK(refusal([&] { admin.add(spec_c()); }, "--pause-via engine") == 409);
}

TEST_CASE("removing an engine: refused while it holds allocations, unless drained; then it leaves once they end") {
  Admin t(0);
  t.admin.add(spec_c());
  CHECK(refusal([&] { t.admin.remove("a"); }, "configured by --engine") == 409);
  CHECK(refusal([&] { t.admin.remove("nope"); }, "no engine named \"nope\"") == 404);
  // c gets instances: a and b drained for the moment.
  t.admin.drain("a");
  t.admin.drain("b");
  Engines& e = t.e;
  e.pool->add_instance();
  e.pool->add_instance();
  e.settle(2);
  CHECK(e.by_engine() == std::map<std::string, int>{{"c", 2}});
  t.admin.resume("a");
  t.admin.resume("b");
  const Allocation held = e.allocate();
  CHECK(e.engine_of(held) == "c");

  CHECK(refusal([&] { t.admin.remove("c"); }, "holds 1 allocated instances: drain it first") == 409);
  t.admin.drain("c");
  CHECK_FALSE(t.admin.remove("c"));  // leaving: its idle instance went, the allocated one stays
  CHECK(refusal([&] { t.admin.resume("c"); }, "being removed") == 409);
  REQUIRE(test::eventually([&] { return e.by_engine() == std::map<std::string, int>{{"c", 1}}; }));
  CHECK(t.admin.status("c").state == engine::EngineState::Draining);
  CHECK(t.e.store.engines().size() == 1);

  e.pool->release(held.id);  // back idle on c: the next settle removes it, then the engine
  REQUIRE(test::eventually([&] {
    t.admin.settle();
    return e.set.size() == 2;
  }));
  CHECK(t.e.store.engines().empty());
  CHECK(e.by_engine().count("c") == 0);
  CHECK(refusal([&] { t.admin.status("c"); }, "no engine named") == 404);
}

TEST_CASE("an idle engine added through the admin is removed at once") {
  Admin t(0);
  t.admin.add(spec_c());
  CHECK(t.admin.remove("c"));
  CHECK(t.e.set.size() == 2);
  CHECK(t.e.store.engines().empty());
}

TEST_CASE("an instance allocated on a draining engine is removed once it comes back idle") {
  Engines e(0);
  EngineAdmin admin(e.set, e.store, *e.pool, e.clock, [&](const engine::EngineSpec&) -> engine::Engine& { return e.c; },
                    {.flag_engines = {"a", "b", "c"}, .no_more_engines = ""});
  for (int i = 0; i < 3; ++i) e.pool->add_instance();
  e.settle(3);
  const std::string on_b = e.allocate_on("b");
  REQUIRE_FALSE(on_b.empty());
  admin.drain("b");
  e.pool->release(on_b);
  REQUIRE(test::eventually([&] {
    admin.settle();
    return e.by_engine().count("b") == 0;
  }));
}
