#include <catch2/catch.hpp>

#include "pool/backoff.hpp"
#include "pool/checks.hpp"

using namespace warmpool;
using S = InstanceState;
using engine::ContainerStatus;
using std::chrono::milliseconds;

namespace {
Instance record(std::int64_t id, S state, std::string container) {
  Instance i;
  i.id = id;
  i.state = state;
  i.container_id = std::move(container);
  return i;
}
engine::ContainerInfo container(std::string id, std::string instance_label) {
  engine::ContainerInfo c;
  c.id = std::move(id);
  c.labels[engine::kManagerLabel] = "m";
  if (!instance_label.empty()) c.labels[engine::kInstanceLabel] = std::move(instance_label);
  return c;
}
engine::ContainerInfo seen(ContainerStatus status, bool oom = false) {
  engine::ContainerInfo c;
  c.status = status;
  c.oom_killed = oom;
  return c;
}
}  // namespace

TEST_CASE("instance_of reads the instance label; anything else is no instance") {
  CHECK(instance_of(container("c", "42").labels) == 42);
  CHECK(instance_of(container("c", "").labels) == 0);
  for (const char* bad : {"-1", "0", "4x", " 4", "99999999999999999999", ""})
    CHECK(instance_of(container("c", bad).labels) == 0);
}

TEST_CASE("plan_reconcile: adopts, removes orphans, and confirms doubtful cases under the claim") {
  const std::vector<Instance> live = {
      record(1, S::Ready, "c1"),      // its container is listed: adopted
      record(2, S::Paused, "c2"),     // its container is missing: maybe lost
      record(3, S::Starting, ""),     // being created: c3 may be its own
      record(4, S::Deleting, "c4"),   // missing, but a deleting record needs no container
      record(5, S::Allocated, "c5b"), // lists another container: c5a may be a leftover
  };
  const std::vector<engine::ContainerInfo> containers = {
      container("c1", "1"), container("c3", "3"), container("c5a", "5"),
      container("c9", "9"),  // no record
      container("cx", ""),   // no instance label
  };
  const ReconcilePlan plan = plan_reconcile(containers, live);
  CHECK(plan.adopted == 1);
  CHECK(plan.remove == std::vector<std::string>{"c9", "cx"});
  CHECK(plan.confirm_orphan ==
        std::vector<std::pair<std::int64_t, std::string>>{{3, "c3"}, {5, "c5a"}});
  CHECK(plan.confirm_lost == std::vector<std::int64_t>{2, 5});
}

TEST_CASE("plan_reconcile: a deleted record holds no container") {
  const ReconcilePlan plan =
      plan_reconcile({container("c1", "1")}, {record(1, S::Deleted, "c1")});
  CHECK(plan.adopted == 0);
  CHECK(plan.remove == std::vector<std::string>{"c1"});
}

TEST_CASE("tick_action: idle and allocated are checked, unfinished states resumed") {
  const std::pair<S, TickAction> table[] = {
      {S::Ready, TickAction::Check},      {S::Paused, TickAction::Check},
      {S::Allocated, TickAction::Check},  {S::Starting, TickAction::Resume},
      {S::Resetting, TickAction::Resume}, {S::Deleting, TickAction::Resume},
      {S::Error, TickAction::Resume},     {S::Deleted, TickAction::None},
  };
  for (const auto& [state, action] : table) {
    INFO(to_string(state));
    CHECK(tick_action(state) == action);
  }
  CHECK(probe_for(S::Ready) == Probe::Ping);
  CHECK(probe_for(S::Paused) == Probe::Inspect);
  CHECK(probe_for(S::Allocated) == Probe::Inspect);
}

TEST_CASE("judge_container: the container's state against the record's") {
  CHECK(judge_container(S::Paused, seen(ContainerStatus::Paused)).kind == ContainerVerdict::Healthy);
  CHECK(judge_container(S::Allocated, seen(ContainerStatus::Running)).kind == ContainerVerdict::Healthy);
  CHECK(judge_container(S::Paused, seen(ContainerStatus::Running)).kind ==
        ContainerVerdict::ConfirmRunning);

  const auto exited = judge_container(S::Allocated, seen(ContainerStatus::Exited, /*oom=*/true));
  CHECK(exited.kind == ContainerVerdict::Fault);
  CHECK(exited.fault == "container is exited (out of memory), expected running");
  const auto frozen = judge_container(S::Allocated, seen(ContainerStatus::Paused));
  CHECK(frozen.kind == ContainerVerdict::Fault);
  CHECK(frozen.fault == "container is paused, expected running");
  CHECK(judge_container(S::Paused, seen(ContainerStatus::Dead)).fault ==
        "container is dead, expected paused");
}

TEST_CASE("next_tick_delay: the period, doubled per failing tick, capped") {
  const auto period = milliseconds(2000), cap = milliseconds(60000);
  CHECK(next_tick_delay(period, 0, cap) == milliseconds(2000));
  CHECK(next_tick_delay(period, 1, cap) == milliseconds(4000));
  CHECK(next_tick_delay(period, 2, cap) == milliseconds(8000));
  CHECK(next_tick_delay(period, 4, cap) == milliseconds(32000));
  CHECK(next_tick_delay(period, 5, cap) == milliseconds(60000));
  CHECK(next_tick_delay(period, 1000, cap) == milliseconds(60000));
  // A cap below the period never makes ticks more frequent.
  CHECK(next_tick_delay(period, 3, milliseconds(500)) == milliseconds(2000));
}

TEST_CASE("Backoff: a key that failed is not due until its delay has passed") {
  Backoff b(1000, 8000);
  CHECK(b.due("c", 0));
  b.failed("c", 0);
  CHECK(b.failures("c") == 1);
  CHECK_FALSE(b.due("c", 999));
  CHECK(b.due("c", 1000));
  b.failed("c", 1000);  // second in a row: 2 s
  CHECK_FALSE(b.due("c", 2999));
  CHECK(b.due("c", 3000));
  for (int k = 0; k < 10; ++k) b.failed("c", 3000);
  CHECK_FALSE(b.due("c", 3000 + 7999));
  CHECK(b.due("c", 3000 + 8000));  // capped
  CHECK(b.due("other", 0));        // keys are independent
  b.succeeded("c");
  CHECK(b.due("c", 0));
  CHECK(b.failures("c") == 0);
}
