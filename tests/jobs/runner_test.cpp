// The job runner against the pool on a fake engine, with fake workers
// (FakeWorker): queueing, concurrency, retries, cancellation, prefixes,
// restarts, and giving way to public allocations.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#include "app/app.hpp"
#include "store/sqlite_store.hpp"
#include "support/fake_worker.hpp"
#include "jobs/result_files.hpp"
#include "jobs/runner.hpp"
#include "pool/pool.hpp"
#include "support/eventually.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using jobs::JobRunner;

namespace {

// Jobs poll their workers: give them longer than the default.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  return test::eventually(pred, limit);
}


struct Fixture {
  explicit Fixture(int max_instances, int workers, int retries = 2)
      : dir(std::filesystem::temp_directory_path() /
            ("warmpool-runner-" + std::to_string(std::random_device{}()))),
        lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 1024, .normal_capacity = 1024}) {
    PoolSettings s;
    s.policy.max_instances = max_instances;
    s.policy.min_idle = 0;
    s.policy.keep_running = 0;
    s.port_first = 31000;
    s.port_last = 31099;
    s.ready_timeout = 2s;
    pool = std::make_unique<Pool>(s, store, engine, worker, lanes, clock);
    settings.results_dir = dir;
    settings.workers = workers;
    settings.retries = retries;
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

  Job final_state(std::int64_t id, std::chrono::milliseconds limit = 10s) {
    REQUIRE(eventually([&] { return is_final(store.job(id)->state); }, limit));
    return *store.job(id);
  }
  bool running(std::int64_t id) { return store.job(id)->state == JobState::Running; }
  std::string contents(const Job& job) {
    REQUIRE(job.result);
    std::ifstream in(runner->path_of(*job.result), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string container_at(const std::string& endpoint) {
    for (const auto& i : store.instances(Show::Current))
      if (i.endpoint() == endpoint) return i.container_id;
    FAIL("no instance at " << endpoint);
    return {};
  }
  int current_job_allocations() {
    int n = 0;
    for (const auto& a : store.allocations(Show::Current)) n += a.client.rfind("pi job ", 0) == 0;
    return n;
  }
  Allocation allocate(std::chrono::milliseconds deadline = 2s) {
    return pool->allocate({0, "public", std::chrono::steady_clock::now() + deadline});
  }

  std::filesystem::path dir;
  SqliteStore store{":memory:"};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  test::FakeWorker compute{engine};  // the runner's; `worker` is the pool's
  ManualClock clock;
  Lanes lanes;
  std::unique_ptr<Pool> pool;
  jobs::JobSettings settings;
  std::unique_ptr<JobRunner> runner;
};

// A second pool beside the fixture's, with no floor, on 100 ports from `first_port`.
PoolSettings second_pool(const std::string& name, int first_port) {
  PoolSettings s;
  s.name = name;
  s.policy.max_instances = 2;  // shared by every pool: default holds one
  s.policy.min_idle = 0;
  s.policy.keep_running = 0;
  s.port_first = first_port;
  s.port_last = first_port + 99;
  s.ready_timeout = 2s;
  return s;
}

}  // namespace

TEST_CASE("with several pools, a job runs on the smallest that has the memory, and is released there") {
  Fixture f(1, 1);
  PoolSettings s = second_pool("big", 31100);
  s.container.memory_bytes = 512ll << 20;
  Pool big(s, f.store, f.engine, f.worker, f.lanes, f.clock);
  // As the runner sees them: default's instances too small for 10^6 digits (42 MB).
  f.runner->use_pools({[] { return std::vector<jobs::JobPool>{{"default", 40ll << 20}, {"big", 512ll << 20}}; },
                       [&](const std::string& name) { return name == "big" ? &big : nullptr; }});
  f.runner->start();
  const Job small = f.runner->submit(1'000);
  const Job large = f.runner->submit(1'000'000);
  CHECK(f.final_state(small.id).state == JobState::Complete);
  CHECK(f.final_state(large.id).state == JobState::Complete);
  REQUIRE(eventually([&] { return f.current_job_allocations() == 0; }));
  std::map<std::string, std::string> pool_of_job;
  for (const auto& a : f.store.allocations(Show::All)) pool_of_job[a.client] = a.pool;
  CHECK(pool_of_job[jobs::job_name(small.id)] == "default");
  CHECK(pool_of_job[jobs::job_name(large.id)] == "big");
  // Released through its own pool: the big pool's instance is idle again.
  REQUIRE(eventually([&] {
    for (const auto& i : f.store.instances_of("big", Show::Current))
      if (i.state == InstanceState::Ready || i.state == InstanceState::Paused) return true;
    return false;
  }));
  f.runner->stop();
  f.lanes.stop();
}

TEST_CASE("a job that names its pool runs there, also when a restarted manager finds it queued") {
  Fixture f(2, 1);  // --max-instances counts every pool's: one for each
  const PoolSettings s = second_pool("other", 31200);
  Pool other(s, f.store, f.engine, f.worker, f.lanes, f.clock);
  // Both pools hold the jobs; unnamed, a job would go to default (listed first).
  f.runner->use_pools({[] { return std::vector<jobs::JobPool>{{"default", 512ll << 20}, {"other", 512ll << 20}}; },
                       [&](const std::string& name) { return name == "other" ? &other : nullptr; }});
  const Job queued_before = f.store.add_job(1'000, f.clock.now_ms(), "other");  // by the manager before
  f.runner->start();
  const Job named = f.runner->submit(2'000, "other");
  const Job unnamed = f.runner->submit(3'000);
  for (const Job& j : {queued_before, named, unnamed}) CHECK(f.final_state(j.id).state == JobState::Complete);
  REQUIRE(eventually([&] { return f.current_job_allocations() == 0; }));
  std::map<std::string, std::string> pool_of_job;
  for (const auto& a : f.store.allocations(Show::All)) pool_of_job[a.client] = a.pool;
  CHECK(pool_of_job[jobs::job_name(queued_before.id)] == "other");
  CHECK(pool_of_job[jobs::job_name(named.id)] == "other");
  CHECK(pool_of_job[jobs::job_name(unnamed.id)] == "default");
  f.runner->stop();
  f.lanes.stop();
}

TEST_CASE("a queued job whose named pool is gone fails saying so, using no instance") {
  Fixture f(1, 1);
  const Job orphan = f.store.add_job(1'000, f.clock.now_ms(), "gone");
  f.runner->start();
  const Job done = f.final_state(orphan.id);
  CHECK(done.state == JobState::Failed);
  CHECK(done.error == "\"pool\": no pool named gone");
  CHECK(f.store.allocations(Show::All).empty());
}

TEST_CASE("a queued job that no instance has the memory for fails with the reason, using no instance") {
  // Queued by a manager whose instances were larger (a restart changed
  // --instance-memory-mb): the default 512 MB holds no 10^8 digits.
  Fixture f(1, 1);
  const Job big = f.store.add_job(100'000'000, f.clock.now_ms());
  f.runner->start();
  const Job done = f.final_state(big.id);
  CHECK(done.state == JobState::Failed);
  CHECK(done.error.find("need instances of at least 986 MB") != std::string::npos);
  CHECK(f.store.allocations(Show::All).empty());
}

TEST_CASE("more jobs than instances: they queue, all complete, never more than `workers` at once") {
  Fixture f(3, 2);
  f.runner->start();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(f.runner->submit(100 + 10 * i).id);
  CHECK(ids.front() == 0);
  for (int i = 0; i < 10; ++i) {
    const Job job = f.final_state(ids[i]);
    INFO("job " << job.id << ": " << job.error);
    CHECK(job.state == JobState::Complete);
    CHECK(job.attempts == 0);
    CHECK(job.progress == 1);
    CHECK(job.started_ms);
    CHECK(job.result->bytes == job.digits + 2);
    const std::string digits = f.contents(job);
    CHECK(digits == test::fake_digits(job.digits));
    jobs::Sha256 h;
    h.update(digits.data(), digits.size());
    CHECK(job.result->sha256 == h.hex());
  }
  CHECK(f.compute.starts() == 10);
  CHECK(f.compute.max_running() <= 2);
  REQUIRE(eventually([&] { return f.current_job_allocations() == 0; }));
  CHECK(f.store.allocations(Show::Finished).size() == 10);
}

TEST_CASE("a complete result answers jobs for as many digits or fewer, by an exact prefix") {
  Fixture f(1, 1);
  f.runner->start();
  const Job first = f.final_state(f.runner->submit(1000).id);
  REQUIRE(first.state == JobState::Complete);

  const Job shorter = f.runner->submit(400);  // answered at once
  CHECK(shorter.state == JobState::Complete);
  CHECK(shorter.source_job == first.id);
  CHECK(shorter.progress == 1);
  CHECK(f.contents(shorter) == test::fake_digits(400));
  const Job same = f.runner->submit(1000);
  CHECK(same.state == JobState::Complete);
  CHECK(same.result->name == first.result->name);
  CHECK(f.compute.starts() == 1);

  // Queued behind a longer job, a shorter one is answered when its turn comes.
  f.compute.polls_to_finish = 20;
  const Job longer = f.runner->submit(3000);
  const Job behind = f.runner->submit(2500);
  CHECK(behind.state == JobState::Queued);
  CHECK(f.final_state(longer.id).state == JobState::Complete);
  const Job answered = f.final_state(behind.id);
  CHECK(answered.state == JobState::Complete);
  CHECK(answered.source_job == longer.id);
  CHECK(f.contents(answered) == test::fake_digits(2500));
  CHECK(f.compute.starts() == 2);
}

TEST_CASE("a worker that dies mid-job: the job runs again elsewhere, bounded, then fails with the reason") {
  Fixture f(2, 1, /*retries=*/2);
  f.runner->start();
  SECTION("one death, then success") {
    std::atomic<int> starts{0};
    f.compute.on_start = [&](const std::string& endpoint, std::int64_t) {
      if (starts++ == 0) f.engine.crash(f.container_at(endpoint));
    };
    const Job job = f.final_state(f.runner->submit(200).id);
    INFO(job.error);
    CHECK(job.state == JobState::Complete);
    CHECK(job.attempts == 1);
    CHECK(job.error.find("stopped answering") != std::string::npos);
    CHECK(f.contents(job) == test::fake_digits(200));
    CHECK(f.compute.starts() == 2);
  }
  SECTION("every run dies: failed after 1 + retries attempts, with the last reason") {
    f.compute.on_start = [&](const std::string& endpoint, std::int64_t) {
      f.engine.crash(f.container_at(endpoint));
    };
    const Job job = f.final_state(f.runner->submit(200).id);
    CHECK(job.state == JobState::Failed);
    CHECK(job.attempts == 2);
    CHECK(job.error.rfind("gave up after 3 attempts: ", 0) == 0);
    CHECK(job.error.find("Connection refused") != std::string::npos);
    CHECK_FALSE(job.result);
    CHECK(f.compute.starts() == 3);
  }
  REQUIRE(eventually([&] { return f.current_job_allocations() == 0; }));
}

TEST_CASE("a worker that refuses the job fails it at once") {
  Fixture f(1, 1);
  f.compute.max_digits = 100;
  f.runner->start();
  const Job job = f.final_state(f.runner->submit(500).id);
  CHECK(job.state == JobState::Failed);
  CHECK(job.error.find("refused") != std::string::npos);
  CHECK(f.compute.starts() == 0);
  REQUIRE(eventually([&] { return f.current_job_allocations() == 0; }));
}

TEST_CASE("cancelling: a queued job never runs; a running one's worker is reset and its instance released") {
  Fixture f(1, 1);
  f.compute.polls_to_finish = 1'000'000;
  f.runner->start();
  const Job a = f.runner->submit(100);
  const Job b = f.runner->submit(200);
  REQUIRE(eventually([&] { return f.running(a.id); }));
  CHECK(f.runner->cancel(b.id)->state == JobState::Cancelled);
  const auto cancelled = f.runner->cancel(a.id);
  CHECK(cancelled->state == JobState::Cancelled);
  CHECK(cancelled->finished_ms);
  REQUIRE(eventually([&] { return f.compute.resets() == 1 && f.current_job_allocations() == 0; }));
  CHECK(f.compute.running() == 0);
  CHECK(f.runner->cancel(a.id)->state == JobState::Cancelled);  // again: unchanged
  CHECK_FALSE(f.runner->cancel(99));
  std::this_thread::sleep_for(50ms);
  CHECK(f.compute.starts() == 1);  // b never ran
  CHECK(f.store.job(a.id)->state == JobState::Cancelled);
  CHECK(f.store.job(b.id)->state == JobState::Cancelled);
}

TEST_CASE("a job cancelled in the store by another manager stops here at its next progress write") {
  // Managers share the database but not their threads: the DELETE /pi_job
  // another manager took reaches this one only through the record.
  Fixture f(1, 1);
  f.compute.polls_to_finish = 1'000'000;
  f.runner->start();
  const Job job = f.runner->submit(100);
  REQUIRE(eventually([&] { return f.running(job.id); }));
  CHECK(f.store.cancel_job(job.id, f.clock.now_ms())->state == JobState::Cancelled);
  REQUIRE(eventually([&] { return f.compute.resets() == 1 && f.current_job_allocations() == 0; }));
  CHECK(f.compute.running() == 0);
  CHECK(f.store.job(job.id)->state == JobState::Cancelled);
}

TEST_CASE("restarts: stop() re-queues running jobs; start() re-queues jobs a killed manager left running") {
  Fixture f(2, 1);
  SECTION("a stop puts the running job back in the queue and releases its instance") {
    f.compute.polls_to_finish = 1'000'000;
    f.runner->start();
    const Job job = f.runner->submit(300);
    REQUIRE(eventually([&] { return f.running(job.id); }));
    f.runner->stop();
    const Job after = *f.store.job(job.id);
    CHECK(after.state == JobState::Queued);
    CHECK(after.attempts == 0);
    CHECK(after.allocation_id.empty());
    REQUIRE(eventually([&] { return f.current_job_allocations() == 0; }));
    f.compute.polls_to_finish = 3;
  }
  SECTION("a job left running on an allocation by a killed manager") {
    const Allocation held = f.allocate();
    const Job job = f.store.add_job(300, f.clock.now_ms());
    REQUIRE(f.store.start_job(job.id, held.id, f.clock.now_ms()));
    f.runner->start();
    CHECK_FALSE(f.store.allocation(held.id)->current());
    CHECK(f.store.allocation(held.id)->end_reason == "pi job 0: its manager stopped");
    f.runner->stop();
  }
  // A new runner over the same records finishes the job.
  JobRunner next(f.settings, f.store, *f.pool, f.compute, f.clock);
  next.start();
  REQUIRE(eventually([&] { return f.store.job(0)->state == JobState::Complete; }));
  CHECK(f.store.job(0)->attempts == 0);
  next.stop();
}

TEST_CASE("jobs hold at most `workers` instances and give way to waiting public allocations") {
  SECTION("public allocations are served beside running jobs") {
    Fixture f(2, 1);
    f.compute.polls_to_finish = 1'000'000;
    f.runner->start();
    for (int i = 0; i < 3; ++i) f.runner->submit(100 + i);
    REQUIRE(eventually([&] { return f.running(0); }));
    const Allocation mine = f.allocate();
    CHECK(f.current_job_allocations() == 1);
    f.pool->release(mine.id);
  }
  SECTION("a public allocation waiting for the only instance gets it before a queued job") {
    Fixture f(1, 1);
    f.runner->start();
    const Allocation first = f.allocate();
    auto waiting = std::async(std::launch::async, [&] { return f.allocate(5s); });
    REQUIRE(eventually([&] { return f.pool->counts().waiting == 1; }));
    const Job job = f.runner->submit(100);
    std::this_thread::sleep_for(50ms);
    f.pool->release(first.id);
    const Allocation second = waiting.get();  // served, not starved by the job
    CHECK(f.store.job(job.id)->state == JobState::Queued);
    f.pool->release(second.id);
    CHECK(f.final_state(job.id).state == JobState::Complete);
  }
}

TEST_CASE("job settings from the configuration: workers default to all instances but one") {
  Config c;
  c.data_dir = "/var/lib/warmpool";
  c.max_instances = 8;
  CHECK(job_settings(c).workers == 7);
  CHECK(job_settings(c).results_dir == "/var/lib/warmpool/results");
  CHECK(job_settings(c).max_digits == 10'000'000);
  CHECK(job_settings(c).retries == 2);
  c.max_instances = 1;
  CHECK(job_settings(c).workers == 1);
  c.job_workers = 3;
  CHECK(job_settings(c).workers == 3);
}
