// The shared pool fixture with a scheduler over it, whose ticks the tests
// force (the loop runs only when a test starts it).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "scheduler/scheduler.hpp"
#include "support/pool_fixture.hpp"

namespace warmpool::test {

struct SchedulerFixture : PoolFixture {
  SchedulerFixture(Options o, std::chrono::milliseconds period)
      : PoolFixture(o),
        scheduler(std::make_unique<Scheduler>(Scheduler::Settings{.period = period}, *pool, store, engine,
                                              clock, host)) {}
  ~SchedulerFixture() { scheduler->stop(); }  // before the lanes stop

  // Ticks until every instance has settled idle and no operation is in flight.
  void settle_pool(int idle) {
    const bool settled = eventually([&] {
      scheduler->tick();
      return count(InstanceState::Ready) + count(InstanceState::Paused) == idle && pool->claimed().empty();
    });
    std::string seen;
    for (const auto& i : store.instances(Show::Current))
      seen += " #" + std::to_string(i.id) + " " + to_string(i.state) + " " + i.last_error + ";";
    INFO("instances:" << seen << " claimed " << pool->claimed().size());
    REQUIRE(settled);
  }
  Instance only(InstanceState state) {
    for (const auto& i : store.instances(Show::Current))
      if (i.state == state) return i;
    FAIL("no instance in state " << to_string(state));
    return {};
  }
  engine::Labels labels(std::int64_t instance_id) const {
    return {{engine::kManagerLabel, pool->settings().manager_id},
            {engine::kInstanceLabel, std::to_string(instance_id)}};
  }

  std::unique_ptr<Scheduler> scheduler;
};

}  // namespace warmpool::test
