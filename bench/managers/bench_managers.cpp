// The several-managers goal, run on demand: two `warmpool serve` on one
// PostgreSQL database and the real engine, many hand-outs from many clients
// split across both (each released, every other one on the other manager),
// the leader SIGKILLed in the middle. It prints, and checks:
//  - instances held by two allocations at once: from the records
//    (overlapping [createdAt, deletedAt) per instance) and from the workers
//    (each client asks its worker GET /init with its session token when
//    handed the instance and again before releasing it: a second holder's
//    hand-out would have given the worker another token);
//  - how long the survivor took to lead (its /health) and to have the pool
//    back at its size;
//  - allocations lost: a 201 without a record, or a record without a 201
//    that is still current;
//  - 5xx answers by kind (detail). Exit 1 when a check fails.
//
//   bench_managers --database "$WARMPOOL_DATABASE_URL" [--hand-outs 10000 --clients 200]
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "engine/docker_engine.hpp"
#include "managers/rig.hpp"

using namespace warmpool;
using namespace warmpool::bench;
using namespace std::chrono_literals;

namespace {

// Everything the clients saw, shared.
struct Tally {
  std::mutex mu;
  std::map<std::string, std::int64_t> made;     // 201s: allocation id -> instance
  std::map<std::string, int> server_errors;     // 5xx by status and detail
  std::vector<std::string> violations;          // two holders seen from the workers (the first 50)
  int violation_count = 0;
  std::vector<std::string> failures;            // anything else a user could not rely on
  std::vector<double> hand_out_ms;
  int cut_by_kill = 0;                          // requests in flight on the killed manager
  std::atomic<int> done{0};
  void add(std::vector<std::string>& to, const std::string& what) {
    std::lock_guard lock(mu);
    if (&to == &violations) ++violation_count;
    if (to.size() < 50) to.push_back(what);
    else if (to.size() == 50) to.push_back("...");
  }
};

struct Kill {
  std::atomic<int> victim{-1};
  bool dead(int k) const { return victim == k; }
};

std::string kind_of(const httplib::Response& r) {
  std::string detail;
  try {
    detail = json::parse(r.body).value("detail", "");
  } catch (const std::exception&) {
    detail = r.body;
  }
  // The reason without the ids and figures after it.
  const auto colon = detail.find(':');
  return std::to_string(r.status) + " " + detail.substr(0, std::min<std::size_t>(colon, 80));
}

// The worker answers `token` (GET /init with it as a bearer token).
std::optional<int> worker_status(const std::string& endpoint, const std::string& token) {
  const auto colon = endpoint.rfind(':');
  auto r = call(endpoint.substr(0, colon), std::stoi(endpoint.substr(colon + 1)), "GET", "/init", {}, token);
  if (!r) return std::nullopt;
  return r->status;
}

// Releases `id`, on manager `on` unless it was killed; retries a 503
// (the database or the leader moving) for a while.
bool release(Managers& m, Kill& kill, Tally& t, int on, const std::string& id) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (kill.dead(on)) on = 1 - on;
    auto r = call("127.0.0.1", m.port[on], "DELETE", "/allocations/" + id);
    if (r && r->status == 200) return true;
    if (r && r->status >= 500) {
      std::lock_guard lock(t.mu);
      ++t.server_errors["DELETE " + kind_of(*r)];
    } else if (r) {
      t.add(t.failures, "DELETE " + id + " answered " + std::to_string(r->status) + ": " + r->body);
      return false;
    } else if (!kill.dead(on)) {
      t.add(t.failures, "DELETE " + id + ": no answer from a live manager");
    }
    std::this_thread::sleep_for(200ms);
  }
  t.add(t.failures, "DELETE " + id + " never succeeded");
  return false;
}

// One hand-out as a client does it: allocate, check the worker answers the
// session's token, hold, check again, release.
void hand_out(Managers& m, Kill& kill, Tally& t, int client, int n) {
  int on = (client + n) % 2;
  if (kill.dead(on)) on = 1 - on;
  const std::string body = R"({"client":"goal-)" + std::to_string(::getpid()) + "-" + std::to_string(client) + R"(","timeout_ms":30000,"lease_seconds":)" +
                           std::to_string(kLeaseSeconds) + "}";
  const auto start = Steady::now();
  auto r = call("127.0.0.1", m.port[on], "POST", "/allocations", body);
  if (!r && kill.dead(on)) {  // cut by the kill: the client asks the other
    {
      std::lock_guard lock(t.mu);
      ++t.cut_by_kill;
    }
    on = 1 - on;
    r = call("127.0.0.1", m.port[on], "POST", "/allocations", body);
  }
  const double ms = bench::ms_since(start);
  if (!r) return t.add(t.failures, "POST /allocations: no answer from a live manager");
  if (r->status >= 500) {
    std::lock_guard lock(t.mu);
    ++t.server_errors["POST " + kind_of(*r)];
    return;
  }
  if (r->status != 201) return t.add(t.failures, "POST /allocations answered " + std::to_string(r->status) + ": " + r->body);
  const auto a = json::parse(r->body);
  const std::string id = a["id"], endpoint = a["endpoint"], token = a["token"];
  {
    std::lock_guard lock(t.mu);
    t.made[id] = a["instance"].get<std::int64_t>();
    t.hand_out_ms.push_back(ms);
  }
  const std::string where = "instance " + std::to_string(a["instance"].get<std::int64_t>()) + " (" + id + ", from manager " +
                            std::to_string(on) + (kill.victim >= 0 ? ", after the kill)" : ")");
  auto answer = [](std::optional<int> status) { return status ? std::to_string(*status) : std::string("no answer"); };
  if (auto w = worker_status(endpoint, token); w != 200)
    t.add(t.violations, where + ": its worker answered a fresh token " + answer(w));
  std::this_thread::sleep_for(5ms);
  if (auto w = worker_status(endpoint, token); w != 200)
    t.add(t.violations, where + ": its worker answered the token while held " + answer(w));
  // Every other hand-out is released on the other manager.
  if (release(m, kill, t, n % 2 == 0 ? 1 - on : on, id)) ++t.done;
}

// Kills the leader once half the hand-outs are done; measures the takeover.
struct Takeover {
  double lead_ms = -1, pool_ms = -1;
};
Takeover kill_leader(Managers& m, Kill& kill, Tally& t, const GoalSettings& s, const std::atomic<bool>& over) {
  Takeover out;
  while (!over && t.done < s.hand_outs / 2) std::this_thread::sleep_for(10ms);
  if (over) return out;
  int leader = -1;
  for (int k = 0; k < 2 && leader < 0; ++k)
    if (m.leading(k) == true) leader = k;
  if (leader < 0) {
    t.add(t.failures, "no manager said it leads when the kill was due");
    return out;
  }
  const int survivor = 1 - leader;
  kill.victim = leader;
  ::kill(m.pid(leader), SIGKILL);
  const auto killed = Steady::now();
  std::printf("SIGKILL manager %d (the leader, pid %d) after %d hand-outs\n", leader, m.pid(leader), t.done.load());
  while (Steady::now() - killed < 60s && m.leading(survivor) != true) std::this_thread::sleep_for(20ms);
  if (m.leading(survivor) == true) out.lead_ms = bench::ms_since(killed);
  while (Steady::now() - killed < 60s && m.live(survivor) < s.pool) std::this_thread::sleep_for(50ms);
  if (m.live(survivor) >= s.pool) out.pool_ms = bench::ms_since(killed);
  return out;
}

// Every allocation this run made, from the records (paged).
std::vector<json> records(Managers& m, int k) {
  std::vector<json> out;
  std::string path = "/allocations?show=all&limit=10000";
  while (!path.empty()) {
    auto r = call("127.0.0.1", m.port[k], "GET", path);
    if (!r || r->status != 200) throw std::runtime_error("GET " + path + " failed");
    for (auto& a : json::parse(r->body))
      if (a["client"].get<std::string>().rfind("goal-" + std::to_string(::getpid()) + "-", 0) == 0) out.push_back(a);
    path.clear();
    const std::string link = r->get_header_value("Link");
    if (const auto lt = link.find('<'), gt = link.find('>'); lt != std::string::npos && gt != std::string::npos)
      path = link.substr(lt + 1, gt - lt - 1);
  }
  return out;
}

// Pairs of allocations of one instance whose spans overlap.
int overlaps(const std::vector<json>& all, std::vector<std::string>& where) {
  std::map<std::int64_t, std::vector<const json*>> by_instance;
  for (const auto& a : all) by_instance[a["instance"].get<std::int64_t>()].push_back(&a);
  int n = 0;
  for (auto& [instance, list] : by_instance) {
    std::sort(list.begin(), list.end(),
              [](const json* x, const json* y) { return (*x)["createdAt"] < (*y)["createdAt"]; });
    for (std::size_t k = 1; k < list.size(); ++k) {
      const json& prev = *list[k - 1];
      if (prev["deletedAt"].is_null() || (*list[k])["createdAt"] < prev["deletedAt"]) {
        ++n;
        if (where.size() < 20) where.push_back("instance " + std::to_string(instance) + ": " +
                                               prev["id"].get<std::string>() + " and " +
                                               (*list[k])["id"].get<std::string>());
      }
    }
  }
  return n;
}

void list(const char* title, const std::vector<std::string>& items) {
  for (const auto& i : items) std::printf("  %s: %s\n", title, i.c_str());
}

// What the records say once every client is done.
struct Checked {
  std::size_t records = 0;
  int lost = 0;                 // 201s without a record
  int without_201 = 0;          // records without a 201 (hand-outs the kill cut off)
  std::vector<std::string> unexplained;  // of those, still current after their lease
  std::vector<std::string> overlap_at;
  int overlapping = 0;
};

Checked check_records(Managers& m, Kill& kill, Tally& t, int survivor) {
  Checked c;
  const auto all = records(m, survivor);
  c.records = all.size();
  std::set<std::string> recorded;
  std::vector<std::string> waiting;  // current records without a 201: their lease ends them
  for (const auto& a : all) {
    const std::string id = a["id"];
    recorded.insert(id);
    if (t.made.count(id)) continue;
    ++c.without_201;
    if (a["deletedAt"].is_null()) waiting.push_back(id);
    else std::printf("  no 201 (cut by the kill), ended: %s: %s\n", id.c_str(), a["endReason"].dump().c_str());
  }
  const auto lease_end = Steady::now() + std::chrono::seconds(kLeaseSeconds + 5);
  for (const auto& id : waiting) {
    std::optional<json> a;
    while ((a = m.get(survivor, "/allocations/" + id)) && (*a)["deletedAt"].is_null() && Steady::now() < lease_end)
      std::this_thread::sleep_for(200ms);
    if (a && !(*a)["deletedAt"].is_null()) {
      std::printf("  no 201 (cut by the kill), ended: %s: %s\n", id.c_str(), (*a)["endReason"].dump().c_str());
      continue;
    }
    c.unexplained.push_back(id + " (current after its lease, no 201)");
    release(m, kill, t, survivor, id);  // so that the pool is whole again
  }
  for (const auto& [id, instance] : t.made) c.lost += !recorded.count(id);
  c.overlapping = overlaps(all, c.overlap_at);
  return c;
}

// Prints the figures; true when every check passed.
bool report(const GoalSettings& s, Tally& t, const Checked& c, const Takeover& takeover, double seconds,
            int idle_at_end) {
  std::printf("\n%d hand-outs released in %.1f s (%.0f/s), %zu records; hand-out p50 %.1f ms, p99 %.1f ms\n",
              t.done.load(), seconds, t.done / seconds, c.records, bench::percentile(t.hand_out_ms, 0.5),
              bench::percentile(t.hand_out_ms, 0.99));
  std::printf("held by two at once: %d from the records, %d from the workers\n", c.overlapping, t.violation_count);
  list("records", c.overlap_at);
  list("workers", t.violations);
  std::printf("takeover: the survivor led %.0f ms after the SIGKILL, the pool was back at %d live instances after "
              "%.0f ms\n", takeover.lead_ms, s.pool, takeover.pool_ms);
  std::printf("allocations: %d 201s without a record; %d records without a 201, %zu of them still current after "
              "their lease; %d requests cut by the kill (asked again on the survivor)\n",
              c.lost, c.without_201, c.unexplained.size(), t.cut_by_kill);
  list("unexplained", c.unexplained);
  int undocumented_5xx = 0;
  std::printf("5xx by kind:%s\n", t.server_errors.empty() ? " none" : "");
  for (const auto& [kind, count] : t.server_errors) {
    const bool documented = kind.find(" 503 ") != std::string::npos &&
                            (kind.find("database") != std::string::npos || kind.find("lead") != std::string::npos);
    undocumented_5xx += documented ? 0 : count;
    std::printf("  %6d  %s%s\n", count, kind.c_str(), documented ? "" : "  (not documented)");
  }
  std::printf("other failures: %zu\n", t.failures.size());
  list("failure", t.failures);
  std::printf("idle instances once done: %d of %d\n", idle_at_end, s.pool);
  const bool ok = c.overlapping == 0 && t.violation_count == 0 && c.lost == 0 && c.unexplained.empty() &&
                  undocumented_5xx == 0 && t.failures.empty() && takeover.lead_ms >= 0 && takeover.lead_ms <= 5000 &&
                  takeover.pool_ms >= 0 && takeover.pool_ms <= 5000 && t.done == s.hand_outs &&
                  idle_at_end == s.pool;
  std::printf("%s\n", ok ? "GOAL MET" : "GOAL NOT MET");
  return ok;
}

// The clients' hand-outs, with the leader killed midway; returns seconds.
double run_clients(Managers& m, Kill& kill, Tally& t, const GoalSettings& s, Takeover& takeover) {
  std::atomic<int> next{0};
  std::atomic<bool> over{false};
  const auto start = Steady::now();
  const auto give_up = start + std::chrono::seconds(s.time_limit_s);
  std::thread killer([&] { takeover = kill_leader(m, kill, t, s, over); });
  std::vector<std::thread> clients;
  for (int c = 0; c < s.clients; ++c)
    clients.emplace_back([&, c] {
      for (int n = 0; Steady::now() < give_up; ++n) {
        if (next++ >= s.hand_outs) return;
        hand_out(m, kill, t, c, n);
      }
    });
  for (auto& c : clients) c.join();
  over = true;
  killer.join();
  return bench::ms_since(start) / 1000;
}

int run_goal(GoalSettings s) {
  FreshDatabase database(s.database);
  s.database = database.url();
  Managers m(s);
  const auto ready_by = Steady::now() + 120s;
  while (Steady::now() < ready_by &&
         !(m.leading(0).has_value() && m.leading(1).has_value() && m.idle(0) >= s.pool))
    std::this_thread::sleep_for(200ms);
  if (m.idle(0) < s.pool) throw std::runtime_error("the pool did not fill within 120 s");
  std::printf("two managers on ports %d and %d, pool of %d ready; %d hand-outs from %d clients\n", m.port[0],
              m.port[1], s.pool, s.hand_outs, s.clients);
  Tally t;
  Kill kill;
  Takeover takeover;
  const double seconds = run_clients(m, kill, t, s, takeover);
  const int survivor = kill.victim >= 0 ? 1 - kill.victim : 0;
  const Checked checked = check_records(m, kill, t, survivor);
  const auto whole_by = Steady::now() + 30s;
  while (Steady::now() < whole_by && m.idle(survivor) < s.pool) std::this_thread::sleep_for(200ms);
  const bool ok = report(s, t, checked, takeover, seconds, m.idle(survivor));

  auto options = engine::DockerEngine::Options::from_env();
  options.endpoint = s.engine;
  engine::DockerEngine engine(options);
  m.stop();  // first: a running manager would recreate what is removed
  for (const auto& c : engine.list({{engine::kManagerLabel, m.id()}})) engine.remove(c.id);
  std::printf("manager logs: %s\n", m.dir().c_str());
  return ok ? 0 : 1;
}

}  // namespace
int main(int argc, char** argv) {
  GoalSettings s;
  CLI::App app{"Two managers on one PostgreSQL: hand-outs split across both, the leader SIGKILLed midway"};
  app.add_option("--database", s.database, "postgresql:// URL of the shared database (scripts/postgres env)")
      ->required();
  app.add_option("--engine", s.engine, "Docker engine endpoint (default: $DOCKER_HOST)");
  app.add_option("--hand-outs", s.hand_outs, "Hand-outs in all")->check(CLI::Range(100, 100'000));
  app.add_option("--clients", s.clients, "Concurrent clients")->check(CLI::Range(2, 1000));
  app.add_option("--pool", s.pool, "Instances in the pool")->check(CLI::Range(2, 64));
  app.add_option("--port-first", s.port_first, "First port: two managers' APIs, then the workers' range")
      ->check(CLI::Range(1024, 65000));
  app.add_option("--time-limit", s.time_limit_s, "Seconds the hand-outs may take in all")->check(CLI::Range(10, 3600));
  CLI11_PARSE(app, argc, argv);
  if (s.engine.empty()) {
    const char* host = std::getenv("DOCKER_HOST");
    s.engine = host ? host : "unix:///var/run/docker.sock";
  }
  try {
    return run_goal(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_managers: %s\n", e.what());
    return 2;
  }
}
