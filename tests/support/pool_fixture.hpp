// A pool on the fake engine and workers, with its store, lanes, clocks and
// host usage, as the pool's tests use it; on the engine's pause or, with
// `freezer`, on a fake cgroup freezer.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "pool/pauser.hpp"
#include "pool/pool.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_freezer.hpp"
#include "support/fake_host.hpp"
#include "support/fake_worker.hpp"

namespace warmpool::test {

struct PoolFixture {
  struct Options {
    PoolPolicy policy{};
    int high_threads = 2;
    int port_first = 30000;  // 100 ports from here
    int max_restarts = 2;
    bool freezer = false;                // pause through the fake freezer
    const SteadyClock* steady = nullptr;  // times the pool's deadlines; must outlive the fixture
    ImageProtocol protocol{};  // how instances are checked and reset
    int client_quota = 0;
  };

  explicit PoolFixture(Options o)
      : lanes({.high_threads = o.high_threads, .normal_threads = 2, .high_capacity = 1024,
               .normal_capacity = 1024}),
        pauser(engine, o.freezer ? &freezer : nullptr, o.freezer ? "test: the fake freezer" : "the engine's pause") {
    PoolSettings s;
    s.policy = o.policy;
    s.port_first = o.port_first;
    s.port_last = o.port_first + 99;
    s.ready_timeout = std::chrono::seconds(2);
    s.max_restarts = o.max_restarts;
    s.protocol = o.protocol;
    s.client_quota = o.client_quota;
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock, &host, nullptr,
                                  o.steady ? *o.steady : SteadyClock::real(), &pauser);
  }
  ~PoolFixture() { lanes.stop(); }

  // Adds n instances and waits until all are idle.
  void warm(int n) {
    for (int i = 0; i < n; ++i) pool->add_instance();
    REQUIRE(eventually([&] { return count(InstanceState::Ready) + count(InstanceState::Paused) == n &&
                                    pool->claimed().empty(); }));
  }
  int count(InstanceState state) {
    int n = 0;
    for (const auto& i : store.instances(Show::Current)) n += i.state == state;
    return n;
  }
  Allocation allocate(std::chrono::milliseconds deadline = std::chrono::seconds(2)) {
    return pool->allocate({0, "test", std::chrono::steady_clock::now() + deadline});
  }
  std::string container_of(std::int64_t id) { return store.instance(id)->container_id; }

  SqliteStore store{":memory:"};
  FakeEngine engine;
  FakeWorker worker{engine};
  FakeFreezer freezer{engine};
  ManualClock clock;
  FixedHostUsage host;  // idle unless a test says otherwise
  Lanes lanes;
  Pauser pauser;
  std::unique_ptr<Pool> pool;
};

}  // namespace warmpool::test
