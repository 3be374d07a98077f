// bench_alloc --tls-engine: a paused hand-out through a TCP engine with TLS
// against the same through the local unix-socket engine.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "rig.hpp"

namespace warmpool::bench {

void compare_engines(const std::string& tls_endpoint, const std::string& cert_dir, int clients, int rounds) {
  // Both pools pause through their engine, so each hand-out makes one engine
  // call: the unpause. Instance ports 17500s and 17600s (the TLS tests' range).
  Config local = bench_config(clients, 0, 17500, "engine");
  Config remote = bench_config(clients, 0, 17600, "auto");
  remote.engine = tls_endpoint;
  remote.engine_cert_dir = cert_dir;
  Rig unix_rig(local);
  Rig tls_rig(remote);
  // auto must not pick the freezer for an engine on another host.
  if (tls_rig.app().pause_choice.freezer) throw std::runtime_error("--pause-via auto chose the freezer for " + tls_endpoint);

  // Alternating, so that both see the same machine.
  Summary unix1, tls1, unix_n, tls_n;
  const auto add = [](Summary& to, const Summary& from) {
    to.samples.insert(to.samples.end(), from.samples.begin(), from.samples.end());
  };
  for (int round = 0; round < rounds; ++round) {
    add(unix1, hand_out(unix_rig, 1, 4));
    add(tls1, hand_out(tls_rig, 1, 4));
    add(unix_n, hand_out(unix_rig, clients, 1));
    add(tls_n, hand_out(tls_rig, clients, 1));
  }
  const std::string n = std::to_string(clients);
  std::printf("paused hand-out latency, ms (the engine's unpause), unix-socket engine (baseline) and TLS engine\n");
  std::printf("TLS engine %s pauses through %s: %s\n", tls_endpoint.c_str(),
              tls_rig.app().pause_choice.freezer ? "the freezer" : "the engine",
              tls_rig.app().pause_choice.why.c_str());
  std::printf("%-44s %9s %9s %11s %11s\n", "", "p50", "p99", "p50/base", "p99/base");
  row("unix socket, 1 client", unix1, unix1);
  row("TLS over TCP, 1 client", tls1, unix1);
  row(("unix socket, " + n + " clients").c_str(), unix_n, unix_n);
  row(("TLS over TCP, " + n + " clients").c_str(), tls_n, unix_n);
  std::printf("\ngoal: TLS p50 at most 1.2x the unix socket's\n");
}

}  // namespace warmpool::bench
