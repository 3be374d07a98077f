// Pi jobs end to end on the real engine: many jobs on a small pool, a
// container killed mid-job, a manager restarted mid-queue, and the
// `warmpool pi` client. Digits are checked against MPFR.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "client/pi_client.hpp"
#include "pi/mpfr_oracle.hpp"
#include "support/stack.hpp"
#include "worker/worker_client.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json body_of(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

std::int64_t submit(httplib::Client& c, std::int64_t digits) {
  const json created = body_of(c.Post("/pi_job", json{{"digits", digits}}.dump(), "application/json"));
  REQUIRE(created["success"] == true);
  return created["job_id"].get<std::int64_t>();
}

std::string status_of(httplib::Client& c, std::int64_t id) {
  return body_of(c.Get("/pi_job/" + std::to_string(id)))["status"].get<std::string>();
}

// Waits until every job is complete (failing the test if one fails).
void all_complete(httplib::Client& c, const std::vector<std::int64_t>& ids, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (std::int64_t id : ids) {
    for (;;) {
      const json s = body_of(c.Get("/pi_job/" + std::to_string(id)));
      INFO("job " << id << ": " << s.dump());
      REQUIRE(s["success"] == true);
      const std::string status = s["status"];
      if (status == "complete") break;
      REQUIRE((status == "queued" || status == "In-progress"));
      REQUIRE(std::chrono::steady_clock::now() < end);
      std::this_thread::sleep_for(50ms);
    }
  }
}

void check_digits(httplib::Client& c, std::int64_t id, const std::string& expected) {
  auto r = c.Get("/download_pi_job/" + std::to_string(id));
  REQUIRE(r);
  INFO("job " << id);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Disposition") == "attachment; filename=\"pi_" + std::to_string(id) + ".txt\"");
  CHECK(r->body.size() == expected.size());
  CHECK(r->body == expected);
}

// At most how many of these allocations were current at the same moment.
int most_at_once(const std::vector<Allocation>& allocations) {
  std::vector<std::pair<std::int64_t, int>> edges;
  for (const auto& a : allocations) {
    edges.emplace_back(a.created_ms, +1);
    edges.emplace_back(a.deleted_ms.value_or(INT64_MAX), -1);
  }
  std::sort(edges.begin(), edges.end());  // an end sorts before a start at the same ms
  int now = 0, most = 0;
  for (const auto& [at, delta] : edges) most = std::max(most, now += delta);
  return most;
}

std::vector<Allocation> job_allocations(Store& store) {
  std::vector<Allocation> out;
  for (const auto& a : store.allocations(Show::All))
    if (a.client.rfind("pi job ", 0) == 0) out.push_back(a);
  return out;
}

}  // namespace

TEST_CASE("20 jobs on a pool of 2 all complete with the right digits, 2 at a time; prefixes at once; the CLI") {
  test::Stack stack([](Config& c) {
    c.max_instances = 2;
    c.min_idle = 2;
    c.max_idle = 2;
    c.job_workers = 2;
  });
  auto c = stack.client();
  std::vector<std::int64_t> ids;
  std::map<std::int64_t, std::int64_t> digits_of;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const std::int64_t digits = 1000 + 150 * i;  // increasing: each one is computed
    ids.push_back(submit(c, digits));
    digits_of[ids.back()] = digits;
  }
  CHECK(ids.front() == 0);
  CHECK(ids.back() == 19);
  all_complete(c, ids, 80s);
  const auto took = std::chrono::steady_clock::now() - started;
  WARN("20 jobs took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");

  const std::string reference = pi::testing::mpfr_pi(1000 + 150 * 19);
  for (std::int64_t id : ids) check_digits(c, id, reference.substr(0, digits_of[id] + 2));
  for (std::int64_t id : ids) CHECK(stack.store.job(id)->attempts == 0);
  const auto allocations = job_allocations(stack.store);
  CHECK(allocations.size() == 20);
  CHECK(most_at_once(allocations) == 2);
  REQUIRE(stack.eventually([&] { return stack.store.allocations(Show::Current).empty(); }));

  // A shorter job is answered at once from a finished result.
  const std::int64_t prefix = submit(c, 777);
  CHECK(status_of(c, prefix) == "complete");
  check_digits(c, prefix, reference.substr(0, 779));
  CHECK(job_allocations(stack.store).size() == 20);

  // `warmpool pi N --out FILE`
  const auto out = std::filesystem::path(stack.config.data_dir) / "cli-pi.txt";
  jobs::PiCommand command;
  command.digits = 5000;
  command.out = out.string();
  std::ostringstream summary, log;
  CHECK(jobs::run_pi_command(c, command, summary, log) == 0);
  std::ifstream in(out, std::ios::binary);
  std::stringstream file;
  file << in.rdbuf();
  CHECK(file.str() == pi::testing::mpfr_pi(5000));
}

TEST_CASE("a container killed mid-job: the job runs again on another instance and completes") {
  test::Stack stack([](Config& c) {
    c.max_instances = 2;
    c.min_idle = 2;
    c.max_idle = 2;
    c.job_workers = 1;
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 2; }));
  auto c = stack.client();
  const std::int64_t digits = 1'000'000;
  const std::int64_t id = submit(c, digits);

  // Wait until its worker is computing, then kill that container.
  REQUIRE(stack.eventually([&] { return stack.store.job(id)->state == JobState::Running; }, 20s));
  const Job running = *stack.store.job(id);
  const Allocation allocation = *stack.store.allocation(running.allocation_id);
  httplib::Client worker("http://" + allocation.endpoint);
  worker.set_read_timeout(2, 0);
  // The job's session is the manager's: its control secret opens the worker.
  worker.set_bearer_token_auth(control_secret(stack.app().control_key, allocation.endpoint));
  REQUIRE(stack.eventually([&] {
    auto r = worker.Get("/compute");
    return r && json::parse(r->body)["state"] == "running";
  }, 10s));
  const std::string killed = stack.store.instance(allocation.instance_id)->container_id;
  stack.engine().kill(killed);

  std::vector<std::int64_t> ids = {id};
  all_complete(c, ids, 90s);
  const Job done = *stack.store.job(id);
  INFO(done.error);
  CHECK(done.attempts == 1);
  CHECK_FALSE(done.error.empty());
  const auto allocations = job_allocations(stack.store);
  REQUIRE(allocations.size() == 2);
  CHECK(allocations[0].id == allocation.id);
  CHECK(allocations[1].instance_id != allocation.instance_id);
  auto r = c.Get("/download_pi_job/" + std::to_string(id));
  REQUIRE(r);
  CHECK(r->body.size() == static_cast<std::size_t>(digits + 2));
  CHECK(pi::testing::sha256_hex(r->body) == pi::testing::sha256_hex(pi::testing::mpfr_pi(digits)));
}

TEST_CASE("a manager restarted mid-queue loses no job: queued and running jobs resume") {
  Config config = test::Stack::make_config([](Config& c) {
    c.max_instances = 1;
    c.min_idle = 1;
    c.max_idle = 1;
    c.job_workers = 1;
  });
  std::vector<std::int64_t> ids;
  std::map<std::int64_t, std::int64_t> digits_of;
  {
    App first(config);
    test::require_image(first.engine);
    httplib::Client c("127.0.0.1", first.serve_in_background());
    first.scheduler.start();
    for (int i = 0; i < 6; ++i) {
      const std::int64_t digits = 200'000 + 50'000 * i;
      ids.push_back(submit(c, digits));
      digits_of[ids.back()] = digits;
    }
    // Stop once the first job is done and another is under way.
    REQUIRE(test::Stack::eventually([&] {
      return first.store.job(ids[0])->state == JobState::Complete &&
             !first.store.jobs_in_state(JobState::Running, 1).empty();
    }, 30s));
    first.stop();
    int queued = 0;
    for (std::int64_t id : ids) queued += first.store.job(id)->state == JobState::Queued;
    CHECK(queued >= 4);
    CHECK(first.store.jobs_in_state(JobState::Running, 10).empty());
  }
  {
    App second(config);
    httplib::Client c("127.0.0.1", second.serve_in_background());
    second.scheduler.start();
    all_complete(c, ids, 90s);
    const std::string reference = pi::testing::mpfr_pi(digits_of[ids.back()]);
    for (std::int64_t id : ids) check_digits(c, id, reference.substr(0, digits_of[id] + 2));
    CHECK(submit(c, 10) == 6);  // ids go on counting
    second.stop();
    for (const auto& container : second.engine.list({{engine::kManagerLabel, config.manager_id}})) {
      try {
        second.engine.remove(container.id);
      } catch (const std::exception&) {
      }
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(config.data_dir, ignored);
}
