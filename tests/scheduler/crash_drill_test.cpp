// Drill 7: the real `warmpool serve` killed with SIGKILL in the middle of
// hand-outs and releases, then started again on the same database. A second
// pool, of the BusyBox image, holds an allocation through the kill: the
// restart keeps each instance in its own pool.
#include <catch2/catch.hpp>

#include <fstream>

#include "busybox.hpp"
#include "drill_support.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Views {
  std::vector<drill::InstanceView> instances;
  std::vector<drill::AllocationView> allocations;
};

std::optional<Views> read_views(httplib::Client& client) {
  auto instances = client.Get("/instances");
  auto allocations = client.Get("/allocations?show=current");
  if (!instances || instances->status != 200 || !allocations || allocations->status != 200) return std::nullopt;
  Views v;
  for (const auto& i : json::parse(instances->body))
    v.instances.push_back({i["id"].get<std::int64_t>(), i["state"].get<std::string>(),
                           i["containerId"].get<std::string>(), i["endpoint"].get<std::string>()});
  for (const auto& a : json::parse(allocations->body))
    v.allocations.push_back({a["id"].get<std::string>(), a["instance"].get<std::int64_t>()});
  return v;
}

// Settled: every instance idle or allocated, at least `idle` idle, and the
// records agree with the engine's containers.
bool settled(httplib::Client& client, engine::DockerEngine& engine, const std::string& manager_id, int idle,
             std::string* problems) {
  auto v = read_views(client);
  if (!v) return false;
  int idle_now = 0;
  bool stable = true;
  std::string states;
  for (const auto& i : v->instances) {
    states += "#" + std::to_string(i.id) + " " + i.state + "; ";
    stable = stable && (i.state == "ready" || i.state == "paused" || i.state == "allocated");
    idle_now += i.state == "ready" || i.state == "paused";
  }
  auto found = drill::inconsistencies(v->instances, v->allocations,
                                      engine.list({{engine::kManagerLabel, manager_id}}));
  *problems = states + drill::joined(found);
  return stable && idle_now >= idle && found.empty();
}

}  // namespace

TEST_CASE("drill 7: the manager killed with SIGKILL mid hand-outs restarts with its allocations, no orphan, no doubled instance",
          "[drill]") {
  engine::DockerEngine engine(test::engine_options());
  test::require_image(engine);
  const unsigned r = std::random_device{}();
  const std::string manager_id = "test-crash-" + std::to_string(r % 1'000'000);
  const std::string data_dir = "/tmp/warmpool-" + manager_id;
  const int port = drill::free_port();
  const int first_port = 22000 + static_cast<int>(r % 25) * 40;  // default's 20, then busybox's 20
  const std::vector<std::string> args = {
      "serve", "--data-dir", data_dir, "--manager-id", manager_id, "--port", std::to_string(port),
      "--pause-via", "engine",  // its consistency check reads "paused" from the engine
      "--pool-policy", "fixed", "--pause-grace-ms", "0",  // the shape its checks expect
      "--port-first", std::to_string(first_port), "--port-last", std::to_string(first_port + 19),
      // Room for min-idle beside the allocations held (3) and those the kill
      // cut off after their commit (one per client): the pool can refill.
      "--max-instances", "10", "--min-idle", "2", "--max-idle", "10", "--keep-running", "1", "--host-limit", "1",
      "--engine", engine.options().endpoint, "--scheduler-period-ms", "500", "--lease-s", "600",
      "--log-level", "info", "--insecure"};
  drill::Leftovers leftovers{engine, manager_id, data_dir, data_dir + ".log"};
  drill::ManagerProcess manager(args, data_dir + ".log");
  INFO("manager log: " << data_dir << ".log");

  httplib::Client client("127.0.0.1", port);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(10, 0);
  auto up = [&] {
    auto h = client.Get("/health");
    return h && h->status == 200;
  };
  std::string problems;
  manager.start();
  REQUIRE(test::Stack::eventually(up, 15s));
  REQUIRE(test::Stack::eventually([&] { return settled(client, engine, manager_id, 2, &problems); }, 30s));

  test::ensure_busybox_image();
  const json busybox = {{"name", "busybox"}, {"image", test::kBusyboxImage}, {"portFirst", first_port + 20},
                        {"portLast", first_port + 39}, {"minIdle", 1}, {"maxIdle", 1}, {"memoryMb", 32},
                        {"pids", 16}, {"health", "tcp"}, {"reset", "restart"}};
  auto made = client.Post("/pools", busybox.dump(), "application/json");
  REQUIRE(made);
  REQUIRE(made->status == 201);
  auto busybox_allocation = client.Post("/allocations", R"({"pool":"busybox","timeout_ms":20000})", "application/json");
  REQUIRE(busybox_allocation);
  REQUIRE(busybox_allocation->status == 201);
  const std::string busybox_held = json::parse(busybox_allocation->body)["id"];

  // Four clients allocate and release as fast as they can; each keeps some.
  std::mutex mu;
  std::set<std::string> held;  // 201'd and no DELETE sent
  std::atomic<int> granted{0}, released{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", port);
      http.set_tcp_nodelay(true);
      http.set_connection_timeout(1, 0);
      http.set_read_timeout(5, 0);
      std::mt19937 rng(c);
      while (!stop) {
        auto a = http.Post("/allocations", R"({"timeout_ms":2000})", "application/json");
        if (!a || a->status != 201) {
          if (!a) std::this_thread::sleep_for(20ms);  // the manager is gone
          continue;
        }
        const std::string id = json::parse(a->body)["id"];
        ++granted;
        std::string to_release = id;
        {
          std::lock_guard lock(mu);
          held.insert(id);
          if (held.size() <= 3 && rng() % 2 == 0) continue;  // keep this one
          to_release = *std::next(held.begin(), static_cast<long>(rng() % held.size()));
          held.erase(to_release);
        }
        auto d = http.Delete("/allocations/" + to_release);
        if (d && d->status == 200) ++released;
      }
    });
  }
  std::this_thread::sleep_for(2s);
  manager.kill9();
  const auto killed = drill::Steady::now();
  stop = true;
  for (auto& t : clients) t.join();
  INFO("granted " << granted.load() << ", released " << released.load() << ", held " << held.size());
  REQUIRE(granted > 5);

  manager.start();
  REQUIRE(test::Stack::eventually(up, 15s));
  const auto answering = drill::ms_since(killed);
  // Every allocation a client holds is still current.
  for (const auto& id : held) {
    auto a = client.Get("/allocations/" + id);
    REQUIRE(a);
    INFO(id << ": " << a->body);
    CHECK(a->status == 200);
    CHECK(json::parse(a->body)["deletedAt"].is_null());
  }
  const auto recovered = drill::time_until([&] { return settled(client, engine, manager_id, 2, &problems); });
  INFO("records and problems: " << problems);
  if (recovered < 0) {
    std::ifstream log(data_dir + ".log");
    for (std::string line; std::getline(log, line);) std::cout << "DRILL 7: manager log: " << line << std::endl;
  }
  drill::report("7", "manager SIGKILLed after " + std::to_string(granted.load()) + " hand-outs: answering again",
                answering);
  drill::report("7", "manager restarted: reconciled and pool refilled", drill::ms_since(killed));
  REQUIRE(recovered >= 0);
  auto current = read_views(client);
  REQUIRE(current);
  std::cout << "DRILL 7: " << held.size() << " allocations held at the kill, " << current->allocations.size()
            << " current after the restart" << std::endl;
  {
    std::ifstream log(data_dir + ".log");
    for (std::string line; std::getline(log, line);)
      if (line.find("reconcile") != std::string::npos || line.find("[warning]") != std::string::npos)
        std::cout << "DRILL 7: manager log: " << line << std::endl;
  }
  // Held ones (and busybox's), plus any whose 201 the kill cut off after the commit.
  CHECK(current->allocations.size() >= held.size() + 1);
  CHECK(current->allocations.size() <= held.size() + 1 + 4);

  // Every container is in the pool its record names, BusyBox's allocation too.
  auto listed = client.Get("/instances");
  REQUIRE(listed);
  std::map<std::string, std::string> pool_of;  // container id -> record's pool
  for (const auto& i : json::parse(listed->body)) pool_of[i["containerId"]] = i["pool"];
  int in_busybox = 0;
  for (const auto& c : engine.list({{engine::kManagerLabel, manager_id}})) {
    INFO("container " << c.id << " of image " << c.image);
    REQUIRE(pool_of.count(c.id));
    CHECK(c.labels.at(engine::kPoolLabel) == pool_of[c.id]);
    CHECK((pool_of[c.id] == "busybox") == (c.image == test::kBusyboxImage));
    in_busybox += pool_of[c.id] == "busybox";
  }
  CHECK(in_busybox >= 2);  // the allocated one and the floor of 1
  auto still = client.Get("/allocations/" + busybox_held);
  REQUIRE(still);
  CHECK(still->status == 200);
  CHECK(json::parse(still->body)["deletedAt"].is_null());
  CHECK(json::parse(still->body)["pool"] == "busybox");

  // And it serves: release everything held, hand out again.
  for (const auto& id : held) CHECK(client.Delete("/allocations/" + id)->status == 200);
  auto again = client.Post("/allocations", R"({"timeout_ms":5000})", "application/json");
  REQUIRE(again);
  CHECK(again->status == 201);
  manager.terminate();
}
