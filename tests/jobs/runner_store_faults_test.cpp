// The pi job runner when the store fails: the allocation a job held goes
// back to the pool, the job is not left running without a worker, and it
// finishes once the store works again.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "jobs/runner.hpp"
#include "pool/pool.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_worker.hpp"
#include "support/faulty_store.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using jobs::JobRunner;
using test::eventually;
using test::StoreOp;

namespace {

// One instance only: an allocation a failed job kept would block every next job.
struct Fixture {
  Fixture()
      : dir(std::filesystem::temp_directory_path() /
            ("warmpool-runner-faults-" + std::to_string(std::random_device{}()))),
        lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 1024, .normal_capacity = 1024}) {
    PoolSettings s;
    s.policy.max_instances = 1;
    s.policy.min_idle = 0;
    s.policy.keep_running = 0;
    s.port_first = 34000;
    s.port_last = 34099;
    s.ready_timeout = 2s;
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock);
    jobs::JobSettings settings;
    settings.results_dir = dir;
    settings.workers = 1;
    settings.retries = 2;
    settings.poll_interval = 2ms;
    settings.call_timeout = 100ms;
    settings.lost_after = 30ms;
    settings.allocate_attempt = 200ms;
    settings.progress_every = 0ms;
    runner = std::make_unique<JobRunner>(settings, store, *pool, compute, clock);
  }
  ~Fixture() {
    runner->stop();
    lanes.stop();
    std::filesystem::remove_all(dir);
  }

  Job final_state(std::int64_t id) {
    REQUIRE(eventually([&] { return is_final(real.job(id)->state); }, 15s));
    return *real.job(id);
  }
  bool no_allocation_held() { return real.allocations(Show::Current).empty(); }

  std::filesystem::path dir;
  SqliteStore real{":memory:"};
  test::FaultyStore store{real};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  test::FakeWorker compute{engine};  // the runner's; `worker` is the pool's
  ManualClock clock;
  Lanes lanes;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<JobRunner> runner;
};

}  // namespace

TEST_CASE("store faults: a job whose start cannot be recorded gives its instance back, then runs") {
  Fixture f;
  f.store.fail(StoreOp::StartJob);
  f.runner->start();
  const Job job = f.final_state(f.runner->submit(100).id);
  CHECK(job.state == JobState::Complete);
  CHECK(f.real.allocations(Show::All).size() == 2);  // the refused start's, and the run's
  REQUIRE(eventually([&] { return f.no_allocation_held(); }));
}

TEST_CASE("store faults: a result that cannot be recorded is computed again, with the reason kept") {
  Fixture f;
  f.store.fail(StoreOp::CompleteJob);
  f.runner->start();
  const Job job = f.final_state(f.runner->submit(100).id);
  CHECK(job.state == JobState::Complete);
  CHECK(job.attempts == 1);
  CHECK(job.error.find("complete_job: injected store fault") != std::string::npos);
  CHECK(f.compute.starts() == 2);
  REQUIRE(eventually([&] { return f.no_allocation_held(); }));
}

TEST_CASE("store faults: a refusal that cannot be recorded is recorded on the next run") {
  Fixture f;
  f.compute.max_digits = 10;
  f.store.fail(StoreOp::FailJob);
  f.runner->start();
  const Job job = f.final_state(f.runner->submit(100).id);
  CHECK(job.state == JobState::Failed);
  CHECK(job.error.find("too many digits") != std::string::npos);
  REQUIRE(eventually([&] { return f.no_allocation_held(); }));
}

TEST_CASE("store faults: a stopping runner that cannot requeue its job still gives the instance back") {
  Fixture f;
  f.compute.polls_to_finish = 1'000'000;  // runs until the runner stops
  f.store.fail(StoreOp::RequeueJob);
  f.runner->start();
  const Job job = f.runner->submit(100);
  REQUIRE(eventually([&] { return f.real.job(job.id)->state == JobState::Running; }));
  f.runner->stop();
  CHECK(f.no_allocation_held());
  CHECK(f.real.job(job.id)->state == JobState::Queued);
}

TEST_CASE("several managers: a job another manager holds is left to it, and runs here once it is gone") {
  Fixture f;
  const Job running = f.real.add_job(100, f.clock.now_ms());
  REQUIRE(f.real.start_job(running.id, "on-another-manager", f.clock.now_ms()));
  f.store.hold_elsewhere(Hold::Job, running.id);
  f.runner->start();  // a start requeues the running jobs nobody holds: not this one
  CHECK(f.real.job(running.id)->state == JobState::Running);

  f.store.hold_elsewhere(Hold::Job, running.id + 1);  // the next job: another manager takes it first
  const Job queued = f.runner->submit(50);
  REQUIRE(queued.id == running.id + 1);
  f.store.hold_elsewhere(Hold::Job, running.id, false);  // the first manager died
  CHECK(f.final_state(running.id).state == JobState::Complete);
  CHECK(f.real.job(queued.id)->state == JobState::Queued);
  f.store.hold_elsewhere(Hold::Job, queued.id, false);
  CHECK(f.final_state(queued.id).state == JobState::Complete);
}
