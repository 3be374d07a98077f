// The database goes away while a manager on PostgreSQL hands out: hand-outs
// answer 503 with Retry-After and a detail that names the database, within
// their deadline; the manager stops leading rather than act on records it
// cannot read; when the database is back it serves again without a restart,
// and nothing made before is lost. The test runs its own cluster
// (scripts/postgres under a private WARMPOOL_RUN), since it stops it.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "load/manager_process.hpp"
#include "support/engine_env.hpp"

using namespace warmpool;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// 12000-12099: the manager's API on 12000, its workers on 12010-12019.
constexpr int kApiPort = 12000;
constexpr int kFirstWorkerPort = 12010;
constexpr int kDeadlineMs = 2000;
const auto kMargin = 2s;

// A cluster of its own: scripts/postgres with WARMPOOL_RUN in a temp dir.
class OwnCluster {
 public:
  OwnCluster() : run_("/tmp/wp-dbgone-" + std::to_string(::getpid())) {
    std::filesystem::create_directories(run_);
    ::chmod(run_.c_str(), 0755);  // the cluster's system user enters it
    REQUIRE(script("start") == 0);
    url_ = "postgresql://warmpool@/warmpool?host=" + (run_ / "postgres" / "socket").string() + "&port=35432";
  }
  ~OwnCluster() {
    script("stop");
    std::error_code ignored;
    std::filesystem::remove_all(run_, ignored);
  }
  int script(const std::string& verb) {
    const std::string cmd = "WARMPOOL_RUN=" + run_.string() + " " WARMPOOL_SOURCE_DIR "/scripts/postgres " + verb +
                            " >>" + (run_ / "script.log").string() + " 2>&1";
    return std::system(cmd.c_str());
  }
  const std::string& url() const { return url_; }
  std::filesystem::path dir() const { return run_; }

 private:
  std::filesystem::path run_;
  std::string url_;
};

httplib::Result call(const std::string& method, const std::string& path, const std::string& body = {}) {
  httplib::Client c("127.0.0.1", kApiPort);
  c.set_read_timeout(15, 0);
  if (method == "POST") return c.Post(path, body, "application/json");
  if (method == "DELETE") return c.Delete(path);
  return c.Get(path);
}

// /health's managers.leading; /health answers 503 (degraded) while the
// database is away, with the same body.
std::optional<bool> leading() {
  auto r = call("GET", "/health");
  if (!r || (r->status != 200 && r->status != 503)) return std::nullopt;
  const auto health = json::parse(r->body);
  if (!health.contains("managers")) return std::nullopt;
  return health["managers"]["leading"].get<bool>();
}

template <typename F>
bool eventually(F ok, std::chrono::milliseconds limit) {
  const auto give_up = Steady::now() + limit;
  while (Steady::now() < give_up) {
    if (ok()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return ok();
}

// What the clients saw.
struct Seen {
  std::mutex mu;
  std::vector<std::string> made;       // every 201's id
  std::vector<std::string> unreleased; // ids whose DELETE did not answer 200
  std::vector<std::string> failures;   // anything a user could not rely on
  int unavailable = 0;                 // 503s naming the database, with Retry-After
  void fail(const std::string& what) {
    std::lock_guard lock(mu);
    failures.push_back(what);
  }
};

// Releases what it could not release before (a user retries after
// Retry-After); true when nothing is left.
bool release_pending(std::vector<std::string>& pending) {
  std::erase_if(pending, [](const std::string& id) {
    auto d = call("DELETE", "/allocations/" + id);
    return d && d->status == 200;
  });
  return pending.empty();
}

void client(std::atomic<bool>& stop, Seen& seen) {
  const std::string body = R"({"client":"drill","timeout_ms":)" + std::to_string(kDeadlineMs) + "}";
  std::vector<std::string> pending;  // releases answered 503, to do again
  while (!stop) {
    if (!release_pending(pending)) {
      std::this_thread::sleep_for(50ms);
      continue;
    }
    const auto start = Steady::now();
    auto r = call("POST", "/allocations", body);
    const auto took = Steady::now() - start;
    if (took > std::chrono::milliseconds(kDeadlineMs) + kMargin)
      seen.fail("a hand-out took " + std::to_string(took / 1ms) + " ms");
    if (!r) {
      seen.fail("a hand-out got no answer");
      continue;
    }
    if (r->status == 503) {
      const bool named = r->body.find("database") != std::string::npos;
      if (!r->has_header("Retry-After") || !named) seen.fail("a 503 without Retry-After or the database: " + r->body);
      {
        std::lock_guard lock(seen.mu);
        seen.unavailable += named;
      }
      std::this_thread::sleep_for(50ms);  // sooner than its Retry-After, to see the return
      continue;
    }
    if (r->status != 201) {
      seen.fail("a hand-out answered " + std::to_string(r->status) + ": " + r->body);
      continue;
    }
    const std::string id = json::parse(r->body)["id"];
    std::this_thread::sleep_for(20ms);
    auto d = call("DELETE", "/allocations/" + id);
    std::lock_guard lock(seen.mu);
    seen.made.push_back(id);
    if (d && d->status == 200) continue;
    if (d && d->status != 503) seen.failures.push_back("a release answered " + std::to_string(d->status));
    seen.unreleased.push_back(id);
    pending.push_back(id);
  }
  if (!release_pending(pending)) seen.fail("releases still refused once the database was back");
}

}  // namespace

TEST_CASE("the database goes away while clients hand out, and comes back: the manager serves again") {
  engine::DockerEngine engine{test::engine_options()};
  test::require_image(engine);
  OwnCluster cluster;
  const std::string manager_id = "test-dbgone-" + std::to_string(::getpid());
  const auto dir = cluster.dir() / "manager";
  std::filesystem::create_directories(dir);
  const std::vector<std::string> args = {
      "serve", "--host", "127.0.0.1", "--port", std::to_string(kApiPort), "--data-dir", dir.string(),
      "--database", cluster.url(), "--manager-id", manager_id, "--engine", test::engine_options().endpoint,
      "--port-first", std::to_string(kFirstWorkerPort), "--port-last", std::to_string(kFirstWorkerPort + 9),
      "--max-instances", "4", "--min-idle", "2", "--max-idle", "4", "--keep-running", "4", "--host-limit", "1.0",
      "--scheduler-period-ms", "500", "--log-level", "info", "--log-format", "text", "--insecure"};
  test::ManagerProcess manager(WARMPOOL_BIN, args, dir / "manager.log");
  struct Cleanup {
    engine::DockerEngine& engine;
    test::ManagerProcess& manager;
    std::string id;
    ~Cleanup() {
      manager.stop();
      std::printf("manager log, last lines:\n%s\n", manager.log_tail(3000).c_str());
      for (const auto& c : engine.list({{engine::kManagerLabel, id}})) engine.remove(c.id);
    }
  } cleanup{engine, manager, manager_id};

  REQUIRE(eventually([] { return leading() == true; }, 30s));
  REQUIRE(eventually([] {
    auto r = call("GET", "/instances?state=ready");
    return r && r->status == 200 && json::parse(r->body).size() >= 2;
  }, 60s));
  auto before = call("POST", "/allocations", R"({"client":"before"})");
  REQUIRE(before);
  REQUIRE(before->status == 201);
  const std::string kept = json::parse(before->body)["id"];

  Seen seen;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) clients.emplace_back([&] { client(stop, seen); });
  std::this_thread::sleep_for(1s);

  REQUIRE(cluster.script("stop") == 0);
  // It gives up the leadership rather than act on records it cannot read.
  CHECK(eventually([] { return leading() == false; }, 5s));
  auto health = call("GET", "/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  CHECK(json::parse(health->body)["database"]["ok"] == false);
  std::this_thread::sleep_for(3s);
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.unavailable > 0);
  }

  REQUIRE(cluster.script("start") == 0);
  const auto back = Steady::now();
  CHECK(eventually([] { return leading() == true; }, 10s));
  std::printf("leading again %lld ms after the database was back\n",
              static_cast<long long>((Steady::now() - back) / 1ms));
  const std::size_t made_before = seen.made.size();
  CHECK(eventually([&] {
    std::lock_guard lock(seen.mu);
    return seen.made.size() > made_before + 4;
  }, 15s));
  stop = true;
  for (auto& t : clients) t.join();

  for (const auto& what : seen.failures) FAIL_CHECK(what);
  // Nothing lost: every hand-out has its record, and those whose release
  // was refused while the database was away were released once it was back.
  for (const auto& id : seen.made) {
    auto r = call("GET", "/allocations/" + id);
    INFO("allocation " << id);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  for (const auto& id : seen.unreleased) {
    auto r = call("GET", "/allocations/" + id);
    INFO("allocation " << id << ", released after the database was back");
    REQUIRE(r);
    CHECK_FALSE(json::parse(r->body)["deletedAt"].is_null());
  }
  // The one made before the database went away is still current, and releases.
  auto still = call("GET", "/allocations/" + kept);
  REQUIRE(still);
  CHECK(json::parse(still->body)["deletedAt"].is_null());
  auto released = call("DELETE", "/allocations/" + kept);
  REQUIRE(released);
  CHECK(released->status == 200);
  CHECK(eventually([] {
    auto r = call("GET", "/allocations?show=current");
    return r && r->status == 200 && json::parse(r->body).empty();
  }, 10s));
  std::printf("hand-outs: %zu made, %d answered 503 naming the database, %zu released once it was back\n",
              seen.made.size(), seen.unavailable, seen.unreleased.size());
}
