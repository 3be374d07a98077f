// Fault drills against the real engine: the whole manager in this process
// (test::Stack), a fault injected behind its back, then recovery asserted with
// no lost or doubled record. Each drill prints how long recovery took
// ("DRILL n: ... in X ms"); the assertions only bound it generously.
// Drill 7 (the manager killed) is in crash_drill_test.cpp.
#include <catch2/catch.hpp>

#include <set>

#include <SQLiteCpp/SQLiteCpp.h>

#include "drill_support.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using drill::report;
using drill::Steady;
using drill::time_until;
using nlohmann::json;

namespace {

json body_of(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

// A hand-out, and proof that what was handed out answers.
json allocate_healthy(test::Stack& stack, int timeout_ms = 5000) {
  auto client = stack.client();
  auto r = client.Post("/allocations", json{{"timeout_ms", timeout_ms}}.dump(), "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 201);
  json a = json::parse(r->body);
  httplib::Client worker("http://" + a["endpoint"].get<std::string>());
  worker.set_connection_timeout(1, 0);
  worker.set_read_timeout(1, 0);
  auto ping = worker.Get("/ping");
  CHECK(ping);
  if (ping) CHECK(ping->status == 200);
  return a;
}

void release(test::Stack& stack, const json& allocation) {
  auto r = stack.client().Delete("/allocations/" + allocation["id"].get<std::string>());
  REQUIRE(r);
  CHECK(r->status == 200);
}

Instance first_in(test::Stack& stack, InstanceState state) {
  for (const auto& i : stack.store.instances(Show::Current))
    if (i.state == state) return i;
  FAIL("no instance is " << to_string(state));
  return {};
}

void require_settled(test::Stack& stack, int idle) {
  const bool ok = stack.eventually([&] { return drill::settled(stack, idle); }, 30s);
  INFO(drill::describe(stack));
  REQUIRE(ok);
}

}  // namespace

TEST_CASE("drill 1: an idle paused instance killed behind the manager's back is never handed out, and is replaced at once",
          "[drill]") {
  test::Stack stack([](Config& c) {
    c.max_instances = 3;
    c.min_idle = 2;
    c.max_idle = 3;
    c.keep_running = 0;
    c.scheduler_period_ms = 2000;  // events, not the period, should find it
  });
  require_settled(stack, 2);
  // The one the next hand-out would take (paused: keep_running is 0).
  const auto victim_id = pick_idle(stack.store.instances(Show::Current), {});
  REQUIRE(victim_id);
  const Instance victim = *stack.store.instance(*victim_id);
  REQUIRE(victim.state == InstanceState::Paused);

  const auto killed = Steady::now();
  stack.engine().kill(victim.container_id);
  // Hand-outs right away are healthy (a dead one is never handed out).
  release(stack, allocate_healthy(stack));

  REQUIRE(time_until([&] { return stack.store.instance(victim.id)->restarts > victim.restarts; }) >= 0);
  const auto detected = drill::ms_since(killed);
  REQUIRE(time_until([&] {
            auto now = stack.store.instance(victim.id);
            return (is_idle(now->state) || now->state == InstanceState::Deleted) && drill::settled(stack, 2);
          }) >= 0);
  const auto recovered = drill::ms_since(killed);
  report("1", "paused instance killed: restart begun (period 2000 ms)", detected);
  report("1", "paused instance killed: pool whole again", recovered);
  CHECK(detected < 2000);  // the engine's event, not the next period
  release(stack, allocate_healthy(stack));
  require_settled(stack, 2);
}

TEST_CASE("drill 2: the container of an allocated instance is killed: the allocation ends with a reason, the instance is replaced",
          "[drill]") {
  test::Stack stack([](Config& c) {
    c.max_instances = 3;
    c.min_idle = 1;
    c.keep_running = 1;
    c.scheduler_period_ms = 2000;
  });
  require_settled(stack, 1);
  json a = allocate_healthy(stack);
  const std::string url = "/allocations/" + a["id"].get<std::string>();
  const Instance victim = *stack.store.instance(a["instance"].get<std::int64_t>());
  auto client = stack.client();

  const auto killed = Steady::now();
  stack.engine().kill(victim.container_id);
  REQUIRE(time_until([&] { return !body_of(client.Get(url))["deletedAt"].is_null(); }) >= 0);
  const auto ended = drill::ms_since(killed);
  const json after = body_of(client.Get(url));
  INFO(after.dump());
  CHECK(after["endReason"].get<std::string>().rfind("instance lost: container is exited", 0) == 0);
  const auto recovered = time_until([&] {
    auto now = stack.store.instance(victim.id);
    return (is_idle(now->state) || now->state == InstanceState::Deleted) && drill::settled(stack, 1);
  });
  INFO(drill::describe(stack));
  REQUIRE(recovered >= 0);
  report("2", "allocated instance killed: allocation ended (period 2000 ms)", ended);
  report("2", "allocated instance killed: instance back in the pool", drill::ms_since(killed));
  CHECK(ended < 2000);  // the engine's event, not the next period
  CHECK(stack.store.allocations(Show::Current).empty());
  // DELETE of the ended allocation stays idempotent.
  CHECK(client.Delete(url)->status == 200);
  release(stack, allocate_healthy(stack));
}

TEST_CASE("drill 3a: a ready instance paused behind the manager's back is found by the ping deadline and recovered",
          "[drill]") {
  test::Stack stack([](Config& c) {
    c.max_instances = 2;
    c.min_idle = 2;
    c.keep_running = 1;
    c.scheduler_period_ms = 1000;
  });
  require_settled(stack, 2);
  const Instance victim = first_in(stack, InstanceState::Ready);
  const auto paused = Steady::now();
  stack.engine().pause(victim.container_id);
  REQUIRE(time_until([&] { return stack.store.instance(victim.id)->restarts > victim.restarts; }) >= 0);
  const auto detected = drill::ms_since(paused);
  const auto recovered = time_until([&] { return drill::settled(stack, 2); });
  INFO(drill::describe(stack));
  REQUIRE(recovered >= 0);
  report("3a", "ready instance paused by someone else: restart begun (period 1000 ms, ping deadline 500 ms)",
         detected);
  report("3a", "ready instance paused by someone else: recovered", drill::ms_since(paused));
  CHECK(stack.store.instance(victim.id)->last_error.find("ping") != std::string::npos);
  release(stack, allocate_healthy(stack));
}

TEST_CASE("drill 3b: a worker that stops answering (SIGSTOP) is found by the ping deadline and recovered", "[drill]") {
  test::Stack stack([](Config& c) {
    c.max_instances = 2;
    c.min_idle = 2;
    c.keep_running = 1;
    c.scheduler_period_ms = 1000;
  });
  require_settled(stack, 2);
  const Instance victim = first_in(stack, InstanceState::Ready);
  const int pid = drill::worker_pid(stack.engine(), victim.container_id);
  REQUIRE(pid > 0);
  const auto stopped = Steady::now();
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  REQUIRE(time_until([&] { return stack.store.instance(victim.id)->restarts > victim.restarts; }) >= 0);
  const auto detected = drill::ms_since(stopped);
  const auto recovered = time_until([&] { return drill::settled(stack, 2); });
  INFO(drill::describe(stack));
  REQUIRE(recovered >= 0);
  report("3b", "worker stopped answering: restart begun (period 1000 ms, ping deadline 500 ms)", detected);
  report("3b", "worker stopped answering: recovered (stop grace 1 s)", drill::ms_since(stopped));
  CHECK(stack.store.instance(victim.id)->last_error.find("ping") != std::string::npos);
  release(stack, allocate_healthy(stack));
}

TEST_CASE("drill 4: a worker process that crashes is restarted, then replaced after max_restarts", "[drill]") {
  test::Stack stack([](Config& c) {
    c.max_instances = 1;  // so the victim is always the running one (a frozen process cannot crash)
    c.min_idle = 1;
    c.keep_running = 1;
    c.max_restarts = 2;
    c.scheduler_period_ms = 2000;
  });
  require_settled(stack, 1);
  const Instance victim = first_in(stack, InstanceState::Ready);
  for (int crash = 1; crash <= 3; ++crash) {
    auto now = *stack.store.instance(victim.id);
    const int pid = drill::worker_pid(stack.engine(), now.container_id);
    REQUIRE(pid > 0);
    REQUIRE(now.state == InstanceState::Ready);  // running: a frozen process cannot crash
    REQUIRE(::kill(pid, SIGKILL) == 0);         // the worker dies on its own: only the engine sees it
    const auto recovered = time_until([&] {
      auto i = stack.store.instance(victim.id);
      const bool done = crash < 3 ? i->restarts == crash && is_idle(i->state) : i->state == InstanceState::Deleted;
      return done && drill::settled(stack, 1);
    });
    report("4", "worker crash " + std::to_string(crash) + (crash < 3 ? ": restarted" : ": replaced"), recovered);
    if (recovered < 0) {
      INFO("killed pid " << pid << "; " << drill::describe(stack) << "; container now "
                         << json::parse(stack.engine().inspect_raw(now.container_id))["State"].dump());
      FAIL("not recovered");
    }
  }
  CHECK(first_in(stack, InstanceState::Ready).id != victim.id);
  CHECK(stack.store.instance(victim.id)->last_error.find("ping") != std::string::npos);
  release(stack, allocate_healthy(stack));
}

TEST_CASE("drill 5: the engine restarts under a running manager: it keeps answering, reconciles, refills the pool",
          "[drill]") {
  drill::SecondEngine second;
  test::Stack stack([&](Config& c) {
    c.engine = second.endpoint();
    c.max_instances = 3;
    c.min_idle = 2;
    c.keep_running = 1;
    c.scheduler_period_ms = 500;
  });
  require_settled(stack, 2);
  json held = allocate_healthy(stack);
  const std::string url = "/allocations/" + held["id"].get<std::string>();
  require_settled(stack, 2);
  auto client = stack.client();

  const auto down = Steady::now();
  second.stop();  // the engine stops every container on the way down
  REQUIRE(stack.eventually([&] { return client.Get("/health")->status == 503; }, 10s));
  CHECK(body_of(client.Get("/health"))["status"] == "degraded");
  CHECK(client.Get(url)->status == 200);  // the manager keeps answering
  // A hand-out while the engine is down is health-gated: 503 naming the
  // engine, or, when an instance the engine started during its shutdown
  // still runs, 201 for an instance whose worker answers now. Anything else
  // (a 500, a 201 for a dead worker, a 503 for another reason) is wrong.
  const auto refused_at = Steady::now();
  auto refused = client.Post("/allocations", R"({"timeout_ms":3000})", "application/json");
  const auto refused_ms = drill::ms_since(refused_at);
  REQUIRE(refused);
  INFO(refused->body);
  if (refused->status == 201) {
    const json served = json::parse(refused->body);
    const std::string endpoint = served["endpoint"];
    httplib::Client worker(endpoint.substr(0, endpoint.rfind(':')), std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
    worker.set_read_timeout(2, 0);
    auto ping = worker.Get("/ping");
    CHECK((ping && ping->status == 200));
    client.Delete("/allocations/" + served["id"].get<std::string>());
  } else {
    CHECK(refused->status == 503);
    CHECK(json::parse(refused->body)["detail"].get<std::string>().find("engine") != std::string::npos);
  }
  CHECK(refused_ms < 3500);

  second.start();
  const auto down_ms = drill::ms_since(down);
  const auto back = Steady::now();
  const auto served = time_until([&] {
    auto r = client.Post("/allocations", R"({"timeout_ms":1000})", "application/json");
    if (!r || r->status != 201) return false;
    client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
    return true;
  });
  // Not drill::settled(): a container whose start the engine failed during
  // its own shutdown may be left unremovable by the engine (its remove hangs);
  // that record stays `deleting`, retried, while the pool refills around it.
  const auto refilled = time_until([&] {
    return stack.count_idle() >= 2 && drill::inconsistencies(stack).empty();
  });
  INFO(drill::describe(stack));
  report("5", "engine down " + std::to_string(down_ms) + " ms; a hand-out while down answered " +
                  std::to_string(refused->status),
         refused_ms);
  report("5", "engine back: first hand-out served", served);
  report("5", "engine back: pool refilled and reconciled", drill::ms_since(back));
  REQUIRE(served >= 0);
  REQUIRE(refilled >= 0);
  // The held allocation's instance died with the engine: it ended, with a reason.
  const json ended = body_of(client.Get(url));
  INFO(ended.dump());
  CHECK_FALSE(ended["deletedAt"].is_null());
  CHECK(ended["endReason"].get<std::string>().rfind("instance lost", 0) == 0);
  CHECK(body_of(client.Get("/health"))["status"] == "ok");
  release(stack, allocate_healthy(stack));
}

TEST_CASE("drill 6: the engine unreachable: hand-outs get a clear 503 within their deadline, /health is degraded, all recovers",
          "[drill]") {
  const std::string shared = test::engine_options().endpoint;
  REQUIRE(shared.rfind("unix://", 0) == 0);
  drill::UnixProxy proxy(drill::short_dir("wp-px") + ".sock", shared.substr(7));
  test::Stack stack([&](Config& c) {
    c.engine = proxy.endpoint();
    c.max_instances = 3;
    c.min_idle = 2;
    c.keep_running = 0;  // every idle instance is paused: a hand-out needs the engine
    c.scheduler_period_ms = 500;
  });
  require_settled(stack, 2);
  json held = allocate_healthy(stack);
  const std::string url = "/allocations/" + held["id"].get<std::string>();
  require_settled(stack, 2);
  auto client = stack.client();

  proxy.close();
  for (int attempt = 0; attempt < 2; ++attempt) {  // before and after the scheduler noticed
    const auto started = Steady::now();
    auto r = client.Post("/allocations", R"({"timeout_ms":3000})", "application/json");
    const auto took = drill::ms_since(started);
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 503);
    CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    CHECK(r->has_header("Retry-After"));
    CHECK(json::parse(r->body)["detail"].get<std::string>().find("engine is unreachable") != std::string::npos);
    CHECK(took < 3000);
    report("6", "engine unreachable: 503 answer " + std::to_string(attempt + 1) + " (deadline 3000 ms)", took);
    std::this_thread::sleep_for(600ms);
  }
  auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  CHECK(json::parse(health->body)["status"] == "degraded");
  CHECK(json::parse(health->body)["engine"]["reachable"] == false);
  CHECK(body_of(client.Get(url))["deletedAt"].is_null());  // the held allocation is untouched

  proxy.open();
  const auto served = time_until([&] {
    auto r = client.Post("/allocations", R"({"timeout_ms":1000})", "application/json");
    if (!r || r->status != 201) return false;
    client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
    return true;
  });
  const auto healthy = time_until([&] { return client.Get("/health")->status == 200; });
  report("6", "engine reachable again: first hand-out served", served);
  REQUIRE(served >= 0);
  REQUIRE(healthy >= 0);
  require_settled(stack, 2);
  CHECK(body_of(client.Get(url))["deletedAt"].is_null());
  // No instance was failed for the engine's absence.
  for (const auto& i : stack.store.instances(Show::All)) CHECK(i.restarts == 0);
  release(stack, held);
}

TEST_CASE("drill 6b: an engine that hangs: hand-outs get a 503 by their deadline, no instance is failed for it",
          "[drill]") {
  const std::string shared = test::engine_options().endpoint;
  REQUIRE(shared.rfind("unix://", 0) == 0);
  drill::UnixProxy proxy(drill::short_dir("wp-px") + ".sock", shared.substr(7));
  test::Stack stack([&](Config& c) {
    c.engine = proxy.endpoint();
    c.engine_timeout_ms = 2000;
    c.max_instances = 3;
    c.min_idle = 2;
    c.keep_running = 0;
    c.scheduler_period_ms = 500;
  });
  require_settled(stack, 2);
  auto client = stack.client();
  std::set<std::int64_t> before;  // the pool the hang found
  for (const auto& i : stack.store.instances(Show::Current)) before.insert(i.id);

  proxy.hang(true);
  const auto hung = Steady::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto started = Steady::now();
    auto r = client.Post("/allocations", R"({"timeout_ms":1000})", "application/json");
    const auto took = drill::ms_since(started);
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 503);
    CHECK(r->has_header("Retry-After"));
    CHECK(took < 1800);
    report("6b", "engine hangs: 503 answer " + std::to_string(attempt + 1) + " (deadline 1000 ms)", took);
    // The second, once the manager knows the engine hangs, is at once.
    REQUIRE(stack.eventually([&] { return stack.pool.engine_down().has_value(); }, 10s));
  }
  CHECK(client.Get("/health")->status == 503);
  const auto hung_ms = drill::ms_since(hung);

  proxy.hang(false);
  const auto served = time_until([&] {
    auto r = client.Post("/allocations", R"({"timeout_ms":1000})", "application/json");
    if (!r || r->status != 201) return false;
    client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
    return true;
  });
  report("6b", "engine answers again after " + std::to_string(hung_ms) + " ms: first hand-out served", served);
  REQUIRE(served >= 0);
  require_settled(stack, 2);
  // No instance was failed for the hang: neither the pool it found nor one
  // a refill could have begun against the hung engine.
  for (const auto& i : stack.store.instances(Show::All)) {
    INFO("instance " << i.id << (before.count(i.id) ? " (before the hang)" : " (created after)"));
    CHECK(i.restarts == 0);
    CHECK(i.failures == 0);
  }
}

TEST_CASE("drill 8: the database cannot be written: clear 503s, nothing corrupted, serves again once writable",
          "[drill]") {
  drill::SmallDisk disk;
  test::Stack stack([&](Config& c) {
    c.data_dir = disk.dir() + "/data";
    c.max_instances = 3;
    c.min_idle = 1;
    c.keep_running = 0;
    c.scheduler_period_ms = 500;
  });
  require_settled(stack, 1);
  json held = allocate_healthy(stack);
  const std::string url = "/allocations/" + held["id"].get<std::string>();
  require_settled(stack, 1);
  auto client = stack.client();

  disk.fill();
  auto refused = client.Post("/allocations", R"({"timeout_ms":3000})", "application/json");
  REQUIRE(refused);
  INFO(refused->body);
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Content-Type") == "application/problem+json");
  CHECK(json::parse(refused->body)["detail"].get<std::string>().find("database") != std::string::npos);
  auto not_released = client.Delete(url);
  REQUIRE(not_released);
  CHECK(not_released->status == 503);
  CHECK(json::parse(not_released->body)["detail"].get<std::string>().find("database") != std::string::npos);
  CHECK(client.Get("/allocations")->status == 200);  // reads still work
  std::this_thread::sleep_for(1500ms);               // a few failing ticks
  std::cout << "DRILL 8: /health while the disk is full: " << client.Get("/health")->body << std::endl;

  disk.free();
  const auto served = time_until([&] {
    auto r = client.Post("/allocations", R"({"timeout_ms":1000})", "application/json");
    if (!r || r->status != 201) return false;
    client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
    return true;
  });
  report("8", "database writable again: first hand-out served", served);
  REQUIRE(served >= 0);
  CHECK(body_of(client.Get(url))["deletedAt"].is_null());  // the refused DELETE changed nothing
  release(stack, held);
  require_settled(stack, 1);
  // The hand-out the database refused left its instance as the record says:
  // nothing had to be restarted.
  for (const auto& i : stack.store.instances(Show::All)) CHECK(i.restarts == 0);
  SQLite::Database db(stack.config.database_path(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA integrity_check").getString() == "ok");
}
