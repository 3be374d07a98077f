// One pool over three fake engines (a, b, c) in an EngineSet, its scheduler
// ticked by hand: the rig of the several-engines unit tests.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "engine/engine_set.hpp"
#include "pool/pauser.hpp"
#include "scheduler/scheduler.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_host.hpp"
#include "support/fake_worker.hpp"

namespace warmpool::test {

using namespace std::chrono_literals;

struct Engines {
  // `skip`: an engine left out of the set (added later by the test).
  explicit Engines(int min_idle, int keep_running = 24, int max_instances = 24, const std::string& skip = "")
      : lanes({.high_threads = 4, .normal_threads = 4, .high_capacity = 1024, .normal_capacity = 1024}) {
    for (auto [name, engine] : {std::pair{"a", &a}, {"b", &b}, {"c", &c}})
      if (name != skip) set.add({name, engine, "", 0, 1});
    PoolSettings s;
    s.policy.max_instances = max_instances;
    s.policy.min_idle = min_idle;
    s.policy.max_idle = max_instances;
    s.policy.keep_running = keep_running;  // running idle: a hand-out needs no engine call
    s.port_first = 31500;
    s.port_last = 31599;
    s.ready_timeout = 2s;
    pool = std::make_unique<Pool>(s, store, set, worker, lanes, clock, &host, nullptr, SteadyClock::real(), &pauser);
    scheduler = std::make_unique<Scheduler>(Scheduler::Settings{.period = 10s, .refill_pace = {.per_s = 0}, .engine_grace = 30s}, *pool, store,
                                            set, clock, host);
  }
  ~Engines() {
    scheduler->stop();
    lanes.stop();
  }

  void settle(int idle) {
    const bool settled = eventually([&] {
      scheduler->tick();
      int n = 0;
      for (const auto& i : store.instances(Show::Current)) n += is_idle(i.state) && !pool->on_down_engine(i);
      return n == idle && pool->claimed().empty();
    });
    std::string seen;
    for (const auto& i : store.instances(Show::Current))
      seen += " #" + std::to_string(i.id) + " " + to_string(i.state) + " on " + i.engine + " " + i.last_error + ";";
    INFO("instances:" << seen);
    REQUIRE(settled);
  }
  std::map<std::string, int> by_engine(Show show = Show::Current) {
    std::map<std::string, int> n;
    for (const auto& i : store.instances(show)) ++n[i.engine];
    return n;
  }
  Allocation allocate() { return pool->allocate({0, "t", std::chrono::steady_clock::now() + 2s}); }
  std::string engine_of(const Allocation& a) { return store.instance(a.instance_id)->engine; }
  // Takes `n` instances (spread: one on each engine for three); the id of
  // the allocation on `engine`, empty when none is there.
  std::string allocate_on(const std::string& engine, int n = 3) {
    std::string on;
    for (int i = 0; i < n; ++i) {
      const Allocation a = allocate();
      if (engine_of(a) == engine) on = a.id;
    }
    return on;
  }

  FakeEngine a{"a"}, b{"b"}, c{"c"};
  engine::EngineSet set;
  FakeWorker worker{{&a, &b, &c}};
  SqliteStore store{":memory:"};
  ManualClock clock;
  test::FixedHostUsage host;
  Lanes lanes;
  Pauser pauser{set, nullptr, "the engine's pause"};
  std::unique_ptr<Pool> pool;
  std::unique_ptr<Scheduler> scheduler;
};

}  // namespace warmpool::test
