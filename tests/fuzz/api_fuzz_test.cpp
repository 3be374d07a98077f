// A bounded random-input run over every route of the manager's HTTP API, in
// process, on the fake engine (see world.hpp, generator.hpp, oracle.hpp).
//
//   WARMPOOL_FUZZ_SEED       the generator's seed (default: fixed)
//   WARMPOOL_FUZZ_REQUESTS   how many requests (default 2500; unbounded when
//                            only WARMPOOL_FUZZ_SECONDS is given)
//   WARMPOOL_FUZZ_SECONDS    a time budget (default: none)
//   WARMPOOL_FUZZ_VERBOSE=1  one line per sequential request
//   WARMPOOL_FUZZ_DUMP=DIR   the bytes of each failing raw request go to DIR
//
// Most requests go one at a time: the pool settles, the store is
// snapshotted, the request is sent and judged, and a 4xx answer must leave
// the snapshot unchanged. Every 100th step is instead a burst of concurrent
// requests (judged, not compared), and now and then the engine stops
// answering for a while. A sanitizer report or a crash prints the request
// in flight; a failure prints the seed and the request.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "fuzz/generator.hpp"
#include "fuzz/oracle.hpp"
#include "support/raw_http.hpp"
#include "fuzz/spec.hpp"
#include "fuzz/world.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

using namespace warmpool;
using namespace warmpool::fuzz;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kDefaultSeed = 0x5eed'2025'0009ULL;
constexpr std::uint64_t kDefaultRequests = 2000;
constexpr int kBurstThreads = 4;
constexpr int kBurstRequests = 12;  // per thread

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strtoull(v, nullptr, 0);
}

// --- the request in flight, for a crash or a sanitizer report -------------
// Written before each send; read only by the death callback or a signal
// handler, which write it out with write(2).
constexpr std::size_t kSlotBytes = 4096;
char g_in_flight[kBurstThreads + 1][kSlotBytes];
std::uint64_t g_seed = 0;

void note_in_flight(int slot, const std::string& text) {
  const std::size_t n = std::min(text.size(), kSlotBytes - 1);
  std::memcpy(g_in_flight[slot], text.data(), n);
  g_in_flight[slot][n] = '\0';
}

void print_in_flight() {
  static std::atomic<bool> printed{false};
  if (printed.exchange(true)) return;  // ASan's callback, then its abort's SIGABRT
  const char* head = "\n[api_fuzz] died while these requests were in flight:\n";
  (void)!::write(2, head, std::strlen(head));
  for (auto& slot : g_in_flight) {
    if (slot[0]) {
      (void)!::write(2, slot, std::strlen(slot));
      (void)!::write(2, "\n", 1);
    }
  }
}

void on_fatal_signal(int sig) {
  print_in_flight();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_crash_report() {
#if defined(__SANITIZE_ADDRESS__)
  // ASan handles SIGSEGV itself (its stack-overflow and wild-access
  // reports); UBSan aborts (SIGABRT) without calling this callback.
  __sanitizer_set_death_callback(print_in_flight);
  std::signal(SIGABRT, on_fatal_signal);
#else
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_fatal_signal);
#endif
}

// --- figures -------------------------------------------------------------

struct RouteCount {
  int sent = 0;  // with its own method
  int ok = 0;    // 2xx
  int rejected = 0;
};

struct Figures {
  std::mutex mu;
  std::map<std::string, RouteCount> routes;
  std::map<int, int> statuses;
  int requests = 0, raw = 0, compared = 0, concurrent = 0, no_answer = 0;
  std::vector<std::string> failures;

  void count(const Request& r, const Answer& a, const std::vector<Route>& table) {
    std::lock_guard lock(mu);
    ++requests;
    raw += r.raw;
    if (!a.answered) ++no_answer;
    ++statuses[a.answered ? a.status : 0];
    if (r.route >= 0 && !r.head && r.method == table[static_cast<std::size_t>(r.route)].method) {
      auto& c = routes[table[static_cast<std::size_t>(r.route)].name()];
      ++c.sent;
      c.ok += a.status >= 200 && a.status < 300;
      c.rejected += a.status >= 400 && a.status < 500;
    }
  }
  int sent() {
    std::lock_guard lock(mu);
    return requests;
  }
  void fail(const std::string& what) {
    std::lock_guard lock(mu);
    failures.push_back(what);
    std::fprintf(stderr, "%s\n", what.c_str());
  }
};

// `step`: the loop's step (a burst is one step); `sent`: requests sent so far.
// The same seed makes the same requests up to this one as long as the
// manager answers alike (allocation ids are random; bursts interleave).
std::string failure_report(std::uint64_t seed, std::uint64_t step, int sent, const Request& r, const Answer& a,
                           const std::vector<std::string>& problems) {
  std::string out = "[api_fuzz] FAILED at step " + std::to_string(step) + ", request " + std::to_string(sent) +
                    " (seed " + std::to_string(seed) + "; replay: WARMPOOL_FUZZ_SEED=" + std::to_string(seed) +
                    " WARMPOOL_FUZZ_REQUESTS=" + std::to_string(sent) + ")\n";
  for (const auto& p : problems) out += "  problem: " + p + "\n";
  out += "request: " + r.describe() + "answer: " + describe(a) + "\n";
  // The exact bytes, to send again by hand: nc 127.0.0.1 PORT < FILE
  if (const char* dir = std::getenv("WARMPOOL_FUZZ_DUMP"); dir && *dir && r.raw) {
    const std::string path = std::string(dir) + "/request-" + std::to_string(sent) + ".http";
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(r.bytes.data(), 1, r.bytes.size(), f);
      std::fclose(f);
      out += "  (bytes written to " + path + ")\n";
    }
  }
  return out;
}

std::string first_differences(const json& before, const json& after) {
  std::string out;
  const json patch = json::diff(before, after);
  for (std::size_t i = 0; i < patch.size() && i < 4; ++i) out += "\n    " + patch[i].dump().substr(0, 300);
  return out;
}

std::vector<std::string> docs_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::unique_ptr<httplib::Client> client_for(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(2, 0);
  c->set_read_timeout(5, 0);
  c->set_write_timeout(5, 0);
  return c;
}

// The run's world and what the loop keeps about it.
struct Run {
  Run(const std::string& docs, const Spec& spec) : world(std::make_unique<World>(docs)) {
    routes = describe_routes(world->open_server.routes(), spec);
    REQUIRE(world->token_server.routes() == world->open_server.routes());
    connect();
  }
  void renew(const std::string& docs) {
    clients[0].reset();
    clients[1].reset();
    world.reset();
    world = std::make_unique<World>(docs);
    connect();
  }
  void connect() {
    for (int i = 0; i < 2; ++i) clients[i] = client_for(world->port(i));
  }
  std::unique_ptr<World> world;
  std::vector<Route> routes;
  std::unique_ptr<httplib::Client> clients[2];
  std::string last_on_client[2];  // a failure on a kept-alive connection may be the previous request's doing
};

}  // namespace

TEST_CASE("fuzz: every route, bad input of every kind: no crash, a 4xx or a valid 2xx, and a 4xx changes nothing",
          "[fuzz]") {
  const std::uint64_t seed = env_number("WARMPOOL_FUZZ_SEED", kDefaultSeed);
  const std::uint64_t seconds = env_number("WARMPOOL_FUZZ_SECONDS", 0);
  const std::uint64_t requests =
      env_number("WARMPOOL_FUZZ_REQUESTS", seconds > 0 ? UINT64_MAX : kDefaultRequests);
  const bool verbose = env_number("WARMPOOL_FUZZ_VERBOSE", 0) != 0;
  g_seed = seed;
  std::fprintf(stderr, "[api_fuzz] seed %llu, %s requests, %s\n", static_cast<unsigned long long>(seed),
               requests == UINT64_MAX ? "unbounded" : std::to_string(requests).c_str(),
               seconds ? (std::to_string(seconds) + " s budget").c_str() : "no time budget");
  install_crash_report();
  // The outages and injected faults log warnings by the hundred; errors stay.
  spdlog::set_level(spdlog::level::err);

  const std::string docs = WARMPOOL_DOCS_DIR;
  const Spec spec = Spec::load(docs + "/openapi.json");
  const auto files = docs_files(docs);
  Run run(docs, spec);
  Generator gen(run.routes, spec, run.world->open_config.max_body_bytes, seed);
  Figures figures;
  const auto started = Steady::now();
  const auto deadline = seconds ? started + std::chrono::seconds(seconds) : Steady::time_point::max();
  auto down_until = Steady::time_point::min();
  std::uint64_t outage_left = 0;
  constexpr auto kSettle = std::chrono::seconds(10);

  // Where the time goes: settling and snapshots are the oracle's price.
  double t_settle = 0, t_snapshot = 0, t_send = 0, t_burst = 0;
  auto since = [](Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); };

  std::uint64_t i = 0;
  for (; static_cast<std::uint64_t>(figures.requests) < requests && Steady::now() < deadline &&
         figures.failures.size() < 5;
       ++i) {
    World& w = *run.world;

    // --- between requests: the world moves only here -------------------
    if (outage_left > 0 && --outage_left == 0) {
      w.set_engine_reachable(true);
      down_until = Steady::now() + std::chrono::milliseconds(1500);  // /health's cache
      if (auto why = w.recover(kSettle); !why.empty()) figures.fail("[api_fuzz] after an outage: " + why);
    } else if (i % 700 == 350) {
      w.set_engine_reachable(false);
      outage_left = 40;
    }
    if (i % 97 == 0 && w.engine_reachable()) {
      w.clock.advance_ms(static_cast<std::int64_t>(i % 7) * 30'000);  // leases run out now and then
      w.scheduler.tick();
    }
    auto t0 = Steady::now();
    if (auto why = w.settle(kSettle); !why.empty()) {
      figures.fail("[api_fuzz] before request " + std::to_string(i) + ": " + why);
      break;
    }
    // Room for the next hand-out and for the job runner: release the oldest.
    auto current = w.store.allocations(Show::Current);
    for (std::size_t k = 0; k + 2 < current.size(); ++k) w.pool.release(current[k].id, "fuzz: room");
    if (current.size() > 2 && !w.settle(kSettle).empty()) {
      figures.fail("[api_fuzz] releases did not settle before request " + std::to_string(i));
      break;
    }
    t_settle += since(t0);
    t0 = Steady::now();
    const Snapshot before = w.snapshot();
    t_snapshot += since(t0);
    if (before.records() > 150) {
      run.renew(docs);  // snapshots stay cheap
      continue;
    }
    const bool healthy = w.engine_reachable() && outage_left == 0;
    if (healthy) {
      if (auto broken = World::invariants(before); !broken.empty()) {
        std::string text = "[api_fuzz] the pool is inconsistent before request " + std::to_string(i) + ":";
        for (const auto& b : broken) text += "\n  " + b;
        figures.fail(text);
        break;
      }
    }
    const Known known = known_from(before, files);
    const OracleContext context{!w.engine_reachable() || Steady::now() < down_until};

    // --- a burst of concurrent requests --------------------------------
    if (i % 100 == 99) {
      t0 = Steady::now();
      std::vector<std::thread> threads;
      for (int t = 0; t < kBurstThreads; ++t) {
        threads.emplace_back([&, t] {
          Generator g(run.routes, spec, w.open_config.max_body_bytes, seed ^ (i * 7919 + static_cast<std::uint64_t>(t)));
          std::unique_ptr<httplib::Client> clients[2] = {client_for(w.port(0)), client_for(w.port(1))};
          for (int k = 0; k < kBurstRequests; ++k) {
            Request r = g.next(known, {w.port(0), w.port(1)});
            note_in_flight(t + 1, "burst at step " + std::to_string(i) + ", seed " + std::to_string(seed) +
                                      ":\n" + r.describe(300));
            const Answer a = send(r, w.port(r.server), *clients[r.server]);
            g_in_flight[t + 1][0] = '\0';
            figures.count(r, a, run.routes);
            {
              std::lock_guard lock(figures.mu);
              ++figures.concurrent;
            }
            // A concurrent request may find a record the snapshot did not
            // have (or lose one): judge ids and state-dependent answers
            // leniently, everything else as usual.
            if (r.expect == Expect::Reject) {
              bool only_ids = true;
              for (const auto& why : r.reject_reasons)
                only_ids = only_ids && why.rfind("no record or file is named", 0) == 0;
              if (only_ids) r.expect = Expect::Any;
            }
            OracleContext c = context;
            c.engine_down = true;  // a burst may span the /health cache's second
            if (auto problems = judge_answer(r, a, run.routes, spec, c); !problems.empty())
              figures.fail(failure_report(seed, i, figures.sent(), r, a, problems) + "  (in a concurrent burst)");
          }
          g_in_flight[t + 1][0] = '\0';
        });
      }
      for (auto& t : threads) t.join();
      t_burst += since(t0);
      continue;
    }

    // --- one request, judged and, when rejected, compared ---------------
    const Request r = gen.next(known, {w.port(0), w.port(1)});
    note_in_flight(0, "step " + std::to_string(i) + ", seed " + std::to_string(seed) + ":\n" + r.describe(1000));
    t0 = Steady::now();
    const Answer a = send(r, w.port(r.server), *run.clients[r.server]);
    t_send += since(t0);
    g_in_flight[0][0] = '\0';
    figures.count(r, a, run.routes);
    auto problems = judge_answer(r, a, run.routes, spec, context);
    if (!a.answered && !r.raw && !run.last_on_client[r.server].empty())
      problems.push_back("the request before it on this client's connection:\n" + run.last_on_client[r.server]);
    if (!r.raw) run.last_on_client[r.server] = r.describe(200) + "answer: " + describe(a, 200);
    if (a.answered && a.status >= 400 && a.status < 500) {
      ++figures.compared;
      t0 = Steady::now();
      if (auto why = w.settle(kSettle); !why.empty()) problems.push_back("after the answer: " + why);
      const Snapshot after = w.snapshot();
      t_snapshot += since(t0);
      if (!(after == before))
        problems.push_back("a rejected request changed the records:" + first_differences(before.to_json(), after.to_json()));
    }
    if (!problems.empty()) figures.fail(failure_report(seed, i, figures.requests, r, a, problems));
    if (verbose)
      std::fprintf(stderr, "[api_fuzz] %llu: %s %s -> %s\n", static_cast<unsigned long long>(i), r.method.c_str(),
                   r.target.substr(0, 120).c_str(), a.answered ? std::to_string(a.status).c_str() : a.error.c_str());
  }
  g_in_flight[0][0] = '\0';
  const double elapsed = std::chrono::duration<double>(Steady::now() - started).count();

  // --- the figures -------------------------------------------------------
  std::string report = "[api_fuzz] seed " + std::to_string(seed) + ": " + std::to_string(figures.requests) +
                       " requests in " + std::to_string(elapsed).substr(0, 5) + " s (" +
                       std::to_string(static_cast<int>(figures.requests / std::max(elapsed, 1e-9))) +
                       " requests/s), " + std::to_string(figures.raw) + " as raw bytes, " +
                       std::to_string(figures.concurrent) + " concurrently, " + std::to_string(figures.compared) +
                       " rejected and compared, " + std::to_string(figures.no_answer) + " unanswered (incomplete on purpose)";
  auto seconds_of = [](double t) { return std::to_string(t).substr(0, std::to_string(t).find('.') + 2) + " s"; };
  report += "\n  time: settling " + seconds_of(t_settle) + ", snapshots (and settling after a 4xx) " +
            seconds_of(t_snapshot) + ", sequential requests " + seconds_of(t_send) + ", bursts " +
            seconds_of(t_burst) + "\n  statuses:";
  for (const auto& [status, n] : figures.statuses) report += " " + std::to_string(status) + "x" + std::to_string(n);
  report += "\n  per route (sent with its method / 2xx / 4xx):";
  for (const auto& route : run.routes) {
    const auto& c = figures.routes[route.name()];
    report += "\n    " + route.name() + ": " + std::to_string(c.sent) + " / " + std::to_string(c.ok) + " / " +
              std::to_string(c.rejected);
  }
  std::fprintf(stderr, "%s\n", report.c_str());

  std::string failures;
  for (const auto& f : figures.failures) failures += f + "\n";
  INFO("failures (each also on stderr):\n" << failures);
  CHECK(figures.failures.empty());
  // A run that never reached a route's success path fuzzed only its error
  // handling: with the default budget every route must have answered 2xx.
  // (The generator writes JSON bodies only: a route whose body must be
  // something else, the start file cache's URL as text/plain, is fuzzed for
  // its refusals here, and reaches its success path in its own tests.)
  if (figures.requests >= 1000) {
    for (const auto& route : run.routes) {
      const bool json_body_or_none = !route.operation->contains("requestBody") || spec.request_schema(*route.operation);
      if (!json_body_or_none) continue;
      INFO(route.name() << " never answered 2xx");
      CHECK(figures.routes[route.name()].ok > 0);
    }
  }
}
