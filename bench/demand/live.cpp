// bench_demand_live: replays a trace against a running manager in real
// time, one client thread per session (POST /allocations, hold, DELETE), and
// prints what the clients saw (hand-out p50/p99, refusals), the manager's
// hand-outs by path over the run (GET /metrics) and the idle instances
// through the quiet stretches (GET /dashboard/feed every 500 ms).
//
//   bench_demand_live [--admin-token T] [--api-token T] URL TRACE
//
// A quiet stretch is a moment when the trace holds at most 2 sessions.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "demand/replay.hpp"

using namespace warmpool::bench;
using nlohmann::json;

namespace {

struct Target {
  std::string url, api_token, admin_token;
  httplib::Client client(const std::string& token) const {
    httplib::Client c(url);
    c.set_read_timeout(30, 0);
    if (!token.empty()) c.set_bearer_token_auth(token);
    return c;
  }
};

std::map<std::string, double> hand_outs(const Target& t) {
  std::map<std::string, double> out;
  auto r = t.client(t.admin_token).Get("/metrics");
  if (!r || r->status != 200) throw std::runtime_error("GET /metrics failed");
  std::istringstream in(r->body);
  const std::string prefix = "warmpool_hand_outs_total{path=\"";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0)
      out[line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size())] +=
          std::stod(line.substr(line.find(' ') + 1));  // every pool's
  return out;
}

struct Sample {
  double at_s;
  int running = 0, paused = 0, allocated = 0;
};

// Sessions of the trace open at time t.
int open_at(const std::vector<Session>& trace, double t) {
  int n = 0;
  for (const auto& s : trace) n += s.arrival_s <= t && t < s.arrival_s + s.hold_s;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  Target target;
  std::string path;
  CLI::App app("Replays a trace against a running manager in real time");
  app.add_option("url", target.url, "The manager, e.g. http://127.0.0.1:8080")->required();
  app.add_option("trace", path, "Trace file (arrival_s hold_s per line)")->required();
  app.add_option("--api-token", target.api_token);
  app.add_option("--admin-token", target.admin_token);
  CLI11_PARSE(app, argc, argv);

  const auto trace = read_trace(path);
  const auto before = hand_outs(target);
  const auto start = SteadyClock::now();
  std::mutex mu;
  std::vector<double> hand_out_ms;
  std::atomic<int> refused{0};
  std::vector<Sample> samples;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    auto client = target.client(target.admin_token);
    while (!done) {
      Sample s{ms_since(start) / 1000};
      auto r = client.Get("/dashboard/feed");
      const json feed = r && r->status == 200 ? json::parse(r->body) : json::object();
      if (feed.contains("instances"))
        for (const auto& i : feed["instances"]) {
          const auto state = i["state"].get<std::string>();
          s.running += state == "ready";
          s.paused += state == "paused";
          s.allocated += state == "allocated";
        }
      samples.push_back(s);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  std::vector<std::thread> sessions;
  for (const auto& session : trace) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(std::llround(session.arrival_s * 1e6)));
    sessions.emplace_back([&, session] {
      auto client = target.client(target.api_token);
      const auto asked = SteadyClock::now();
      auto r = client.Post("/allocations", "{}", "application/json");
      if (!r || r->status != 201) {
        if (refused++ == 0)
          std::fprintf(stderr, "first refusal: %s\n",
                       r ? (std::to_string(r->status) + " " + r->body).c_str() : httplib::to_string(r.error()).c_str());
        return;
      }
      {
        std::lock_guard lock(mu);
        hand_out_ms.push_back(ms_since(asked));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(std::llround(session.hold_s * 1e6)));
      client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
    });
  }
  for (auto& s : sessions) s.join();
  done = true;
  sampler.join();
  const auto after = hand_outs(target);

  const double running = after.at("running") - before.at("running");
  const double paused = after.at("paused") - before.at("paused");
  const double cold = after.at("cold") - before.at("cold");
  double quiet_running = 0, quiet_paused = 0;
  int quiet = 0;
  for (const auto& s : samples)
    if (open_at(trace, s.at_s) <= 2) quiet_running += s.running, quiet_paused += s.paused, ++quiet;
  std::printf("%s: %zu sessions over %.0f s\n", path.c_str(), trace.size(), ms_since(start) / 1000);
  std::printf("hand-outs: %.0f running, %.0f paused, %.0f cold: %.1f%% warm; %d refused\n", running, paused,
              cold, 100 * (running + paused) / std::max(1.0, running + paused + cold), refused.load());
  std::printf("hand-out as the clients saw it: p50 %.1f ms, p99 %.1f ms\n", percentile(hand_out_ms, 0.5),
              percentile(hand_out_ms, 0.99));
  std::printf("quiet stretches (%d samples of 500 ms): on average %.2f idle running, %.2f idle paused\n", quiet,
              quiet ? quiet_running / quiet : 0.0, quiet ? quiet_paused / quiet : 0.0);
  return 0;
}
