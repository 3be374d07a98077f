// bench_demand: replays session traces against the adaptive policy and
// against fixed pools of several sizes, on a virtual clock (replay.hpp), and
// prints each one's warm share and idle instance-seconds.
//
//   bench_demand [options] TRACE...           replay these trace files
//   bench_demand --generate KIND [--seed N]   write a trace (steady, bursty, daily)
#include <cstdio>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "demand/replay.hpp"
#include "demand/traces.hpp"

using namespace warmpool;
using namespace warmpool::bench;

namespace {

struct Options {
  std::vector<std::string> traces;
  std::string generate;
  unsigned seed = 1;
  double length_s = 1800;
  int max_instances = 24;
  int min_idle = 2;
  int keep_running = 1;
  int idle_shrink_s = 600;
  double surplus_ttl_s = 2;
  double refill_per_s = 4;
  double remove_per_s = 2;
  int pause_grace_ms = 2000;
  std::int64_t create_ms = 800;
  std::int64_t tick_ms = 2000;
  int laps = 2;
  std::vector<int> fixed = {1, 2, 4, 8, 12, 16, 24};
};

ReplaySettings settings_for(const Options& o, bool adaptive, int fixed_size) {
  ReplaySettings s;
  s.policy.max_instances = o.max_instances;
  s.policy.min_idle = adaptive ? o.min_idle : fixed_size;
  s.policy.max_idle = adaptive ? o.max_instances : fixed_size;
  s.policy.keep_running = std::min(o.keep_running, s.policy.max_idle);
  s.policy.idle_shrink_ms = o.idle_shrink_s * 1000ll;
  s.policy.surplus_ttl_ms = std::llround(o.surplus_ttl_s * 1000);
  s.policy.pause_grace_ms = o.pause_grace_ms;
  s.policy.adaptive = adaptive;
  s.refill_pace.per_s = o.refill_per_s;
  s.remove_pace.per_s = o.remove_per_s;
  s.create_ms = o.create_ms;
  s.tick_ms = o.tick_ms;
  s.laps = o.laps;
  return s;
}

void print_row(const std::string& name, const ReplayResult& r, const ReplayResult& first_lap) {
  std::printf("  %-12s %6.1f%% %6.1f%%  %7d %6d %5d %10.0f %10.0f %9.2f %9.0f %7d %6d %7d %6d %5d\n",
              name.c_str(), 100 * r.warm_share(), 100 * first_lap.warm_share(), r.running, r.paused, r.cold,
              r.idle_instance_s, r.running_idle_s, r.quiet_running(), r.cold_wait_p99_ms, r.creates, r.paced,
              r.removes, r.most_removes_at_once, r.most_instances);
}

bool better(const ReplayResult& a, const ReplayResult& b) {  // higher warm share, then fewer idle-s
  if (a.warm_share() != b.warm_share()) return a.warm_share() > b.warm_share();
  return a.idle_instance_s < b.idle_instance_s;
}

void run_trace(const Options& o, const std::string& path) {
  const auto trace = read_trace(path);
  std::printf("\n%s: %zu sessions; lap %d of %d shown (warm%% of lap 1 beside it)\n", path.c_str(),
              trace.size(), o.laps, o.laps);
  std::printf("  %-12s %7s %7s  %7s %6s %5s %10s %10s %9s %9s %7s %6s %7s %6s %5s\n", "policy", "warm", "lap1",
              "running", "paused", "cold", "idle i-s", "run idle", "quiet run", "cold p99", "creates", "paced",
              "removes", "r/tick", "most");
  const auto adaptive = replay(trace, settings_for(o, true, 0));
  print_row("adaptive", adaptive.back(), adaptive.front());
  ReplayResult best;
  std::string best_name;
  for (int size : o.fixed) {
    if (size > o.max_instances) continue;
    const auto fixed = replay(trace, settings_for(o, false, size));
    print_row("fixed " + std::to_string(size), fixed.back(), fixed.front());
    if (best_name.empty() || better(fixed.back(), best)) best = fixed.back(), best_name = "fixed " + std::to_string(size);
  }
  const auto& a = adaptive.back();
  std::printf("  best fixed pool: %s; adaptive against it: warm share %+.1f points, idle instance-seconds %.3fx, "
              "running idle instance-seconds %.3fx\n",
              best_name.c_str(), 100 * (a.warm_share() - best.warm_share()),
              best.idle_instance_s > 0 ? a.idle_instance_s / best.idle_instance_s : 0.0,
              best.running_idle_s > 0 ? a.running_idle_s / best.running_idle_s : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("Replays session traces against the adaptive pool and fixed pools on a virtual clock");
  app.add_option("traces", o.traces, "Trace files: one session per line, \"arrival_s hold_s\"");
  app.add_option("--generate", o.generate, "Write a trace of this kind to stdout: steady, bursty, daily");
  app.add_option("--seed", o.seed, "Seed of --generate")->capture_default_str();
  app.add_option("--length-s", o.length_s, "Length of a generated steady or bursty trace")->capture_default_str();
  app.add_option("--max-instances", o.max_instances, "As the manager's flag")->capture_default_str();
  app.add_option("--min-idle", o.min_idle, "The adaptive policy's floor")->capture_default_str();
  app.add_option("--keep-running", o.keep_running, "Running floor (every policy)")->capture_default_str();
  app.add_option("--idle-shrink-s", o.idle_shrink_s, "As the manager's flag")->capture_default_str();
  app.add_option("--surplus-ttl-s", o.surplus_ttl_s, "As the manager's flag (adaptive only)")->capture_default_str();
  app.add_option("--refill-per-s", o.refill_per_s, "As the manager's flag (every policy)")->capture_default_str();
  app.add_option("--remove-per-s", o.remove_per_s, "As the manager's flag (every policy)")->capture_default_str();
  app.add_option("--pause-grace-ms", o.pause_grace_ms, "As the manager's flag")->capture_default_str();
  app.add_option("--create-ms", o.create_ms, "How long a create takes, record to ready worker")->capture_default_str();
  app.add_option("--tick-ms", o.tick_ms, "The scheduler's period")->capture_default_str();
  app.add_option("--laps", o.laps, "Times each trace is played in a row; the last lap is shown")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--fixed", o.fixed, "Sizes of the fixed pools compared (min-idle = max-idle = size)")
      ->delimiter(',')->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (!o.generate.empty()) {
      std::printf("# %s trace, seed %u: arrival_s hold_s\n", o.generate.c_str(), o.seed);
      for (const auto& s : generate_trace(o.generate, o.seed, o.length_s)) std::printf("%.3f %.3f\n", s.arrival_s, s.hold_s);
      return 0;
    }
    if (o.traces.empty()) throw std::invalid_argument("no trace given (see --help)");
    std::printf("bench_demand: max-instances %d, adaptive floor %d, keep-running %d, idle-shrink %d s, "
                "surplus ttl %g s, refill %g/s once calm, remove %g/s, grace %d ms, create %lld ms, tick %lld ms\n",
                o.max_instances, o.min_idle, o.keep_running, o.idle_shrink_s, o.surplus_ttl_s, o.refill_per_s, o.remove_per_s, o.pause_grace_ms,
                static_cast<long long>(o.create_ms), static_cast<long long>(o.tick_ms));
    std::printf("columns: hand-outs warm (running or paused idle on arrival); running, paused, cold hand-outs;\n"
                "idle instance-seconds (all, running); running idle on average while at most 2 sessions are held\n"
                "(quiet run); cold wait p99; creates; creates held back by the refill pace\n"
                "(counted again each tick they are still wanted); removes, and the most in one tick; most instances at once\n");
    for (const auto& path : o.traces) run_trace(o, path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_demand: %s\n", e.what());
    return 1;
  }
  return 0;
}
