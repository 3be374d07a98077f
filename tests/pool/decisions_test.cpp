#include <catch2/catch.hpp>

#include "host/host.hpp"
#include "pool/decisions.hpp"

using namespace warmpool;
using S = InstanceState;

namespace {
Instance inst(std::int64_t id, S state, std::int64_t updated = 1000, int port = 0) {
  Instance i;
  i.id = id;
  i.state = state;
  i.host = "127.0.0.1";
  i.port = port ? port : 20000 + static_cast<int>(id);
  i.updated_ms = updated;
  return i;
}
}  // namespace

TEST_CASE("pick_idle prefers running-idle, then paused, most recently idle first, skipping claimed") {
  std::vector<Instance> pool = {inst(1, S::Paused, 10), inst(2, S::Ready, 20), inst(3, S::Ready, 30),
                                inst(5, S::Paused, 40), inst(4, S::Allocated, 1)};
  CHECK(pick_idle(pool, {}) == 3);
  CHECK(pick_idle(pool, {3}) == 2);
  CHECK(pick_idle(pool, {2, 3}) == 5);
  CHECK(pick_idle(pool, {2, 3, 5}) == 1);
  CHECK_FALSE(pick_idle(pool, {1, 2, 3, 5}));
  CHECK_FALSE(pick_idle({inst(1, S::Starting), inst(2, S::Error), inst(3, S::Resetting)}, {}));
}

TEST_CASE("create_refusal enforces instance limit, budgets and host headroom") {
  PoolPolicy policy;
  policy.max_instances = 2;
  Capacity cap;
  std::vector<Instance> one = {inst(1, S::Ready)};
  CHECK_FALSE(create_refusal(one, policy, cap, {}));
  auto full = create_refusal({inst(1, S::Ready), inst(2, S::Starting)}, policy, cap, {});
  REQUIRE(full);
  CHECK(full->find("instance limit") != std::string::npos);
  // deleted instances do not count
  CHECK_FALSE(create_refusal({inst(1, S::Ready), inst(2, S::Deleted)}, policy, cap, {}));

  cap.instance_memory_bytes = 100;
  cap.memory_budget_bytes = 150;
  CHECK(create_refusal(one, policy, cap, {}));
  cap.memory_budget_bytes = 0;
  cap.cpu_budget = 1.5;
  cap.instance_cpus = 1.0;
  CHECK(create_refusal(one, policy, cap, {}));
  cap.cpu_budget = 0;
  CHECK(create_refusal(one, policy, cap, {0.95, 0.1})->find("CPU") != std::string::npos);
  CHECK(create_refusal(one, policy, cap, {0.1, 0.92})->find("memory") != std::string::npos);
}

TEST_CASE("pick_port skips ports held by live instances and reuses deleted ones") {
  std::vector<Instance> pool = {inst(1, S::Ready, 0, 9000), inst(2, S::Deleted, 0, 9001),
                                inst(3, S::Error, 0, 9002)};
  CHECK(pick_port(pool, "127.0.0.1", 9000, 9003) == 9001);
  pool[1].state = S::Paused;
  CHECK(pick_port(pool, "127.0.0.1", 9000, 9003) == 9003);
  CHECK_FALSE(pick_port(pool, "127.0.0.1", 9000, 9002));
}

TEST_CASE("idle_state_for keeps keep_running idle instances running") {
  PoolPolicy policy;
  policy.keep_running = 1;
  CHECK(idle_state_for({inst(1, S::Resetting), inst(2, S::Paused)}, 1, policy) == S::Ready);
  CHECK(idle_state_for({inst(1, S::Resetting), inst(2, S::Ready)}, 1, policy) == S::Paused);
  policy.keep_running = 0;
  CHECK(idle_state_for({inst(1, S::Resetting)}, 1, policy) == S::Paused);
}

TEST_CASE("plan_upkeep grows to min_idle within capacity") {
  PoolPolicy policy;
  policy.min_idle = 3;
  policy.max_instances = 4;
  policy.keep_running = 0;
  auto plan = plan_upkeep({inst(1, S::Paused), inst(2, S::Allocated), inst(3, S::Starting)}, {},
                          policy, {}, {}, 5000);
  CHECK(plan.create == 1);  // 1 idle + 1 starting, limited by max_instances 4
  plan = plan_upkeep({}, {}, policy, {}, {0.99, 0}, 5000);
  CHECK(plan.create == 0);  // host too busy
}

TEST_CASE("plan_upkeep counts a claimed idle instance (a new one being paused) as warm") {
  PoolPolicy policy;
  policy.min_idle = 2;
  policy.max_instances = 8;
  policy.keep_running = 0;
  // #2 is ready and claimed: its create is pausing it. Counting it as
  // neither idle nor starting made upkeep create one too many.
  auto plan = plan_upkeep({inst(1, S::Paused), inst(2, S::Ready)}, {2}, policy, {}, {}, 5000);
  CHECK(plan.create == 0);
  CHECK(plan.pause.empty());  // not while claimed
}

TEST_CASE("plan_upkeep pauses extra running-idle and unpauses to keep_running") {
  PoolPolicy policy;
  policy.min_idle = 0;
  policy.keep_running = 1;
  auto plan = plan_upkeep({inst(1, S::Ready, 10), inst(2, S::Ready, 20), inst(3, S::Ready, 30)}, {},
                          policy, {}, {}, 100);
  CHECK(plan.pause == std::vector<std::int64_t>{1, 2});
  CHECK(plan.unpause.empty());
  plan = plan_upkeep({inst(1, S::Paused, 10), inst(2, S::Paused, 20)}, {}, policy, {}, {}, 100);
  CHECK(plan.unpause == std::vector<std::int64_t>{2});
  // claimed instances are left alone
  plan = plan_upkeep({inst(1, S::Paused, 10)}, {1}, policy, {}, {}, 100);
  CHECK(plan.unpause.empty());
}

TEST_CASE("create_refusal: CPU and memory have thresholds of their own") {
  PoolPolicy policy;
  Capacity cap;
  cap.host_limit = 0.9;
  cap.host_cpu_limit = 0.98;
  cap.host_memory_limit = 0.5;
  CHECK_FALSE(create_refusal({}, policy, cap, {0.95, 0.4}));  // CPU under its own 0.98
  auto memory = create_refusal({}, policy, cap, {0.1, 0.6});
  REQUIRE(memory);
  CHECK(memory->find("memory") != std::string::npos);
  auto cpu = create_refusal({}, policy, cap, {0.99, 0.1});
  REQUIRE(cpu);
  CHECK(cpu->find("CPU") != std::string::npos);
  cap.host_cpu_limit = 0;  // unset: --host-limit
  CHECK(create_refusal({}, policy, cap, {0.95, 0.1}));
}

TEST_CASE("host CPU use is averaged over its window: a momentary spike does not refuse") {
  CpuWindow window(10'000);
  std::uint64_t busy = 0, total = 0;
  CHECK(window.add(0, busy, total) == 0);  // one sample: nothing to compare
  // Two seconds a tick, 100 jiffies each: idle, idle, idle, idle, then a tick at 100%.
  for (int t = 1; t <= 4; ++t) CHECK(window.add(t * 2000, busy += 10, total += 100) == Approx(0.1));
  CHECK(window.add(10'000, busy += 100, total += 100) == Approx(0.28));  // (40 + 100) / 500
  CHECK(window.add(12'000, busy += 100, total += 100) == Approx(0.46));  // the oldest tick left the window
  // Counters that go back (a restarted host namespace) start the window again.
  CHECK(window.add(14'000, 5, 50) == Approx(0.46));
  CHECK(window.add(16'000, 10, 100) == Approx(0.1));
}

TEST_CASE("plan_upkeep pauses a released instance only after its grace") {
  PoolPolicy policy;
  policy.min_idle = 0;
  policy.keep_running = 1;
  policy.pause_grace_ms = 2000;
  // Released at 1000, 9000 and 9500; now 10000: only the first is past its grace.
  std::vector<Instance> pool = {inst(1, S::Ready, 1000), inst(2, S::Ready, 9000), inst(3, S::Ready, 9500)};
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 10'000).pause == std::vector<std::int64_t>{1});
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 11'000).pause == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("plan_upkeep shrinks idle beyond max_idle and long-idle beyond min_idle") {
  PoolPolicy policy;
  policy.min_idle = 1;
  policy.max_idle = 2;
  policy.keep_running = 0;
  policy.idle_shrink_ms = 1000;
  std::vector<Instance> pool = {inst(1, S::Paused, 100), inst(2, S::Paused, 200),
                                inst(3, S::Paused, 300)};
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 400).remove == std::vector<std::int64_t>{1});
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 1250).remove == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("plan_upkeep: adaptive, idle above the demand's target goes after the surplus ttl, not idle_shrink") {
  PoolPolicy policy;
  policy.adaptive = true;
  policy.min_idle = 1;  // the target, as the scheduler passes it
  policy.max_idle = 8;
  policy.keep_running = 0;
  policy.idle_shrink_ms = 600'000;
  policy.surplus_ttl_ms = 2000;
  std::vector<Instance> pool = {inst(1, S::Paused, 100), inst(2, S::Ready, 1000), inst(3, S::Ready, 1500)};
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 2000).remove.empty());
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 3100).remove == std::vector<std::int64_t>{1, 2});
  policy.adaptive = false;  // fixed: idle_shrink alone
  CHECK(plan_upkeep(pool, {}, policy, {}, {}, 3100).remove.empty());
}

TEST_CASE("pick_expired returns current allocations whose lease ended") {
  Allocation a, b, c;
  a.id = "a";
  a.expires_ms = 100;
  b.id = "b";
  b.expires_ms = 200;
  c.id = "c";
  c.expires_ms = 50;
  c.deleted_ms = 60;
  CHECK(pick_expired({a, b, c}, 150) == std::vector<std::string>{"a"});
  CHECK(pick_expired({a, b, c}, 200) == std::vector<std::string>{"a", "b"});
}
