// With several pools, each scheduler reconciles its own pool's containers:
// the default pool's takes those labelled default or with no pool label
// (made before pools), and leaves another pool's alone.
#include <catch2/catch.hpp>

#include "support/scheduler_fixture.hpp"

using namespace warmpool;
using namespace warmpool::test;

TEST_CASE("the default pool's reconcile leaves another pool's containers alone") {
  SchedulerFixture f({.policy = {.max_instances = 4, .min_idle = 1, .max_idle = 1, .keep_running = 1}},
                     std::chrono::milliseconds(50));
  f.settle_pool(1);
  const auto idle = f.store.instances(Show::Current).front();
  // Another pool's instance and container, live: the other pool's scheduler owns them.
  const auto other = f.store.add_instance("127.0.0.1", 30500, 1, "other");
  auto labels = f.labels(other.id);
  labels[engine::kPoolLabel] = "other";
  const auto others_container = f.engine.add_stray(labels);
  f.store.set_container(other.id, others_container, engine::kDefaultEngine, 1);
  // Leftovers of this pool: one labelled default, one made before pools (no label).
  auto orphan_labels = f.labels(998);
  orphan_labels[engine::kPoolLabel] = kDefaultPool;
  const auto orphan = f.engine.add_stray(orphan_labels);
  const auto old_orphan = f.engine.add_stray(f.labels(999));

  const auto report = f.scheduler->reconcile();
  CHECK(report.removed_orphans == 2);
  CHECK(report.lost == 0);
  CHECK(f.engine.containers().count(orphan) == 0);
  CHECK(f.engine.containers().count(old_orphan) == 0);
  CHECK(f.engine.containers().count(others_container) == 1);
  CHECK(f.store.instance(other.id)->state == InstanceState::Starting);  // untouched
  CHECK(f.engine.containers().at(idle.container_id).spec.labels.at(engine::kPoolLabel) == kDefaultPool);

  // Its checks and upkeep skip the other pool's record too.
  f.scheduler->tick();
  CHECK(f.store.instance(other.id)->state == InstanceState::Starting);
  CHECK(f.store.instances_of(kDefaultPool, Show::Current).size() == 1);
}
