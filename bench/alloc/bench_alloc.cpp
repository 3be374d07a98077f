// bench_alloc: what a warm hand-out costs through the whole manager (HTTP,
// high lane, unpause, reset, ping, SQLite commit) against the floor it cannot
// beat: a raw unpause plus the first answered ping, through the same engine
// client, measured in the same run at the same concurrency.
//
//   bench_alloc [--rounds 10] [--clients 32] [--cycle-seconds 10] [--port-base 25000]
//   bench_alloc --database postgresql://... [--rounds 10] [--clients 32] [--port-first 35800]
//   bench_alloc --tls-engine tcp://127.0.0.1:17376 --tls-cert-dir DIR [--rounds 10] [--clients 8]
//   bench_alloc --pool NAME [--rounds 10] [--clients 8]
//
// With --database it measures one thing: running-idle hand-outs with the
// records in SQLite against the same with the records in PostgreSQL, in the
// same run. The URL names a server and a database to connect to first; the
// bench makes its own fresh database beside it and drops it at the end.
//
// With --pool it measures one thing: running-idle hand-outs from a second
// pool NAME (added through POST /pools: the same image and shape, ports of
// its own) against those from `default`, in alternating rounds of one run.
//
// With --tls-engine it measures one thing too: paused hand-outs (the engine's
// unpause) through the unix-socket engine against the same through a TCP
// engine with TLS (scripts/engine-tls), in the same run.
#include <unistd.h>

#include <barrier>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "app/app.hpp"
#include "common.hpp"
#include "rig.hpp"
#include "store_pg/pg_conn.hpp"

using namespace warmpool;
using namespace warmpool::bench;

namespace {

// A session's init of 10 files, 64 KiB together.
std::string init_body() {
  nlohmann::json files = nlohmann::json::object();
  for (int i = 0; i < 10; ++i) files["dir/file-" + std::to_string(i) + ".txt"] = std::string(6554, 'a' + i);
  return nlohmann::json{{"timeout_ms", 30000}, {"init", {{"files", files}, {"env", {{"USER_NAME", "bench"}}}}}}.dump();
}

// The floor: `clients` containers of the rig's own pool, paused; each thread
// unpauses one and pings until it answers, all at once.
Summary raw_unpause(Rig& rig, int clients, int rounds) {
  App& app = rig.app();
  std::vector<Instance> paused;
  for (const auto& i : app.store.instances(Show::Current)) {
    if (i.state != InstanceState::Paused || static_cast<int>(paused.size()) == clients) continue;
    // The scheduler's health check may hold it for a moment.
    while (!app.pool.claim(i.id)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    paused.push_back(i);
  }
  if (static_cast<int>(paused.size()) < clients) throw std::runtime_error("not enough paused instances");
  Summary s;
  std::mutex mu;
  for (int round = 0; round < rounds; ++round) {
    std::barrier start(clients);
    std::vector<std::thread> threads;
    for (const auto& instance : paused) {
      threads.emplace_back([&, instance] {
        start.arrive_and_wait();
        const auto t0 = std::chrono::steady_clock::now();
        app.engine.unpause(instance.container_id);
        for (;;) {
          try {
            app.worker.ping(instance.endpoint(), std::chrono::milliseconds(1000));
            break;
          } catch (const WorkerError&) {
          }
        }
        const double ms = ms_since(t0);
        std::lock_guard lock(mu);
        s.samples.push_back(ms);
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& instance : paused) app.engine.pause(instance.container_id);
  }
  for (const auto& instance : paused) app.pool.unclaim(instance.id);
  return s;
}

double cycles_per_second(Rig& rig, int clients, double seconds) {
  std::atomic<long> cycles{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&] {
      auto c = rig.client();
      while (!stop) {
        release(c, allocate(c));
        ++cycles;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return static_cast<double>(cycles) / seconds;
}

// `url` with its database name replaced: postgresql://auth/NAME?params.
std::string with_database(const std::string& url, const std::string& name) {
  const auto authority = url.find("://");
  if (authority == std::string::npos) throw std::runtime_error("--database: not a postgresql:// URL");
  const auto slash = url.find('/', authority + 3);
  const auto query = url.find('?', authority + 3);
  const std::string head = url.substr(0, std::min(slash, query));
  return head + "/" + name + (query == std::string::npos ? "" : url.substr(query));
}

// A database of its own on the server `url` names, dropped at the end.
class FreshDatabase {
 public:
  explicit FreshDatabase(const std::string& url)
      : server_(url), name_("warmpool_bench_" + std::to_string(::getpid())) {
    admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    admin("CREATE DATABASE " + name_);
  }
  ~FreshDatabase() {
    try {
      admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dropping %s: %s\n", name_.c_str(), e.what());
    }
  }
  std::string url() const { return with_database(server_, name_); }

 private:
  void admin(const std::string& sql) {
    PgConn conn(server_);
    conn.locked("bench database", [&] {
      conn.script(sql);
      return 0;
    });
  }
  std::string server_, name_;
};

// Running-idle hand-outs on SQLite and on PostgreSQL, same pool shape, both
// managers up at once and their rounds alternating, so that both see the
// same machine (others' builds come and go).
// The SQLite pool's workers listen from port_first, the PostgreSQL pool's
// from port_first + 100.
void compare_databases(const std::string& url, int clients, int rounds, int port_first) {
  if (clients + 10 >= 100) throw std::runtime_error("--database: at most 89 clients");
  FreshDatabase db(url);
  Config pg_config = bench_config(clients, clients, port_first + 100);
  pg_config.database = db.url();
  Rig sqlite(bench_config(clients, clients, port_first));
  Rig pg(pg_config);
  Summary sqlite1, sqlite_n, pg1, pg_n;
  auto add = [](Summary& to, const Summary& from) {
    to.samples.insert(to.samples.end(), from.samples.begin(), from.samples.end());
  };
  for (int round = 0; round < rounds; ++round) {
    add(sqlite1, hand_out(sqlite, 1, 4));
    add(pg1, hand_out(pg, 1, 4));
    add(sqlite_n, hand_out(sqlite, clients, 1));
    add(pg_n, hand_out(pg, clients, 1));
  }
  const std::string n = std::to_string(clients);
  std::printf("running-idle hand-out latency, ms, records in SQLite (baseline) and in PostgreSQL\n");
  std::printf("%-44s %9s %9s %11s %11s\n", "", "p50", "p99", "p50/base", "p99/base");
  row("SQLite, 1 client", sqlite1, sqlite1);
  row(("SQLite, " + n + " clients").c_str(), sqlite_n, sqlite_n);
  row("PostgreSQL, 1 client", pg1, sqlite1);
  row(("PostgreSQL, " + n + " clients").c_str(), pg_n, sqlite_n);
  std::printf("\ngoal: PostgreSQL p50 within 1.5x of SQLite's\n");
}

// Waits until both pools hold `n` running-idle instances and nothing is in flight.
void wait_pools_settled(App& app, const std::string& other, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  Pool* second = app.pools.find(other);
  while (std::chrono::steady_clock::now() < deadline) {
    std::map<std::string, int> ready;
    for (const auto& i : app.store.instances(Show::Current)) ready[i.pool] += i.state == InstanceState::Ready;
    if (ready[kDefaultPool] == n && ready[other] == n && app.pool.claimed().empty() && second &&
        second->claimed().empty())
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the two pools did not settle within 120 s");
}

// Running-idle hand-outs from `default` and from a second pool of the same
// shape, alternating round by round so that both see the same machine.
void compare_pools(const std::string& name, int clients, int rounds) {
  Config config = bench_config(clients, clients, 19500);  // 19100-19999: the pools tests'
  config.max_instances = 2 * clients;
  Rig rig(config, false);
  auto c = rig.client();
  const nlohmann::json pool = {{"name", name},          {"image", config.image}, {"portFirst", 19700},
                               {"portLast", 19799},     {"minIdle", clients},    {"maxIdle", clients},
                               {"keepRunning", clients}};
  auto r = c.Post("/pools", pool.dump(), "application/json");
  if (!r || r->status != 201) throw std::runtime_error("POST /pools: " + (r ? r->body : httplib::to_string(r.error())));
  wait_pools_settled(rig.app(), name, clients);
  const std::string body = nlohmann::json{{"timeout_ms", 30000}, {"pool", name}}.dump();
  Summary default1, default_n, other1, other_n;
  auto add = [](Summary& to, const Summary& from) { to.samples.insert(to.samples.end(), from.samples.begin(), from.samples.end()); };
  auto settle = [&] { wait_pools_settled(rig.app(), name, clients); };
  for (int round = 0; round < rounds; ++round) {
    add(default1, hand_out(rig, 1, 4, Via::Main, kPlainBody, settle));
    add(other1, hand_out(rig, 1, 4, Via::Main, body, settle));
    add(default_n, hand_out(rig, clients, 1, Via::Main, kPlainBody, settle));
    add(other_n, hand_out(rig, clients, 1, Via::Main, body, settle));
  }
  const std::string n = std::to_string(clients);
  std::printf("running-idle hand-out latency, ms, from `default` (baseline) and from pool %s\n", name.c_str());
  std::printf("%-44s %9s %9s %11s %11s\n", "", "p50", "p99", "p50/base", "p99/base");
  row("default, 1 client", default1, default1);
  row(("default, " + n + " clients").c_str(), default_n, default_n);
  row((name + ", 1 client").c_str(), other1, default1);
  row((name + ", " + n + " clients").c_str(), other_n, default_n);
  std::printf("\ngoal: a hand-out from a second pool costs no more than one from default (p50 <= 1.0x + noise)\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Warm hand-out latency and throughput against a raw unpause baseline"};
  int rounds = 10, clients = 32, port_base = 25000;
  double cycle_seconds = 10;
  cli.add_option("--rounds", rounds, "Rounds per measurement (samples = rounds x clients)")->capture_default_str();
  cli.add_option("--clients", clients, "Concurrent clients of the concurrent run")->capture_default_str();
  cli.add_option("--cycle-seconds", cycle_seconds, "Length of the cycles/s run")->capture_default_str();
  cli.add_option("--port-base", port_base,
                 "The default run's ports: its rigs' workers and managers in [base, base + 700)")
      ->capture_default_str()->check(CLI::Range(1024, 32768 - 700));
  std::string database;
  auto* database_option =
      cli.add_option("--database", database,
                     "Compare SQLite with PostgreSQL only: a postgresql:// URL of a server where the bench may create a database");
  int port_first = 35800;  // 35000-35999: the PostgreSQL tests'
  cli.add_option("--port-first", port_first,
                 "With --database: the first of the 200 worker ports the two pools take")
      ->capture_default_str()
      ->check(CLI::Range(1024, 65535 - 200))
      ->needs(database_option);
  bool init_only = false;
  cli.add_flag("--init-only", init_only, "Only the running-idle hand-out with and without a 64 KiB init");
  std::string tls_engine, tls_cert_dir;
  auto* tls_option = cli.add_option("--tls-engine", tls_engine,
                                    "Compare paused hand-outs through the unix-socket engine ($DOCKER_HOST) with "
                                    "those through this tcp:// engine with TLS only (scripts/engine-tls)");
  cli.add_option("--tls-cert-dir", tls_cert_dir, "The TLS engine's client certificates: ca.pem, cert.pem, key.pem")
      ->needs(tls_option);
  tls_option->needs("--tls-cert-dir");
  std::string pool_name;
  cli.add_option("--pool", pool_name,
                 "Compare running-idle hand-outs from a second pool of this name with those from default only");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  try {
    if (!database.empty()) {
      compare_databases(database, clients, rounds, port_first);
      return 0;
    }
    if (!pool_name.empty()) {
      compare_pools(pool_name, std::min(clients, 8), rounds);
      return 0;
    }
    if (!tls_engine.empty()) {
      compare_engines(tls_engine, tls_cert_dir, clients, rounds);
      return 0;
    }
    std::printf("hand-out latency, ms (each sample: one POST /allocations answered 201)\n");
    std::printf("%-44s %9s %9s %11s %11s\n", "", "p50", "p99", "p50/base", "p99/base");

    {
      // Alternating rounds, so that both see the same machine.
      Rig rig(bench_config(1, 1, port_base + 600));
      Summary plain, with_init;
      const std::string init = init_body();
      for (int round = 0; round < rounds; ++round) {
        const Summary a = hand_out(rig, 1, 4);
        const Summary b = hand_out(rig, 1, 4, Via::Main, init);
        plain.samples.insert(plain.samples.end(), a.samples.begin(), a.samples.end());
        with_init.samples.insert(with_init.samples.end(), b.samples.begin(), b.samples.end());
      }
      row("running-idle hand-out, no init, 1 client", plain, plain);
      row("  the same with init: 10 files, 64 KiB", with_init, plain);
      std::printf("  init costs %.2f ms at p50 (goal: at most 2 ms)\n", with_init.p50() - plain.p50());
      if (init_only) return 0;
    }
    Summary base1, base_n, paused1, paused_n, frozen1, frozen_n, running1, running_n, compat1, compat_n;
    {
      Rig rig(bench_config(clients, 0, port_base));
      base1 = raw_unpause(rig, 1, rounds * 4);
      base_n = raw_unpause(rig, clients, rounds);
      rig.wait_settled();
      paused1 = hand_out(rig, 1, rounds * 4);
      paused_n = hand_out(rig, clients, rounds);
    }
    {
      Rig rig(bench_config(clients, 0, port_base + 300, "freezer"));  // paused through the cgroup freezer
      frozen1 = hand_out(rig, 1, rounds * 4);
      frozen_n = hand_out(rig, clients, rounds);
    }
    {
      Rig rig(bench_config(clients, clients, port_base + 100));
      running1 = hand_out(rig, 1, rounds * 4);
      compat1 = hand_out(rig, 1, rounds * 4, Via::Compat);
      running_n = hand_out(rig, clients, rounds);
      compat_n = hand_out(rig, clients, rounds, Via::Compat);
    }
    const std::string n = std::to_string(clients);
    row("baseline: raw unpause + first ping, 1", base1, base1);
    row(("baseline: raw unpause + first ping, " + n).c_str(), base_n, base_n);
    row("paused hand-out, 1 client", paused1, base1);
    row(("paused hand-out, " + n + " clients").c_str(), paused_n, base_n);
    row("paused (freezer) hand-out, 1 client", frozen1, base1);
    row(("paused (freezer) hand-out, " + n + " clients").c_str(), frozen_n, base_n);
    row("running-idle hand-out, 1 client", running1, base1);
    row(("running-idle hand-out, " + n + " clients").c_str(), running_n, base_n);
    row("  the same through /compat/ptanywhere, 1", compat1, base1);
    row(("  the same through /compat/ptanywhere, " + n).c_str(), compat_n, base_n);

    double cps = 0, cps_freezer = 0;
    {
      Rig rig(bench_config(16, 0, port_base + 200));
      cps = cycles_per_second(rig, 16, cycle_seconds);
    }
    {
      Rig rig(bench_config(16, 0, port_base + 400, "freezer"));
      cps_freezer = cycles_per_second(rig, 16, cycle_seconds);
    }
    double cps_grace = 0;
    {
      Rig rig(bench_config_with_grace(16, port_base + 500));
      cps_grace = cycles_per_second(rig, 16, cycle_seconds);
    }
    std::printf("\nallocate+release cycles/s, pool of 16 (paused between uses), 16 clients: engine %.1f, freezer %.1f\n",
                cps, cps_freezer);
    std::printf("allocate+release cycles/s, pool of 16, 16 clients, default tiers (running through a %d ms grace): %.1f "
                "(%.2fx the engine's pause between uses)\n",
                Config{}.pause_grace_ms, cps_grace, cps > 0 ? cps_grace / cps : 0.0);
    std::printf("\ngoals: paused p50 <= 1.3x and p99 <= 2x baseline at %d clients; running-idle p50 <= 5 ms; >= 80 cycles/s\n",
                clients);
  } catch (const std::exception& e) {
    std::cerr << "bench_alloc: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
