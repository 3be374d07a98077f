// Two `warmpool serve` processes on one PostgreSQL database and one real
// engine, as an operator runs them: both hand out and release, whichever
// made the allocation; no instance is ever held by two allocations; one
// leads; when the leader is SIGKILLed the other takes over upkeep within a
// few seconds, and a pi job that ran on the dead manager completes anyway.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "load/manager_process.hpp"
#include "support/engine_env.hpp"
#include "support/test_database.hpp"

using namespace warmpool;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr int kPool = 4;

class TwoManagers {
 public:
  TwoManagers() : db_(true) {
    test::require_image(engine_);
    const unsigned r = std::random_device{}();
    manager_id_ = "test-managers-" + std::to_string(r % 1'000'000);
    // 18000-18899 is this test's (tests/support/stack.hpp lists the others),
    // below the kernel's ephemeral ports, where a client could take a worker's.
    first_port_ = 18000 + 20 * static_cast<int>(r % 45);
    for (int k = 0; k < 2; ++k) start(k);
  }

  ~TwoManagers() {
    for (int k = 0; k < 2; ++k) {
      if (!processes_[k]) continue;
      processes_[k]->stop();
      if (const std::string log = processes_[k]->log_tail(3000); !log.empty())
        std::printf("manager %d log, last lines:\n%s\n", k, log.c_str());
    }
    try {
      for (const auto& c : engine_.list({{engine::kManagerLabel, manager_id_}})) engine_.remove(c.id);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "removing the containers of %s: %s\n", manager_id_.c_str(), e.what());
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir(0).parent_path(), ignored);
  }

  int port(int k) const { return ports_[k]; }
  test::ManagerProcess& process(int k) { return *processes_[k]; }

  httplib::Result call(int k, const std::string& method, const std::string& path,
                       const std::string& body = {}) {
    httplib::Client c("127.0.0.1", ports_[k]);
    c.set_read_timeout(10, 0);
    if (method == "POST") return c.Post(path, body, "application/json");
    if (method == "DELETE") return c.Delete(path);
    return c.Get(path);
  }
  std::optional<json> get(int k, const std::string& path) {
    auto r = call(k, "GET", path);
    if (!r || r->status != 200) return std::nullopt;
    return json::parse(r->body);
  }
  // /health's managers object, once the manager's scheduler has ticked.
  std::optional<json> managers(int k) {
    auto health = get(k, "/health");
    if (!health || !health->contains("managers")) return std::nullopt;
    return (*health)["managers"];
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

 private:
  std::filesystem::path dir(int k) const {
    return std::filesystem::temp_directory_path() / ("warmpool-" + manager_id_) / std::to_string(k);
  }
  void start(int k) {
    std::filesystem::create_directories(dir(k));
    ports_[k] = test::free_loopback_port();
    const std::vector<std::string> args = {
        "serve", "--host", "127.0.0.1", "--port", std::to_string(ports_[k]),
        "--data-dir", dir(k).string(), "--database", db_.url(), "--manager-id", manager_id_,
        // One key for both: each must reach the workers the other created.
        "--control-key-file", (dir(k).parent_path() / "control.key").string(),
        "--engine", endpoint_, "--port-first", std::to_string(first_port_),
        "--port-last", std::to_string(first_port_ + 19), "--max-instances", std::to_string(kPool + 2),
        "--min-idle", "2", "--max-idle", std::to_string(kPool + 2), "--keep-running", std::to_string(kPool + 2),
        "--host-limit", "1.0", "--scheduler-period-ms", "500", "--job-workers", "1",
        "--log-level", "info", "--log-format", "text", "--insecure"};
    processes_[k] = std::make_unique<test::ManagerProcess>(WARMPOOL_BIN, args, dir(k) / "manager.log");
  }

  test::TestDatabase db_;
  engine::DockerEngine engine_{test::engine_options()};
  std::string endpoint_ = test::engine_options().endpoint;
  std::string manager_id_;
  int first_port_ = 0;
  int ports_[2] = {0, 0};
  std::unique_ptr<test::ManagerProcess> processes_[2];
};

// One hand-out as a client saw it: the instance, and when it held it.
struct Held {
  std::int64_t instance = 0;
  Steady::time_point from, to;
};

}  // namespace

TEST_CASE("two managers on one database share the pool; the leader's death hands upkeep over") {
  TwoManagers m;

  // Exactly one leads, and both name it.
  int leader = -1;
  REQUIRE(m.eventually([&] {
    auto a = m.managers(0), b = m.managers(1);
    if (!a || !b || (*a)["leading"] == (*b)["leading"]) return false;
    leader = (*a)["leading"].get<bool>() ? 0 : 1;
    return (*a)["leader"] == (*b)["leader"] && !(*a)["leader"].is_null();
  }, 30s));
  const int follower = 1 - leader;
  INFO("manager " << leader << " leads");

  // Allocate on one, release on the other.
  auto made = m.call(follower, "POST", "/allocations", R"({"client":"test"})");
  REQUIRE(made);
  REQUIRE(made->status == 201);
  const std::string id = json::parse(made->body)["id"];
  auto ended = m.call(leader, "DELETE", "/allocations/" + id);
  REQUIRE(ended);
  CHECK(ended->status == 200);
  CHECK_FALSE(json::parse(ended->body)["deletedAt"].is_null());
  CHECK_FALSE((*m.get(follower, "/allocations/" + id))["deletedAt"].is_null());

  // Clients split across both: no instance is ever handed to two at once.
  std::mutex mu;
  std::vector<Held> held;
  std::atomic<int> bad{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      for (int n = 0; n < 12; ++n) {
        const int on = (c + n) % 2;
        auto r = m.call(on, "POST", "/allocations", R"({"timeout_ms":3000})");
        if (!r || (r->status != 201 && r->status != 503)) ++bad;
        if (!r || r->status != 201) continue;
        const auto a = json::parse(r->body);
        Held h{a["instance"].get<std::int64_t>(), Steady::now(), {}};
        std::this_thread::sleep_for(20ms);
        h.to = Steady::now();
        auto d = m.call(1 - on, "DELETE", "/allocations/" + a["id"].get<std::string>());
        if (!d || d->status != 200) ++bad;
        std::lock_guard lock(mu);
        held.push_back(h);
      }
    });
  for (auto& t : clients) t.join();
  CHECK(bad == 0);
  CHECK(held.size() > 24);
  std::map<std::int64_t, std::vector<Held>> by_instance;
  for (const auto& h : held) by_instance[h.instance].push_back(h);
  for (auto& [instance, uses] : by_instance) {
    std::sort(uses.begin(), uses.end(), [](const Held& x, const Held& y) { return x.from < y.from; });
    for (std::size_t k = 1; k < uses.size(); ++k) {
      INFO("instance " << instance);
      CHECK(uses[k - 1].to <= uses[k].from);
    }
  }

  // A pi job running on the leader when it dies completes on the other.
  auto job = m.call(leader, "POST", "/pi_job", R"({"digits": 3000000})");
  REQUIRE(job);
  REQUIRE(job->status == 200);
  const auto job_id = std::to_string(json::parse(job->body)["job_id"].get<std::int64_t>());
  REQUIRE(m.eventually([&] {
    auto j = m.get(leader, "/pi_job/" + job_id);
    return j && (*j)["status"] == "In-progress";
  }, 20s));

  // SIGKILL the leader: the other leads within a few seconds.
  ::kill(m.process(leader).pid(), SIGKILL);
  const auto killed = Steady::now();
  REQUIRE(m.eventually([&] {
    auto s = m.managers(follower);
    return s && (*s)["leading"].get<bool>();
  }, 10s));
  const auto took_over = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - killed);
  std::printf("takeover after SIGKILL of the leader: %lld ms\n", static_cast<long long>(took_over.count()));
  CHECK(took_over < 5s);

  // Upkeep resumed: taking the idle instances away makes the new leader create more.
  std::vector<std::string> taken;
  for (int n = 0; n < 2; ++n) {
    auto r = m.call(follower, "POST", "/allocations", R"({"timeout_ms":5000})");
    REQUIRE(r);
    REQUIRE(r->status == 201);
    taken.push_back(json::parse(r->body)["id"]);
  }
  CHECK(m.eventually([&] {
    auto ready = m.get(follower, "/instances?state=ready");
    return ready && ready->size() >= 2;
  }, 30s));
  for (const auto& a : taken) CHECK(m.call(follower, "DELETE", "/allocations/" + a)->status == 200);

  CHECK(m.eventually([&] {
    auto j = m.get(follower, "/pi_job/" + job_id);
    return j && (*j)["status"] == "complete";
  }, 90s));
  // Nothing is left held by the dead manager's allocations but the job's, now ended.
  CHECK(m.eventually([&] {
    auto current = m.get(follower, "/allocations?show=current");
    return current && current->empty();
  }, 10s));
}
