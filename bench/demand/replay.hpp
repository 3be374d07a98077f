// A replay of a session trace against the pool's own decisions (pick_idle,
// plan_upkeep, the demand model) on a virtual clock: instances are records
// whose creates take a fixed time, hand-outs and releases follow the trace,
// upkeep runs every tick and a refill after each arrival, as the scheduler
// does (its creates through the refill pace). No engine and no threads: the same trace gives the same figures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pool/decisions.hpp"
#include "pool/demand.hpp"
#include "pool/pacing.hpp"

namespace warmpool::bench {

struct Session {
  double arrival_s = 0;  // from the trace's start
  double hold_s = 0;     // how long the instance is held
};

// One session per line, "arrival_s hold_s"; '#' starts a comment. Throws
// std::runtime_error "path:line: why" on a bad line.
std::vector<Session> read_trace(const std::string& path);

struct ReplaySettings {
  PoolPolicy policy;
  DemandSettings demand;  // floor, ceiling, capacity and running floor from policy
  RefillPace refill_pace;  // upkeep's creates once a burst is served
  RemovalPace remove_pace;  // upkeep's removals
  std::int64_t create_ms = 800;  // record to ready worker
  std::int64_t tick_ms = 2000;   // --scheduler-period-ms
  std::int64_t step_ms = 10;     // the virtual clock's resolution
  int laps = 2;                  // the trace is played this many times in a row
};

struct ReplayResult {
  int hand_outs = 0;
  int running = 0;  // took a running-idle instance
  int paused = 0;   // took a paused one (an unpause away)
  int cold = 0;     // none was idle: waited for a create or a release
  double idle_instance_s = 0;     // idle instances integrated over time
  double running_idle_s = 0;      // of which running
  // Quiet stretches (at most 2 sessions held or waiting), as bench_demand_live
  // samples them: their length and the running idle instances through them.
  double quiet_s = 0;
  double quiet_running_idle_s = 0;
  double cold_wait_p99_ms = 0;
  int creates = 0;
  int paced = 0;  // creates upkeep wanted but the refill pace held back
  int removes = 0;
  int most_removes_at_once = 0;  // in one tick
  int most_instances = 0;
  double warm_share() const { return hand_outs ? double(running + paused) / hand_outs : 1.0; }
  double quiet_running() const { return quiet_s > 0 ? quiet_running_idle_s / quiet_s : 0.0; }
};

// Plays `trace` settings.laps times in a row and returns one result per lap
// (a lap's idle time is counted from its start to the next lap's).
std::vector<ReplayResult> replay(const std::vector<Session>& trace, const ReplaySettings& settings);

}  // namespace warmpool::bench
