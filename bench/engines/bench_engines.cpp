// The several-engines goal, run on demand: one manager (in this process)
// over three engines, the running one (a) and two private dockerds (b, c).
//  1. placement: 24 instances, capacity 24 each: 24/0/0 under pack, 8/8/8
//     under spread;
//  2. b's dockerd SIGKILLed after about 60 of 200 hand-outs by 32 clients
//     (paused instances, so a hand-out needs its engine): no hand-out of a
//     dead worker, no answer but 201 and the documented 503, 24 idle on a
//     and c within 10 s of the kill;
//  3. b restarted: how long from its start until it is seen up, and from
//     then until every record is settled (adopted, or cleaned and
//     replaced), against one scheduler period.
// Prints the figures; exit 1 when a goal is missed.
//
//   bench_engines [--engine unix:///...] [--clients 32 --hand-outs 200 --period-ms 1000]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <signal.h>
#include <unistd.h>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/app.hpp"
#include "common.hpp"

using namespace warmpool;
using namespace warmpool::bench;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

constexpr const char* kImage = "warmpool/pi-worker:latest";

struct Settings {
  std::string engine;  // the running engine (a)
  int clients = 32;
  int hand_outs = 200;
  int kill_after = 60;
  int period_ms = 1000;
  int port_first = 11100;  // worker ports 11100-11199
};

// A private dockerd from tests/scheduler/second-engine, stopped by its pid.
class PrivateEngine {
 public:
  PrivateEngine(std::string shared, const std::string& name)
      : shared_(std::move(shared)), dir_("/tmp/wp-be-" + name + "-" + std::to_string(::getpid())) {
    start();
  }
  ~PrivateEngine() { run("clean"); }
  std::string endpoint() const { return "unix://" + dir_ + "/docker.sock"; }
  void start() {
    if (run("start") != 0) throw std::runtime_error("second-engine start " + dir_ + " failed");
  }
  void stop() { run("stop"); }
  void kill_dockerd() {
    std::ifstream pidfile(dir_ + "/dockerd.pid");
    int pid = 0;
    if (!(pidfile >> pid) || pid <= 1 || ::kill(pid, SIGKILL) != 0)
      throw std::runtime_error("cannot SIGKILL the dockerd of " + dir_);
  }

 private:
  int run(const std::string& command) {
    const std::string line = "DOCKER_HOST='" + shared_ + "' '" SECOND_ENGINE_SCRIPT "' " + command + " '" + dir_ +
                             "' " + kImage + " >/dev/null";
    return std::system(line.c_str());
  }
  const std::string shared_;
  const std::string dir_;
};

Config three_engines(const Settings& s, const std::string& b, const std::string& c, const std::string& placement) {
  Config cfg;
  cfg.manager_id = "bench-engines-" + std::to_string(::getpid());
  cfg.insecure = true;
  cfg.data_dir = "/tmp/warmpool-" + cfg.manager_id + "-" + placement;
  cfg.engines = {"a=" + s.engine + ",capacity=24", "b=" + b + ",capacity=24", "c=" + c + ",capacity=24"};
  cfg.placement = placement;
  cfg.max_instances = 40;
  cfg.min_idle = 24;
  cfg.max_idle = 40;
  cfg.keep_running = 0;  // paused: a hand-out needs its engine to unpause
  cfg.pool_policy = "fixed";
  cfg.pause_grace_ms = 0;
  cfg.pause_via = "engine";
  cfg.host_limit = 1.0;
  cfg.scheduler_period_ms = s.period_ms;
  cfg.normal_threads = 8;
  cfg.port_first = s.port_first;
  cfg.port_last = s.port_first + 99;
  return cfg;
}

// The manager in this process, its containers removed at the end.
class Manager {
 public:
  explicit Manager(Config config) : app(std::make_unique<App>(std::move(config))) {
    port = app->serve_in_background();
    app->start_scheduling();
  }
  ~Manager() {
    app->stop();
    for (const auto& c : app->engines.set.list({{engine::kManagerLabel, app->config.manager_id}})) {
      try {
        app->engines.set.remove(c.id);
      } catch (const std::exception&) {
      }
    }
    std::filesystem::remove_all(app->config.data_dir);
  }
  std::map<std::string, int> live_by_engine(bool idle_only = false) {
    std::map<std::string, int> n;
    for (const auto& i : app->store.instances(Show::Current))
      if (!idle_only || is_idle(i.state)) ++n[i.engine];
    return n;
  }
  int idle(const std::string& but = "") {
    int n = 0;
    for (const auto& [name, count] : live_by_engine(true)) n += name == but ? 0 : count;
    return n;
  }
  // Every record idle or allocated, and no operation under way.
  bool settled() {
    for (const auto& i : app->store.instances(Show::Current))
      if (!is_idle(i.state) && i.state != InstanceState::Allocated) return false;
    return app->pool.claimed().empty();
  }
  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    return c;
  }

  std::unique_ptr<App> app;
  int port = 0;
};

std::string placed(std::map<std::string, int> n) {
  return std::to_string(n["a"]) + "/" + std::to_string(n["b"]) + "/" + std::to_string(n["c"]);
}

struct Run {
  std::atomic<int> next{0}, created{0}, refused_503{0}, other{0}, dead{0};
};

// One client: hand-outs until `run.next` reaches the total, each pinged
// at its worker and released.
void client_loop(Manager& m, Run& run, int total) {
  auto client = m.client();
  while (run.next++ < total) {
    auto r = client.Post("/allocations", R"({"timeout_ms":5000})", "application/json");
    if (!r) { ++run.other; continue; }
    if (r->status == 503) { ++run.refused_503; continue; }
    if (r->status != 201) { ++run.other; std::fprintf(stderr, "answer %d: %s\n", r->status, r->body.c_str()); continue; }
    ++run.created;
    const json a = json::parse(r->body);
    httplib::Client worker("http://" + a["endpoint"].get<std::string>());
    worker.set_connection_timeout(1, 0);
    worker.set_read_timeout(2, 0);
    auto ping = worker.Get("/ping");
    if (!ping || ping->status != 200) ++run.dead;
    client.Delete("/allocations/" + a["id"].get<std::string>());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // the figures show as they come, also in a file
  Settings s;
  const char* host = std::getenv("DOCKER_HOST");
  s.engine = host ? host : "unix:///var/run/docker.sock";
  CLI::App cli("The several-engines goal: placement, one engine killed under load, and its return");
  cli.add_option("--engine", s.engine, "The running engine (a); b and c are private dockerds")->capture_default_str();
  cli.add_option("--clients", s.clients, "Clients at once")->capture_default_str()->check(CLI::Range(1, 1000));
  cli.add_option("--hand-outs", s.hand_outs, "Hand-outs in all")->capture_default_str()->check(CLI::Range(1, 100000));
  cli.add_option("--kill-after", s.kill_after, "Hand-outs begun before b's dockerd is killed")->capture_default_str();
  cli.add_option("--period-ms", s.period_ms, "--scheduler-period-ms")->capture_default_str()->check(CLI::Range(100, 60000));
  cli.add_option("--port-first", s.port_first, "First of 100 worker ports")->capture_default_str()->check(CLI::Range(1024, 32668));
  CLI11_PARSE(cli, argc, argv);

  bool ok = true;
  auto goal = [&ok](bool met, const char* what) {
    std::printf("  %s: %s\n", what, met ? "met" : "MISSED");
    ok &= met;
  };
  try {
    PrivateEngine b(s.engine, "b"), c(s.engine, "c");
    {
      Manager pack(three_engines(s, b.endpoint(), c.endpoint(), "pack"));
      const bool up = Manager::eventually([&] { return pack.settled() && pack.idle() >= 24; }, 180s);
      std::printf("pack:   %s\n", placed(pack.live_by_engine()).c_str());
      goal(up && pack.live_by_engine() == std::map<std::string, int>{{"a", 24}}, "24/0/0 under pack");
    }
    Manager m(three_engines(s, b.endpoint(), c.endpoint(), "spread"));
    const bool up = Manager::eventually([&] { return m.settled() && m.idle() >= 24; }, 180s);
    std::printf("spread: %s\n", placed(m.live_by_engine()).c_str());
    goal(up && m.live_by_engine() == std::map<std::string, int>{{"a", 8}, {"b", 8}, {"c", 8}}, "8/8/8 under spread");

    Run run;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> clients;
    for (int t = 0; t < s.clients; ++t) clients.emplace_back([&] { client_loop(m, run, s.hand_outs); });
    while (run.next < s.kill_after && run.next < s.hand_outs) std::this_thread::sleep_for(1ms);
    const auto killed_at = std::chrono::steady_clock::now();
    b.kill_dockerd();
    for (auto& t : clients) t.join();
    const double run_s = ms_since(started) / 1000;
    const bool back = Manager::eventually([&] { return m.idle("b") >= 24; }, 60s);
    const double back_s = ms_since(killed_at) / 1000;
    std::printf("%d hand-outs, %d clients, b killed after %d: %.1f s; 201 %d, 503 %d, other %d, dead workers %d; "
                "24 idle on a and c %.1f s after the kill\n",
                s.hand_outs, s.clients, s.kill_after, run_s, run.created.load(), run.refused_503.load(),
                run.other.load(), run.dead.load(), back_s);
    goal(run.other == 0, "no answer but 201 and 503");
    goal(run.dead == 0, "no dead worker handed out");
    goal(back && back_s < 10, "24 idle on the other two within 10 s");

    b.stop();  // the containerd the killed dockerd left behind, and its containers
    const auto restarted = std::chrono::steady_clock::now();
    b.start();
    const double answered_s = ms_since(restarted) / 1000;
    const bool seen = Manager::eventually([&] { return m.app->engines.set.engine_up("b"); }, 60s);
    const auto seen_at = std::chrono::steady_clock::now();
    const bool settled = seen && Manager::eventually([&] { return m.settled(); }, 120s);
    const double settle_s = ms_since(seen_at) / 1000;
    std::printf("b restarted: answered %.1f s after its start began, seen up %.1f s later, every record settled "
                "%.1f s after that (scheduler period %.1f s); now %s\n",
                answered_s, std::chrono::duration<double>(seen_at - restarted).count() - answered_s, settle_s,
                s.period_ms / 1000.0, placed(m.live_by_engine()).c_str());
    goal(settled && settle_s * 1000 <= s.period_ms, "settled within one scheduler period of being seen up");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engines: %s\n", e.what());
    return 2;
  }
  return ok ? 0 : 1;
}
