#include "demand/replay.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <span>
#include <sstream>
#include <stdexcept>

#include "common.hpp"

namespace warmpool::bench {

std::vector<Session> read_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<Session> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    Session s;
    if (!(fields >> s.arrival_s)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      throw std::runtime_error(path + ":" + std::to_string(number) + ": expected \"arrival_s hold_s\"");
    }
    if (!(fields >> s.hold_s) || s.arrival_s < 0 || s.hold_s < 0)
      throw std::runtime_error(path + ":" + std::to_string(number) + ": expected two non-negative numbers");
    out.push_back(s);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Session& a, const Session& b) { return a.arrival_s < b.arrival_s; });
  return out;
}

namespace {

// As bench_demand_live: a moment with at most this many sessions is quiet.
constexpr int kQuietSessions = 2;

class Replay {
 public:
  Replay(const ReplaySettings& settings, std::int64_t lap_ms)
      : s_(settings),
        lap_ms_(lap_ms),
        model_(demand_for(settings)),
        pacer_(settings.refill_pace),
        removal_pacer_(settings.remove_pace) {}

  std::vector<ReplayResult> run(const std::vector<Session>& trace) {
    std::vector<std::pair<std::int64_t, std::int64_t>> arrivals;  // (at, hold) in ms
    for (int lap = 0; lap < s_.laps; ++lap)
      for (const auto& session : trace)
        arrivals.emplace_back(lap * lap_ms_ + std::llround(session.arrival_s * 1000),
                              std::llround(session.hold_s * 1000));
    results_.assign(s_.laps, {});
    waits_.assign(s_.laps, {});
    std::size_t next = 0;
    for (std::int64_t t = 0; t < s_.laps * lap_ms_; t += s_.step_ms) {
      finish_creates(t);
      finish_sessions(t);
      serve_waiters(t);
      bool arrived = false;
      for (; next < arrivals.size() && arrivals[next].first <= t; ++next) {
        arrive(t, arrivals[next].second);
        arrived = true;
      }
      if (arrived) upkeep(t, /*creates_only=*/true);
      if (t % s_.tick_ms == 0) upkeep(t, false);
      account(t);
    }
    for (int lap = 0; lap < s_.laps; ++lap)
      results_[lap].cold_wait_p99_ms = percentile(waits_[lap], 0.99);
    return results_;
  }

 private:
  static DemandSettings demand_for(const ReplaySettings& s) {
    DemandSettings d = s.demand;
    d.floor = s.policy.min_idle;
    d.ceiling = s.policy.max_idle;
    d.capacity = s.policy.max_instances;
    d.running_floor = s.policy.keep_running;
    d.quiet_ms = s.policy.idle_shrink_ms;
    return d;
  }
  ReplayResult& lap_of(std::int64_t t) { return results_[std::min<std::int64_t>(t / lap_ms_, s_.laps - 1)]; }

  Instance* find(std::int64_t id) {
    for (auto& i : instances_)
      if (i.id == id) return &i;
    return nullptr;
  }
  int in_use() const {
    return static_cast<int>(std::count_if(instances_.begin(), instances_.end(),
                                          [](const Instance& i) { return i.state == InstanceState::Allocated; }));
  }

  void create(std::int64_t t) {
    Instance i;
    i.id = next_id_++;
    i.state = InstanceState::Starting;
    i.created_ms = t;
    i.updated_ms = t;
    instances_.push_back(i);
    ready_at_[i.id] = t + s_.create_ms;
    ++lap_of(t).creates;
  }

  // As bring_up: ready, then the idle state the configured policy wants.
  void finish_creates(std::int64_t t) {
    for (auto& i : instances_) {
      if (i.state != InstanceState::Starting || ready_at_[i.id] > t) continue;
      i.state = idle_state_for(instances_, i.id, s_.policy);
      i.updated_ms = t;
      model_.created(s_.create_ms);
    }
  }

  // As release and recycle: running through the grace, or the policy's idle state.
  void finish_sessions(std::int64_t t) {
    for (auto& i : instances_) {
      if (i.state != InstanceState::Allocated || release_at_[i.id] > t) continue;
      i.state = s_.policy.pause_grace_ms > 0 ? InstanceState::Ready
                                             : idle_state_for(instances_, i.id, s_.policy);
      i.updated_ms = t;
    }
  }

  void hand_out(std::int64_t t, std::int64_t id, std::int64_t hold_ms) {
    Instance* i = find(id);
    i->state = InstanceState::Allocated;
    i->updated_ms = t;
    release_at_[id] = t + hold_ms;
  }

  void serve_waiters(std::int64_t t) {
    while (!waiters_.empty()) {
      auto id = pick_idle(instances_, {});
      if (!id) return;
      const auto [arrived, hold] = waiters_.front();
      waiters_.pop_front();
      waits_[std::min<std::int64_t>(arrived / lap_ms_, s_.laps - 1)].push_back(double(t - arrived));
      hand_out(t, *id, hold);
    }
  }

  void arrive(std::int64_t t, std::int64_t hold_ms) {
    model_.arrive(t);
    ReplayResult& r = lap_of(t);
    ++r.hand_outs;
    if (auto id = pick_idle(instances_, {})) {
      ++(find(*id)->state == InstanceState::Paused ? r.paused : r.running);
      hand_out(t, *id, hold_ms);
      return;
    }
    ++r.cold;
    waiters_.emplace_back(t, hold_ms);
    // As request_instances_for_waiters: one coming instance per waiter.
    const int coming = static_cast<int>(std::count_if(instances_.begin(), instances_.end(), [](const Instance& i) {
      return i.state == InstanceState::Starting;
    }));
    for (int k = coming; k < static_cast<int>(waiters_.size()); ++k) {
      if (create_refusal(instances_, s_.policy, {}, {})) break;
      create(t);
    }
  }

  // As the scheduler's keep_up (a tick) or refill (after arrivals).
  void upkeep(std::int64_t t, bool creates_only) {
    PoolPolicy policy = s_.policy;
    if (policy.adaptive) {
      const DemandTarget target = model_.target(t, in_use());
      policy.min_idle = target.idle;
      policy.keep_running = target.running;
    }
    const UpkeepPlan plan = plan_upkeep(instances_, {}, policy, {}, {}, t);
    const int allowed = pacer_.allow(plan.create, t, model_.last_arrival_ms(), static_cast<int>(waiters_.size()));
    lap_of(t).paced += plan.create - allowed;
    for (int k = 0; k < allowed; ++k) create(t);
    if (creates_only) return;
    for (auto id : plan.pause) find(id)->state = InstanceState::Paused, find(id)->updated_ms = t;
    for (auto id : plan.unpause) find(id)->state = InstanceState::Ready, find(id)->updated_ms = t;
    const int removals = removal_pacer_.allow(static_cast<int>(plan.remove.size()), t);
    lap_of(t).removes += removals;
    lap_of(t).most_removes_at_once = std::max(lap_of(t).most_removes_at_once, removals);
    for (auto id : std::span(plan.remove).first(removals))
      instances_.erase(std::find_if(instances_.begin(), instances_.end(),
                                    [id](const Instance& i) { return i.id == id; }));
  }

  void account(std::int64_t t) {
    ReplayResult& r = lap_of(t);
    int idle = 0, running = 0;
    for (const auto& i : instances_) {
      idle += is_idle(i.state);
      running += i.state == InstanceState::Ready;
    }
    r.idle_instance_s += idle * s_.step_ms / 1000.0;
    r.running_idle_s += running * s_.step_ms / 1000.0;
    if (in_use() + static_cast<int>(waiters_.size()) <= kQuietSessions) {
      r.quiet_s += s_.step_ms / 1000.0;
      r.quiet_running_idle_s += running * s_.step_ms / 1000.0;
    }
    r.most_instances = std::max(r.most_instances, static_cast<int>(instances_.size()));
  }

  const ReplaySettings s_;
  const std::int64_t lap_ms_;
  DemandModel model_;
  RefillPacer pacer_;
  RemovalPacer removal_pacer_;
  std::vector<Instance> instances_;
  std::map<std::int64_t, std::int64_t> ready_at_, release_at_;
  std::deque<std::pair<std::int64_t, std::int64_t>> waiters_;  // (arrived, hold)
  std::vector<ReplayResult> results_;
  std::vector<std::vector<double>> waits_;
  std::int64_t next_id_ = 1;
};

}  // namespace

std::vector<ReplayResult> replay(const std::vector<Session>& trace, const ReplaySettings& settings) {
  // A lap lasts until the last session ends, plus a minute of quiet.
  double end_s = 0;
  for (const auto& s : trace) end_s = std::max(end_s, s.arrival_s + s.hold_s);
  const std::int64_t lap_ms = (static_cast<std::int64_t>(std::ceil(end_s)) + 60) * 1000;
  return Replay(settings, lap_ms).run(trace);
}

}  // namespace warmpool::bench
