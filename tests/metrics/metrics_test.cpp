// What GET /metrics reports, read back from the Prometheus text: hand-outs by
// path, faults, restarts and replacements, engine calls, lane waits, jobs.
#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include "engine/timed_engine.hpp"
#include "metrics/metrics.hpp"
#include "pool/pool.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using S = InstanceState;

namespace {

// The value of the sample `series` (name{labels}) in `text`; -1 if absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

using test::eventually;

// A pool on the fake engine wired to metrics the way the App wires it.
struct MeteredPool {
  explicit MeteredPool(int max_instances, int keep_running, std::string name = kDefaultPool)
      : timed(engine, [this](const std::string& op, bool ok, double s) { metrics.observe_engine_call(op, ok, s); }),
        lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 1024, .normal_capacity = 1024},
              [this](Lane lane, std::chrono::nanoseconds waited) {
                metrics.observe_queue_wait(lane, std::chrono::duration<double>(waited).count());
              }) {
    PoolSettings s;
    s.policy.max_instances = max_instances;
    s.policy.keep_running = keep_running;
    s.policy.min_idle = 0;
    s.port_first = 30100;
    s.port_last = 30199;
    s.ready_timeout = 2s;
    s.name = std::move(name);
    pool = std::make_unique<Pool>(s, store, timed, worker, lanes, clock, nullptr, &metrics);
  }
  ~MeteredPool() { lanes.stop(); }

  // One at a time, so that each settles knowing the others (running or paused by policy).
  void warm(int n) {
    for (int i = 1; i <= n; ++i) {
      pool->add_instance();
      REQUIRE(eventually([&] { return idle() == i && pool->claimed().empty(); }));
    }
  }
  int idle() {
    int n = 0;
    for (const auto& i : store.instances(Show::Current)) n += is_idle(i.state);
    return n;
  }
  Allocation allocate() { return pool->allocate({0, "test", std::chrono::steady_clock::now() + 3s}); }
  std::string text() { return metrics.render(store, lanes); }

  Metrics metrics;
  SqliteStore store{":memory:"};
  test::FakeEngine engine;
  engine::TimedEngine timed;
  test::FakeWorker worker{engine};
  ManualClock clock;
  Lanes lanes;
  std::unique_ptr<Pool> pool;
};

}  // namespace

TEST_CASE("hand-outs are counted by path: running-idle, paused, cold") {
  MeteredPool p(3, 1);
  p.warm(2);  // one running-idle, one paused
  REQUIRE(p.store.instances(Show::Current)[0].state == S::Ready);
  REQUIRE(p.store.instances(Show::Current)[1].state == S::Paused);
  p.allocate();
  p.allocate();
  p.allocate();  // none idle: waits for a new one
  const std::string text = p.text();
  CHECK(sample(text, R"(warmpool_hand_out_seconds_count{path="running",pool="default"})") == 1);
  CHECK(sample(text, R"(warmpool_hand_out_seconds_count{path="paused",pool="default"})") == 1);
  CHECK(sample(text, R"(warmpool_hand_out_seconds_count{path="cold",pool="default"})") == 1);
  CHECK(sample(text, R"(warmpool_instances{pool="default",state="allocated"})") == 3);
}

TEST_CASE("engine calls are timed by operation and result") {
  MeteredPool p(2, 0);
  p.warm(1);  // create, start, pause
  p.engine.fail("unpause", engine::EngineError::Kind::Server, 1);
  p.allocate();  // the failed unpause sends that instance to recovery
  const std::string text = p.text();
  CHECK(sample(text, R"(warmpool_engine_call_seconds_count{operation="create",result="ok"})") >= 1);
  CHECK(sample(text, R"(warmpool_engine_call_seconds_count{operation="pause",result="ok"})") >= 1);
  CHECK(sample(text, R"(warmpool_engine_call_seconds_count{operation="unpause",result="error"})") == 1);
}

TEST_CASE("faults, restarts and replacements are counted") {
  MeteredPool p(2, 1);
  p.warm(1);
  const auto id = p.store.instances(Show::Current).front().id;
  SECTION("a failed ping is a fault, and the restart that follows saves the instance") {
    p.worker.fail(p.store.instance(id)->endpoint(), "ping", 1);
    p.allocate();
    REQUIRE(eventually([&] { return sample(p.text(), R"(warmpool_restarts_total{pool="default",result="ok"})") == 1; }));
    const std::string text = p.text();
    CHECK(sample(text, R"(warmpool_faults_total{pool="default"})") == 1);
    CHECK(sample(text, R"(warmpool_replacements_total{pool="default"})") == 0);
  }
  SECTION("an instance that never answers again is replaced") {
    p.worker.fail(p.store.instance(id)->endpoint(), "ping", 1000);
    p.allocate();  // served by a new instance
    REQUIRE(eventually([&] {
      if (p.pool->claim(id)) p.pool->resume(id);  // the scheduler's part: one recovery step per tick
      return p.store.instance(id)->state == S::Deleted;
    }, 15s));
    const std::string text = p.text();
    CHECK(sample(text, R"(warmpool_replacements_total{pool="default"})") == 1);
    CHECK(sample(text, R"(warmpool_restarts_total{pool="default",result="failed"})") == 2);
    CHECK(sample(text, R"(warmpool_faults_total{pool="default"})") == 3);  // the first failed ping, then each failed restart
  }
}

TEST_CASE("lane waits are observed per lane, and jobs are counted by state") {
  MeteredPool p(2, 1);
  p.warm(1);
  p.allocate();
  p.store.add_job(100, p.clock.now_ms());
  p.store.add_job(200, p.clock.now_ms());
  p.metrics.observe_job(JobState::Complete, 2.5);
  const std::string text = p.text();
  CHECK(sample(text, R"(warmpool_queue_wait_seconds_count{lane="high"})") >= 1);   // the hand-out
  CHECK(sample(text, R"(warmpool_queue_wait_seconds_count{lane="normal"})") >= 1); // the create
  CHECK(sample(text, R"(warmpool_pi_jobs{state="queued"})") == 2);
  CHECK(sample(text, R"(warmpool_pi_jobs{state="running"})") == 0);
  CHECK(sample(text, R"(warmpool_pi_job_seconds_count{state="complete"})") == 1);
  CHECK(sample(text, R"(warmpool_pi_job_seconds_sum{state="complete"})") == Approx(2.5));
}

TEST_CASE("demand metrics: hand-outs by path, the 5-minute warm share, forecast, targets, idle seconds") {
  Metrics metrics;
  SqliteStore store{":memory:"};
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 4, .normal_capacity = 4});
  CHECK(sample(metrics.render(store, lanes), "warmpool_warm_share_5m") == 1);  // none yet: nothing was cold
  metrics.observe_hand_out("default", HandOutPath::Running, 0.002);
  metrics.observe_hand_out("default", HandOutPath::Paused, 0.03);
  metrics.observe_hand_out("default", HandOutPath::Paused, 0.03);
  metrics.observe_hand_out("default", HandOutPath::Cold, 0.9);
  metrics.set_demand(6.5, 8, 2);
  metrics.add_idle_seconds(4, 10);
  metrics.add_idle_seconds(1, 0);
  const std::string text = metrics.render(store, lanes);
  CHECK(sample(text, R"(warmpool_hand_outs_total{path="running",pool="default"})") == 1);
  CHECK(sample(text, R"(warmpool_hand_outs_total{path="paused",pool="default"})") == 2);
  CHECK(sample(text, R"(warmpool_hand_outs_total{path="cold",pool="default"})") == 1);
  CHECK(sample(text, "warmpool_warm_share_5m") == Approx(0.75));
  CHECK(sample(text, "warmpool_demand_forecast") == Approx(6.5));
  CHECK(sample(text, R"(warmpool_demand_target{tier="idle"})") == 8);
  CHECK(sample(text, R"(warmpool_demand_target{tier="running"})") == 2);
  CHECK(sample(text, R"(warmpool_idle_instance_seconds_total{state="running"})") == 5);
  CHECK(sample(text, R"(warmpool_idle_instance_seconds_total{state="paused"})") == 10);
  // The history's percentiles take the hand-outs once.
  CHECK(metrics.take_recent_hand_outs().size() == 4);
  CHECK(metrics.take_recent_hand_outs().empty());
  lanes.stop();
}

TEST_CASE("the history keeps its span, oldest first") {
  History history(60'000);
  for (std::int64_t t = 0; t <= 120'000; t += 2000) {
    HistorySample s;
    s.at_ms = 1'700'000'000'000 + t;
    s.in_use = static_cast<int>(t / 2000);
    history.add(s);
  }
  const auto json = history.to_json();
  CHECK(json["spanSeconds"] == 60);
  REQUIRE(json["samples"].size() == 31);  // 60 s back from the last, both ends kept
  CHECK(json["samples"][0]["inUse"] == 30);
  CHECK(json["samples"][30]["inUse"] == 60);
  CHECK(json["samples"][30]["at"] == "2023-11-14T22:15:20.000Z");
}

TEST_CASE("leadership: warmpool_leader follows the last answer, and each change is counted") {
  Metrics metrics;
  SqliteStore store{":memory:"};
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 4, .normal_capacity = 4});
  auto read = [&] {
    const std::string text = metrics.render(store, lanes);
    return std::pair{sample(text, "warmpool_leader"), sample(text, "warmpool_leadership_changes_total")};
  };
  CHECK(read() == std::pair{0.0, 0.0});  // not leading until a tick says so
  metrics.set_leading(false);
  CHECK(read() == std::pair{0.0, 0.0});
  metrics.set_leading(true);
  metrics.set_leading(true);
  CHECK(read() == std::pair{1.0, 1.0});
  metrics.set_leading(false);  // another manager took over
  CHECK(read() == std::pair{0.0, 2.0});
  lanes.stop();
}

TEST_CASE("each pool has its own series: instances by state, hand-outs by path, faults, refusals") {
  MeteredPool p(2, 1, "small");
  p.warm(1);
  p.allocate();
  p.store.add_instance("127.0.0.1", 30500, p.clock.now_ms(), "large");  // starting, in another pool
  p.metrics.observe_hand_out("large", HandOutPath::Cold, 0.8);
  p.metrics.observe_allocate("large", "503", 1.0);
  p.metrics.count_quota_refusal("large");
  std::vector<std::string> names{"default", "small", "large"};
  p.metrics.pool_names = [&] { return names; };
  std::string text = p.text();
  CHECK(sample(text, R"(warmpool_instances{pool="small",state="allocated"})") == 1);
  CHECK(sample(text, R"(warmpool_instances{pool="small",state="starting"})") == 0);
  CHECK(sample(text, R"(warmpool_instances{pool="large",state="starting"})") == 1);
  CHECK(sample(text, R"(warmpool_instances{pool="large",state="allocated"})") == 0);
  CHECK(sample(text, R"(warmpool_hand_outs_total{path="running",pool="small"})") == 1);
  CHECK(sample(text, R"(warmpool_hand_outs_total{path="cold",pool="small"})") == 0);
  CHECK(sample(text, R"(warmpool_hand_outs_total{path="cold",pool="large"})") == 1);
  CHECK(sample(text, R"(warmpool_hand_out_seconds_count{path="running",pool="large"})") == 0);
  CHECK(sample(text, R"(warmpool_allocate_seconds_count{outcome="503",pool="large"})") == 1);
  CHECK(sample(text, R"(warmpool_allocate_seconds_count{outcome="503",pool="small"})") == 0);
  CHECK(sample(text, R"(warmpool_quota_refusals_total{pool="large"})") == 1);
  CHECK(sample(text, R"(warmpool_quota_refusals_total{pool="small"})") == 0);
  // A pool on record with nothing yet still shows, at zero.
  CHECK(sample(text, R"(warmpool_instances{pool="default",state="ready"})") == 0);
  CHECK(sample(text, R"(warmpool_faults_total{pool="default"})") == 0);

  SECTION("a pool gone from the records loses its series once its instances are gone") {
    names = {"default", "small"};
    text = p.text();
    CHECK(sample(text, R"(warmpool_instances{pool="large",state="starting"})") == 1);  // still live
    p.store.transition(p.store.instances(Show::Current).back().id, S::Deleting, p.clock.now_ms());
    p.store.transition(p.store.instances(Show::Current).back().id, S::Deleted, p.clock.now_ms());
    text = p.text();
    CHECK(text.find(R"(pool="large")") == std::string::npos);
    CHECK(sample(text, R"(warmpool_hand_outs_total{path="running",pool="small"})") == 1);
  }
}
