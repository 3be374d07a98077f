// Drill 9: the real `warmpool serve` stopped by SIGTERM while releases are in
// flight. It exits 0 with every record matching its container; the next start
// adopts those containers; with --remove-on-exit nothing is left. Its log is
// JSON, and each request's lines carry the request's id.
#include <catch2/catch.hpp>

#include <deque>
#include <fstream>

#include "drill_support.hpp"
#include "store/sqlite_store.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<drill::InstanceView> instance_views(Store& store) {
  std::vector<drill::InstanceView> out;
  for (const auto& i : store.instances(Show::Current))
    out.push_back({i.id, to_string(i.state), i.container_id, i.endpoint()});
  return out;
}

std::vector<json> log_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) {
    INFO("log line: " << line);
    REQUIRE(json::accept(line));  // nothing but JSON objects, one per line
    lines.push_back(json::parse(line));
  }
  return lines;
}

// The last lines of the manager's log, for a failure's message.
std::string tail_of(const std::string& path, std::size_t n = 40) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > n) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

bool logged(const std::vector<json>& lines, const std::string& request_id, const std::string& text) {
  for (const auto& l : lines)
    if (l.value("request_id", "") == request_id && l["msg"].get<std::string>().find(text) != std::string::npos)
      return true;
  return false;
}

}  // namespace

TEST_CASE("drill 9: SIGTERM finishes releases in flight and exits 0; the next start adopts; --remove-on-exit cleans up",
          "[drill]") {
  engine::DockerEngine engine(test::engine_options());
  test::require_image(engine);
  const unsigned r = std::random_device{}();
  const std::string manager_id = "test-stop-" + std::to_string(r % 1'000'000);
  const std::string data_dir = "/tmp/warmpool-" + manager_id;
  const std::string log = data_dir + ".log";
  const int port = drill::free_port();
  const int first_port = 21000 + static_cast<int>(r % 50) * 20;
  std::vector<std::string> args = {
      "serve", "--data-dir", data_dir, "--manager-id", manager_id, "--port", std::to_string(port),
      "--pause-via", "engine",  // its consistency check reads "paused" from the engine
      "--pool-policy", "fixed", "--pause-grace-ms", "0",  // the shape its checks expect
      "--port-first", std::to_string(first_port), "--port-last", std::to_string(first_port + 19),
      "--max-instances", "4", "--min-idle", "3", "--max-idle", "4", "--keep-running", "0", "--host-limit", "1",
      "--engine", engine.options().endpoint, "--scheduler-period-ms", "500", "--log-format", "json",
      "--insecure"};
  drill::Leftovers leftovers{engine, manager_id, data_dir, log};
  INFO("manager log: " << log);

  httplib::Client client("127.0.0.1", port);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(10, 0);
  std::string last_seen;  // the last /instances answer, for a failure's message
  // At least n instances, all paused.
  auto paused_pool = [&](std::size_t n) {
    auto listed = client.Get("/instances");
    last_seen = listed ? std::to_string(listed->status) + " " + listed->body : httplib::to_string(listed.error());
    if (!listed || listed->status != 200) return false;
    const json list = json::parse(listed->body);
    if (list.size() < n) return false;  // upkeep may make one more than --min-idle
    for (const auto& i : list)
      if (i["state"] != "paused") return false;
    return true;
  };

  drill::ManagerProcess first(args, log);
  first.start();
  {
    const bool ready = test::Stack::eventually([&] { return paused_pool(3); }, 60s);
    INFO("last /instances: " << last_seen << "\nlog:\n" << tail_of(log));
    REQUIRE(ready);
  }

  // Three hand-outs, then their releases, and SIGTERM right behind them.
  std::vector<std::string> allocations;
  for (int k = 0; k < 3; ++k) {
    auto a = client.Post("/allocations", {{"X-Request-Id", "drill9-alloc-" + std::to_string(k)}}, "{}",
                         "application/json");
    REQUIRE(a);
    REQUIRE(a->status == 201);
    CHECK(a->get_header_value("X-Request-Id") == "drill9-alloc-" + std::to_string(k));
    allocations.push_back(json::parse(a->body)["id"]);
  }
  for (std::size_t k = 0; k < allocations.size(); ++k) {
    auto d = client.Delete("/allocations/" + allocations[k], {{"X-Request-Id", "drill9-release-" + std::to_string(k)}});
    REQUIRE(d);
    REQUIRE(d->status == 200);
  }
  CHECK(first.stop(SIGTERM, 15s) == 0);

  std::set<std::string> containers_before;
  {
    SqliteStore store(data_dir + "/warmpool.db");
    const auto views = instance_views(store);
    // Every release finished its reset and pause: nothing left `resetting`.
    for (const auto& i : views) {
      INFO("instance " << i.id << " " << i.state);
      CHECK((i.state == "paused" || i.state == "ready"));
      containers_before.insert(i.container);
    }
    CHECK(store.allocations(Show::Current).empty());
    const auto problems = drill::inconsistencies(views, {}, engine.list({{engine::kManagerLabel, manager_id}}));
    INFO(drill::joined(problems));
    CHECK(problems.empty());
  }
  CHECK(containers_before.size() >= 3);

  const auto lines = log_lines(log);
  for (int k = 0; k < 3; ++k) {
    CHECK(logged(lines, "drill9-alloc-" + std::to_string(k), "POST /allocations 201"));
    CHECK(logged(lines, "drill9-release-" + std::to_string(k), "DELETE /allocations/" + allocations[k] + " 200"));
  }

  // The next start adopts the same containers, creating none.
  args.push_back("--remove-on-exit");
  drill::ManagerProcess second(args, log);
  second.start();
  {
    const bool ready = test::Stack::eventually([&] { return paused_pool(containers_before.size()); }, 60s);
    INFO("last /instances: " << last_seen << "\nlog:\n" << tail_of(log));
    REQUIRE(ready);
  }
  std::set<std::string> containers_after;
  for (const auto& c : engine.list({{engine::kManagerLabel, manager_id}})) containers_after.insert(c.id);
  CHECK(containers_after == containers_before);
  auto held = client.Post("/allocations", "{}", "application/json");
  REQUIRE(held);
  REQUIRE(held->status == 201);

  // --remove-on-exit: the containers go, the records say so.
  CHECK(second.stop(SIGINT, 30s) == 0);
  CHECK(engine.list({{engine::kManagerLabel, manager_id}}).empty());
  SqliteStore store(data_dir + "/warmpool.db");
  CHECK(store.instances(Show::Current).empty());
  CHECK(store.allocations(Show::Current).empty());
}
