// Images that do not speak the worker protocol: the hand-out's steps as a
// table, and a pool on the fake engine that checks them by http or tcp and
// resets them by restart or recreate.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "pool/image_protocol.hpp"
#include "support/pool_fixture.hpp"

using namespace warmpool;
using test::eventually;
using S = InstanceState;
using Step = HandOutStep;

TEST_CASE("image protocol: names read back; a worker reset needs a worker; an http path starts with /") {
  for (auto h : {HealthCheck::Worker, HealthCheck::Http, HealthCheck::Tcp})
    CHECK(health_check_from(to_string(h)) == h);
  for (auto r : {ResetMethod::Worker, ResetMethod::Restart, ResetMethod::Recreate})
    CHECK(reset_method_from(to_string(r)) == r);
  CHECK_FALSE(health_check_from("ping"));
  CHECK_FALSE(reset_method_from("Restart"));

  CHECK_FALSE(protocol_refusal({}));
  CHECK_FALSE(protocol_refusal({HealthCheck::Worker, "/", ResetMethod::Recreate}));
  CHECK_FALSE(protocol_refusal({HealthCheck::Http, "/healthz", ResetMethod::Restart}));
  CHECK(protocol_refusal({HealthCheck::Http, "/", ResetMethod::Worker}));
  CHECK(protocol_refusal({HealthCheck::Tcp, "/", ResetMethod::Worker}));
  CHECK(protocol_refusal({HealthCheck::Http, "healthz", ResetMethod::Restart}));
  CHECK(protocol_refusal({HealthCheck::Http, "/a b", ResetMethod::Restart}));
  CHECK_FALSE(protocol_refusal({HealthCheck::Tcp, "", ResetMethod::Restart}));  // tcp has no path
}

TEST_CASE("image protocol: the steps of a hand-out, by protocol and the instance's idle state") {
  struct Row {
    ImageProtocol protocol;
    InstanceState was;
    std::vector<Step> steps;
  };
  const ImageProtocol worker{};
  const ImageProtocol http_restart{HealthCheck::Http, "/", ResetMethod::Restart};
  const ImageProtocol tcp_recreate{HealthCheck::Tcp, "/", ResetMethod::Recreate};
  const ImageProtocol worker_restart{HealthCheck::Worker, "/", ResetMethod::Restart};
  const std::vector<Row> table = {
      {worker, S::Ready, {Step::WorkerReset, Step::WorkerInit, Step::HealthCheck}},
      {worker, S::Paused, {Step::Unpause, Step::WorkerReset, Step::WorkerInit, Step::HealthCheck}},
      {http_restart, S::Ready, {Step::HealthCheck}},
      {http_restart, S::Paused, {Step::Unpause, Step::HealthCheck}},
      {tcp_recreate, S::Ready, {Step::HealthCheck}},
      {tcp_recreate, S::Paused, {Step::Unpause, Step::HealthCheck}},
      // A worker reset by restart still takes its session.
      {worker_restart, S::Ready, {Step::WorkerInit, Step::HealthCheck}},
  };
  for (const auto& row : table) {
    INFO(to_string(row.protocol.health) << "/" << to_string(row.protocol.reset) << " from " << to_string(row.was));
    CHECK(hand_out_steps(row.protocol, row.was) == row.steps);
  }
}

TEST_CASE("image protocol: a worker's reset runs beside hand-outs; a restart or recreate on the normal lane") {
  CHECK(reset_lane({}) == Lane::High);
  CHECK(reset_lane({HealthCheck::Worker, "/", ResetMethod::Restart}) == Lane::Normal);
  CHECK(reset_lane({HealthCheck::Http, "/", ResetMethod::Recreate}) == Lane::Normal);
}

namespace {

PoolPolicy small_policy() {
  PoolPolicy p;
  p.max_instances = 4;
  p.min_idle = 0;
  p.keep_running = 0;
  p.pause_grace_ms = 0;
  return p;
}

struct Fixture : test::PoolFixture {
  explicit Fixture(ImageProtocol protocol)
      : PoolFixture({.policy = small_policy(), .protocol = std::move(protocol)}) {}
  engine::ContainerSpec spec_of(std::int64_t instance) { return engine.containers().at(container_of(instance)).spec; }
  bool settled() { return pool->claimed().empty(); }
};

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

}  // namespace

TEST_CASE("pool: an http image gets its address in HOST and PORT, its own command, and no control secret") {
  Fixture f({HealthCheck::Http, "/healthz", ResetMethod::Restart});
  f.warm(1);
  const Instance i = f.store.instances(Show::Current).front();
  const auto spec = f.spec_of(i.id);
  CHECK(spec.cmd.empty());
  CHECK(has(spec.env, "HOST=127.0.0.1"));
  CHECK(has(spec.env, "PORT=" + std::to_string(i.port)));
  CHECK(std::none_of(spec.env.begin(), spec.env.end(),
                     [](const std::string& e) { return e.rfind("WARMPOOL_CONTROL_SECRET=", 0) == 0; }));
  CHECK(f.worker.http_probes() >= 1);  // readiness
  CHECK(f.worker.pings() == 0);
}

TEST_CASE("pool: a worker still gets `serve --host H --port P`, and PORT too") {
  Fixture f({});
  f.warm(1);
  const Instance i = f.store.instances(Show::Current).front();
  const auto spec = f.spec_of(i.id);
  REQUIRE(spec.cmd.size() >= 5);
  CHECK(spec.cmd[0] == "serve");
  CHECK(has(spec.env, "PORT=" + std::to_string(i.port)));
}

TEST_CASE("pool: an http/restart hand-out only checks; release restarts the same container and checks it again") {
  Fixture f({HealthCheck::Http, "/healthz", ResetMethod::Restart});
  f.warm(1);
  const int probes_before = f.worker.http_probes();
  const Allocation a = f.allocate();
  CHECK(a.token.empty());  // the image cannot check a token
  CHECK(f.worker.resets() == 0);
  CHECK(f.worker.inits() == 0);
  CHECK(f.worker.http_probes() == probes_before + 1);
  const std::string container = f.container_of(a.instance_id);
  const int stops = f.engine.count("stop"), starts = f.engine.count("start");

  f.pool->release(a.id);
  REQUIRE(eventually([&] { return f.count(S::Paused) == 1 && f.settled(); }));
  CHECK(f.engine.count("stop") == stops + 1);
  CHECK(f.engine.last_stop_grace_s == 0);  // killed at once: a process that ignores SIGTERM costs no grace
  CHECK(f.engine.count("start") == starts + 1);
  CHECK(f.container_of(a.instance_id) == container);
  CHECK(f.store.instance(a.instance_id)->restarts == 0);  // a reset is no fault
  CHECK(f.worker.resets() == 0);

  const Allocation b = f.allocate();  // the same instance, unpaused and checked
  CHECK(b.instance_id == a.instance_id);
}

TEST_CASE("pool: an http image whose check fails is not handed out; the next instance is") {
  Fixture f({HealthCheck::Http, "/healthz", ResetMethod::Restart});
  f.warm(2);
  const auto instances = f.store.instances(Show::Current);
  // Whichever the pick order, the first instance tried fails its check.
  f.pool->test_on_claim = [&](std::int64_t id) {
    f.pool->test_on_claim = nullptr;
    f.worker.fail(f.store.instance(id)->endpoint(), "http /healthz");
  };
  const Allocation a = f.allocate();
  CHECK(f.store.instance(a.instance_id)->state == S::Allocated);
  CHECK(f.worker.http_probes() >= 4);  // two readiness checks, the failed one, the one that passed
}

TEST_CASE("pool: a tcp image is checked by a connect") {
  Fixture f({HealthCheck::Tcp, "/", ResetMethod::Restart});
  f.warm(1);
  const int before = f.worker.tcp_probes();
  f.allocate();
  CHECK(f.worker.tcp_probes() == before + 1);
  CHECK(f.worker.pings() == 0);
  CHECK(f.worker.http_probes() == 0);
}

TEST_CASE("pool: a recreate pool never hands out one container twice; the released instance ends deleted") {
  Fixture f({HealthCheck::Http, "/", ResetMethod::Recreate});
  f.warm(1);
  std::set<std::string> containers;
  std::set<std::int64_t> instances;
  for (int round = 0; round < 5; ++round) {
    const Allocation a = f.allocate();
    CHECK(containers.insert(f.container_of(a.instance_id)).second);
    CHECK(instances.insert(a.instance_id).second);
    f.pool->release(a.id);
    REQUIRE(eventually([&] {
      return f.store.instance(a.instance_id)->state == S::Deleted && f.count(S::Paused) == 1 && f.settled();
    }));
  }
  CHECK(f.engine.containers().size() == 1);  // the old ones were removed
}

TEST_CASE("pool: init to an image that does not speak the worker protocol is refused before any claim") {
  Fixture f({HealthCheck::Tcp, "/", ResetMethod::Recreate});
  f.warm(1);
  Pool::AllocateRequest r{0, "test", std::chrono::steady_clock::now() + std::chrono::seconds(1)};
  r.init = std::make_shared<const SessionInit>(parse_session_init({{"files", {{"a", "b"}}}}, {}));
  CHECK_THROWS_AS(f.pool->allocate(r), std::invalid_argument);
  CHECK(f.count(S::Paused) == 1);
}
