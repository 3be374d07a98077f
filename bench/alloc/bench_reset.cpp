// What each reset method costs a client: on a pool of one running instance,
// release it and ask for the next one at once, so the hand-out waits for
// the reset (worker /reset; a container restart; a remove and a fresh
// create). The worker reset, measured in the same run, is the baseline.
//
//   build/bench/alloc/bench_reset [--rounds 20] [--port-first 18960]
// Needs a running engine (WARMPOOL_ENGINE or DOCKER_HOST) and the worker image.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "alloc/rig.hpp"

using namespace warmpool;
using namespace warmpool::bench;

namespace {

// Release, then allocate again at once: the next hand-out's latency.
Summary turnarounds(const std::string& reset, int rounds, int port_first) {
  Config c = bench_config(1, 1, port_first);
  c.reset = reset;
  Rig rig(c);
  auto client = rig.client();
  Summary s;
  std::string id = allocate(client);
  for (int k = 0; k < rounds; ++k) {
    release(client, id);
    const auto t0 = std::chrono::steady_clock::now();
    id = allocate(client);
    s.samples.push_back(ms_since(t0));
  }
  release(client, id);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 20;
  int port_first = 18960;
  CLI::App cli{"Release-to-next-hand-out time on a pool of one, for each reset method, against the worker's reset"};
  cli.add_option("--rounds", rounds, "Release and hand-out cycles per method")->capture_default_str();
  cli.add_option("--port-first", port_first, "First of the ports the instances may use (12 of them)")
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  std::printf("pool of one running pi worker; %d cycles each: release, then the next hand-out (ms)\n", rounds);
  std::printf("%-10s %10s %10s %14s\n", "reset", "p50", "p99", "p50 / worker");
  double baseline = 0;
  for (const char* method : {"worker", "restart", "recreate"}) {
    const Summary s = turnarounds(method, rounds, port_first);
    if (baseline == 0) baseline = s.p50();
    std::printf("%-10s %10.1f %10.1f %13.1fx\n", method, s.p50(), s.p99(), s.p50() / baseline);
    std::fflush(stdout);
  }
  return 0;
}
