// Several engines: the placement decision and --engine parsing on plain
// data, and EngineSet routing calls over fake engines.
#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <thread>

#include "engine/engine_set.hpp"
#include "engine/placement.hpp"
#include "support/fake_engine.hpp"

using namespace warmpool::engine;
using warmpool::test::FakeEngine;

namespace {

std::vector<PlacementCandidate> three(int a, int b, int c, int capacity = 0) {
  return {{"a", EngineState::Up, 1, capacity, a}, {"b", EngineState::Up, 1, capacity, b},
          {"c", EngineState::Up, 1, capacity, c}};
}

// Places n containers one by one, counting them as placed.
std::map<std::string, int> place_n(std::vector<PlacementCandidate> engines, Placement p, int n) {
  std::map<std::string, int> placed;
  for (int i = 0; i < n; ++i) {
    auto name = place(engines, p);
    if (!name) break;
    ++placed[*name];
    for (auto& e : engines)
      if (e.name == *name) ++e.instances;
  }
  return placed;
}

ContainerSpec spec() {
  ContainerSpec s;
  s.image = "warmpool/pi-worker:latest";
  s.labels = {{kManagerLabel, "test"}};
  return s;
}

}  // namespace

TEST_CASE("spread places 24 instances 8/8/8 on three equal engines") {
  const auto placed = place_n(three(0, 0, 0), Placement::Spread, 24);
  CHECK(placed == std::map<std::string, int>{{"a", 8}, {"b", 8}, {"c", 8}});
}

TEST_CASE("pack fills the first engine to its capacity before the next") {
  CHECK(place_n(three(0, 0, 0, 24), Placement::Pack, 24) == std::map<std::string, int>{{"a", 24}});
  CHECK(place_n(three(0, 0, 0, 10), Placement::Pack, 24) == std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 4}});
}

TEST_CASE("spread goes to the least loaded engine for its weight") {
  std::vector<PlacementCandidate> engines = {{"small", EngineState::Up, 1, 0, 0}, {"big", EngineState::Up, 2, 0, 0}};
  CHECK(place_n(engines, Placement::Spread, 9) == std::map<std::string, int>{{"big", 6}, {"small", 3}});
  CHECK(place(three(3, 1, 2), Placement::Spread) == "b");
  CHECK(place(three(1, 1, 1), Placement::Spread) == "a");  // ties: the order given
}

TEST_CASE("placement skips engines that are down, draining or full, and may find none") {
  auto engines = three(0, 0, 0, 2);
  engines[0].state = EngineState::Down;
  engines[1].state = EngineState::Draining;
  CHECK(place(engines, Placement::Spread) == "c");
  CHECK(place(engines, Placement::Pack) == "c");
  engines[2].instances = 2;
  CHECK_FALSE(place(engines, Placement::Spread));
  CHECK_FALSE(place(engines, Placement::Pack));
  CHECK_FALSE(place({}, Placement::Spread));
}

TEST_CASE("an --engine value is NAME=ENDPOINT with options, or a bare endpoint for `default`") {
  auto bare = parse_engine_spec("unix:///run/docker.sock");
  CHECK(bare.name == "default");
  CHECK(bare.endpoint == "unix:///run/docker.sock");
  CHECK(bare.capacity == 0);
  CHECK(bare.weight == 1);
  auto named = parse_engine_spec("b=tcp://127.0.0.1:11376,capacity=12,weight=2.5");
  CHECK(named.name == "b");
  CHECK(named.endpoint == "tcp://127.0.0.1:11376");
  CHECK(named.capacity == 12);
  CHECK(named.weight == 2.5);
  CHECK(parse_engine_spec("x=unix:///s,weight=1").capacity == 0);
}

TEST_CASE("an --engine value may name its TLS files: cert-dir= in Docker's layout, each file on its own winning") {
  const auto dir = parse_engine_spec("b=tcp://127.0.0.1:11376,cert-dir=/certs/b/");
  CHECK(dir.tls.ca == "/certs/b/ca.pem");
  CHECK(dir.tls.cert == "/certs/b/cert.pem");
  CHECK(dir.tls.key == "/certs/b/key.pem");
  const auto mixed = parse_engine_spec("b=tcp://127.0.0.1:11376,key=/k.pem,cert-dir=/certs/b,capacity=3");
  CHECK(mixed.tls.ca == "/certs/b/ca.pem");
  CHECK(mixed.tls.key == "/k.pem");  // whatever the order
  CHECK(mixed.capacity == 3);
  const auto files = parse_engine_spec("b=tcp://h:1,ca=/ca.pem,cert=/c.pem,key=/k.pem");
  CHECK(files.tls.ca == "/ca.pem");
  CHECK(files.tls.cert == "/c.pem");
  CHECK(files.tls.key == "/k.pem");
  CHECK(parse_engine_spec("a=unix:///s").tls.empty());
  CHECK_THROWS_WITH(parse_engine_spec("b=tcp://h:1,cert-dir="), Catch::Contains("cert-dir= needs a path"));
  CHECK_THROWS_WITH(parse_engine_spec("b=tcp://h:1,ca"), Catch::Contains("ca= needs a path"));
}

TEST_CASE("a bad --engine value is refused with what is wrong") {
  CHECK_THROWS_WITH(parse_engine_spec("b="), Catch::Contains("the endpoint is missing"));
  CHECK_THROWS_WITH(parse_engine_spec("=unix:///s"), Catch::Contains("name"));
  CHECK_THROWS_WITH(parse_engine_spec("a b=unix:///s"), Catch::Contains("name"));
  CHECK_THROWS_WITH(parse_engine_spec("b=unix:///s,capacity=-1"), Catch::Contains("capacity must be"));
  CHECK_THROWS_WITH(parse_engine_spec("b=unix:///s,capacity=x"), Catch::Contains("capacity must be"));
  CHECK_THROWS_WITH(parse_engine_spec("b=unix:///s,weight=0"), Catch::Contains("weight must be"));
  CHECK_THROWS_WITH(parse_engine_spec("b=unix:///s,colour=red"), Catch::Contains("unknown option \"colour\""));
  CHECK_THROWS_WITH(check_engine_names({parse_engine_spec("a=unix:///x"), parse_engine_spec("a=unix:///y")}),
                    Catch::Contains("two engines are named \"a\""));
  CHECK_THROWS_WITH(check_engine_names({parse_engine_spec("unix:///x"), parse_engine_spec("default=unix:///y")}),
                    Catch::Contains("\"default\""));
}

struct ThreeEngines {
  ThreeEngines(Placement p = Placement::Spread) : set(p) {
    set.add({"a", &a, "unix:///a", 0, 1});
    set.add({"b", &b, "unix:///b", 0, 1});
    set.add({"c", &c, "unix:///c", 0, 1});
  }
  FakeEngine a{"a"}, b{"b"}, c{"c"};
  EngineSet set;
};

TEST_CASE("EngineSet spreads creates and routes each container's calls to its engine") {
  ThreeEngines e;
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(e.set.create(spec()));
  CHECK(e.a.list({}).size() == 2);
  CHECK(e.b.list({}).size() == 2);
  CHECK(e.c.list({}).size() == 2);
  for (const auto& id : ids) {
    e.set.start(id);
    CHECK(e.set.inspect(id).status == ContainerStatus::Running);
    CHECK(e.set.engine_of(id) == id.substr(0, 1));
    CHECK(e.set.inspect(id).labels.at("warmpool.engine") == id.substr(0, 1));
  }
  e.set.remove(ids[0]);
  CHECK(e.a.list({}).size() == 1);
  CHECK(e.set.list({{kManagerLabel, "test"}}).size() == 5);
}

TEST_CASE("EngineSet finds a container it did not create on the engine that has it") {
  ThreeEngines e;
  const std::string stray = e.b.add_stray({{kManagerLabel, "test"}});
  CHECK(e.set.inspect(stray).status == ContainerStatus::Running);
  CHECK(e.set.engine_of(stray) == "b");
  CHECK_THROWS_AS(e.set.inspect("nowhere"), EngineError);
  try {
    e.set.inspect("nowhere");
  } catch (const EngineError& err) {
    CHECK(err.kind() == EngineError::Kind::NotFound);
  }
}

TEST_CASE("an engine that stops answering is down; creates and listings go on without it") {
  ThreeEngines e;
  const std::string on_a = e.set.create(spec());
  e.b.set_reachable(false);
  try {
    e.set.start(e.set.create(spec()));  // b is next under spread: found down, c takes it
  } catch (...) {
    FAIL("a create should go to an engine that answers");
  }
  CHECK_FALSE(e.set.engine_up("b"));
  CHECK(e.set.engine_up("a"));
  CHECK(e.c.list({}).size() == 1);
  CHECK(e.set.list({}).size() == 2);  // a's and c's
  CHECK_NOTHROW(e.set.version());
  e.b.set_reachable(true);
  e.set.version();
  CHECK(e.set.engine_up("b"));
  CHECK(e.set.engine_of(on_a) == "a");
}

TEST_CASE("a call on a down engine's container names the container; all down fails as unreachable") {
  ThreeEngines e;
  std::string on_a = e.set.create(spec());
  e.a.set_reachable(false);
  try {
    e.set.start(on_a);
    FAIL("expected an error");
  } catch (const EngineError& err) {
    CHECK(err.kind() == EngineError::Kind::Unreachable);
    CHECK(err.container_id() == on_a);
  }
  CHECK_FALSE(e.set.engine_up("a"));
  e.b.set_reachable(false);
  e.c.set_reachable(false);
  try {
    e.set.version();
    FAIL("expected an error");
  } catch (const EngineError& err) {
    CHECK(err.kind() == EngineError::Kind::Unreachable);
    CHECK_THAT(err.what(), Catch::Contains("a: ") && Catch::Contains("c: "));
  }
  try {
    e.set.create(spec());
    FAIL("expected an error");
  } catch (const EngineError& err) {
    CHECK(err.kind() == EngineError::Kind::Unreachable);
  }
}

TEST_CASE("pack and capacity through the set; a draining engine takes nothing new") {
  FakeEngine a{"a"}, b{"b"};
  EngineSet set(Placement::Pack);
  set.add({"a", &a, "", 2, 1});
  set.add({"b", &b, "", 0, 1});
  for (int i = 0; i < 3; ++i) set.create(spec());
  CHECK(a.list({}).size() == 2);
  CHECK(b.list({}).size() == 1);
  CHECK(set.drain("b"));
  CHECK_FALSE(set.drain("nope"));
  try {
    set.create(spec());
    FAIL("expected an error");
  } catch (const EngineError& err) {
    CHECK(err.kind() == EngineError::Kind::Server);
    CHECK_THAT(err.what(), Catch::Contains("full"));
  }
  const auto status = set.status();
  REQUIRE(status.size() == 2);
  CHECK(status[0].containers == 2);
  CHECK(status[1].state == EngineState::Draining);
  CHECK(set.engine_up("b"));  // its containers still work
}

TEST_CASE("a set of one engine passes calls and errors straight through") {
  FakeEngine only;
  EngineSet set;
  set.add({"default", &only, "", 0, 1});
  only.set_reachable(false);
  CHECK_THROWS_AS(set.create(spec()), EngineError);
  CHECK(set.engine_up("default"));  // the pool tracks one engine's reachability, as before
  only.set_reachable(true);
  const std::string id = set.create(spec());
  CHECK(set.engine_of(id) == "default");
  CHECK(id.rfind("c", 0) == 0);
  CHECK(only.inspect(id).labels.count("warmpool.engine") == 0);
}

TEST_CASE("a set of one engine counts the containers it made, as GET /engines shows them") {
  FakeEngine only;
  EngineSet set;
  set.add({"default", &only, "", 0, 1});
  auto count = [&] { return set.status().front().containers; };
  const std::string a = set.create(spec());
  const std::string b = set.create(spec());
  CHECK(count() == 2);
  set.remove(a);
  CHECK(count() == 1);
  // One made before the manager started is counted once listed (reconcile).
  only.create(spec());
  set.list({});
  CHECK(count() == 2);
  only.remove(b);  // gone behind the manager's back: forgotten when a call finds it missing
  CHECK_THROWS_AS(set.inspect(b), EngineError);
  CHECK(count() == 1);
}

TEST_CASE("a duplicate engine name is refused when added") {
  FakeEngine a, b;
  EngineSet set;
  set.add({"x", &a, "", 0, 1});
  CHECK_THROWS_WITH(set.add({"x", &b, "", 0, 1}), Catch::Contains("two engines are named \"x\""));
}

TEST_CASE("creates running at once still spread: a create under way counts for its engine") {
  ThreeEngines e;
  for (auto* f : {&e.a, &e.b, &e.c}) f->delay("create", std::chrono::milliseconds(50));
  std::vector<std::thread> creates;
  for (int i = 0; i < 6; ++i) creates.emplace_back([&] { e.set.create(spec()); });
  for (auto& t : creates) t.join();
  CHECK(e.a.list({}).size() == 2);
  CHECK(e.b.list({}).size() == 2);
  CHECK(e.c.list({}).size() == 2);
}

TEST_CASE("a set of one engine, drained, takes no new container") {
  FakeEngine only;
  EngineSet set;
  set.add({"default", &only, "", 0, 1});
  const std::string before = set.create(spec());
  set.drain("default");
  CHECK_THROWS_WITH(set.create(spec()), Catch::Contains("draining"));
  CHECK_NOTHROW(set.inspect(before));
}

TEST_CASE("a drained engine takes new containers again once resumed, and stays draining through being down") {
  FakeEngine a{"a"}, b{"b"};
  EngineSet set(Placement::Pack);
  set.add({"a", &a, "", 0, 1});
  set.add({"b", &b, "", 0, 1});
  CHECK(set.drain("a"));
  set.create(spec());
  CHECK(b.list({}).size() == 1);  // a drained: pack goes past it
  a.set_reachable(false);
  set.version();
  CHECK(set.status()[0].state == EngineState::Down);
  a.set_reachable(true);
  set.version();
  CHECK(set.status()[0].state == EngineState::Draining);  // back, still drained
  set.create(spec());
  CHECK(a.list({}).empty());
  CHECK(set.resume("a"));
  CHECK_FALSE(set.resume("nope"));
  CHECK(set.status()[0].state == EngineState::Up);
  set.create(spec());
  CHECK(a.list({}).size() == 1);
}

TEST_CASE("an engine added while the set watches is watched too; a removed one takes nothing new") {
  FakeEngine a{"a"}, b{"b"};
  EngineSet set;
  set.add({"a", &a, "", 0, 1});
  std::mutex mu;
  std::set<std::string> seen;
  std::jthread watch([&](std::stop_token stop) {
    set.watch_events({}, [&](const Event& e) { std::lock_guard lock(mu); seen.insert(e.container_id); }, stop);
  });
  set.add({"b", &b, "", 0, 1});
  bool from_b = false;
  for (int i = 0; i < 400 && !from_b; ++i) {  // the watch looks for new engines once a second
    b.emit({"die", "on-b", {}, 0});
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::lock_guard lock(mu);
    from_b = seen.count("on-b") > 0;
  }
  CHECK(from_b);

  set.create(spec());
  set.create(spec());  // spread: one on each
  CHECK(set.remove_engine("b"));
  CHECK_FALSE(set.remove_engine("b"));
  REQUIRE(set.status().size() == 1);
  for (int i = 0; i < 3; ++i) set.create(spec());
  CHECK(b.list({}).size() == 1);  // nothing new went to b
  CHECK(a.list({}).size() == 4);
  watch.request_stop();
}
