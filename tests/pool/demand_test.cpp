// The demand model on plain data, with a virtual clock (times in ms).
#include <catch2/catch.hpp>

#include <random>

#include "pool/demand.hpp"

using namespace warmpool;

namespace {

DemandSettings wide() {
  DemandSettings s;
  s.floor = 0;
  s.ceiling = 24;
  s.capacity = 24;
  s.running_floor = 0;
  s.lead_ms = 1000;
  return s;
}

// One arrival every `every_ms` in [from, to).
void steady(DemandModel& m, std::int64_t from, std::int64_t to, std::int64_t every_ms) {
  for (std::int64_t t = from; t < to; t += every_ms) m.arrive(t);
}

// n arrivals spread evenly over `span_ms` from `at`.
void burst(DemandModel& m, std::int64_t at, int n, std::int64_t span_ms) {
  for (int k = 0; k < n; ++k) m.arrive(at + span_ms * k / n);
}

}  // namespace

TEST_CASE("demand: a burst that came before is expected again, long after") {
  DemandModel m(wide());
  steady(m, 0, 60'000, 2000);  // a session every 2 s
  const int before = m.target(60'000, 1).idle;
  CHECK(before <= 2);

  burst(m, 60'000, 16, 2000);  // 16 within 2 s: 8 within one lead time
  steady(m, 62'000, 62'000 + 10 * 60'000, 2000);
  const auto later = m.target(62'000 + 10 * 60'000, 1);
  CHECK(later.idle >= 8);  // the burst per lead time
  CHECK(later.forecast > 7.5);
  // Decaying over hours, not minutes: half of it after one half-life.
  const std::int64_t half_life = wide().peak_half_life_ms;
  DemandModel lone(wide());
  burst(lone, 0, 16, 2000);
  lone.arrive(half_life);
  CHECK(lone.snapshot(half_life).peak == Approx(4.0).margin(0.6));
}

TEST_CASE("demand: a larger burst raises the expectation, a smaller one does not lower it") {
  DemandModel m(wide());
  burst(m, 0, 6, 1000);
  const int first = m.target(10'000, 0).idle;
  burst(m, 20'000, 12, 1000);
  const int second = m.target(30'000, 0).idle;
  burst(m, 40'000, 3, 1000);
  CHECK(second > first);
  CHECK(m.target(50'000, 0).idle == second);
}

TEST_CASE("demand: a burst that comes again, even smaller, renews the memory of the first") {
  DemandModel m(wide());
  burst(m, 0, 16, 2000);  // 8 within one lead time
  const std::int64_t quarter = wide().peak_half_life_ms / 4;
  const double decayed = m.snapshot(quarter).peak;
  CHECK(decayed < 7.0);
  burst(m, quarter, 4, 800);  // the same kind of burst, more loosely spread
  CHECK(m.snapshot(quarter + 800).peak == Approx(8.0).margin(0.01));
  // A lone arrival is no burst: the memory decays on.
  DemandModel lone(wide());
  burst(lone, 0, 16, 2000);
  lone.arrive(quarter);
  CHECK(lone.snapshot(quarter).peak == Approx(decayed).margin(0.01));
}

TEST_CASE("demand: scales to zero when nothing arrives for long, and back on the next arrival") {
  DemandSettings s = wide();
  s.quiet_ms = 600'000;
  DemandModel m(s);
  burst(m, 0, 10, 1000);
  CHECK(m.target(1000, 0).idle >= 10);
  const auto asleep = m.target(1000 + 600'000, 0);
  CHECK(asleep.idle == 0);
  CHECK(asleep.running == 0);
  CHECK(asleep.forecast == 0);
  m.arrive(1000 + 700'000);
  const auto awake = m.target(1000 + 700'000, 1);
  CHECK(awake.idle >= 10);  // the burst is remembered through the quiet
}

TEST_CASE("demand: the floor holds without arrivals; the ceiling and the capacity are never exceeded") {
  DemandSettings s = wide();
  s.floor = 2;
  s.ceiling = 10;
  s.capacity = 12;
  s.running_floor = 1;
  DemandModel m(s);
  CHECK(m.target(0, 0).idle == 2);
  CHECK(m.target(0, 0).running == 1);

  std::mt19937 random(7);
  std::int64_t now = 0;
  for (int step = 0; step < 5000; ++step) {
    now += std::uniform_int_distribution<int>(0, 3000)(random) * (step % 97 == 0 ? 400 : 1);
    const int arrivals = std::uniform_int_distribution<int>(0, 30)(random);
    for (int k = 0; k < arrivals; ++k) m.arrive(now);
    const int in_use = std::uniform_int_distribution<int>(0, s.capacity)(random);
    const auto t = m.target(now, in_use);
    INFO("step " << step << " in use " << in_use << " idle " << t.idle << " running " << t.running);
    REQUIRE(t.idle <= s.ceiling);
    REQUIRE(t.idle + in_use <= s.capacity);
    REQUIRE(t.idle >= std::min(s.floor, s.capacity - in_use));
    REQUIRE(t.running >= s.running_floor);
    REQUIRE(t.running <= std::max(t.idle, s.running_floor));
  }
}

TEST_CASE("demand: the running count follows the short-term rate") {
  DemandModel m(wide());
  steady(m, 0, 60'000, 2000);  // 0.5/s: 1 within the running horizon of 2 s
  CHECK(m.target(60'000, 0).running == 1);
  steady(m, 60'000, 90'000, 250);  // 4/s: 8 within the horizon
  const auto busy = m.target(90'000, 0);
  CHECK(busy.idle >= 5);
  CHECK(busy.running == std::min(8, busy.idle));
  // Quiet for a minute: the window is empty again.
  m.arrive(150'000);
  CHECK(m.target(150'000, 0).running <= 1);
}

TEST_CASE("demand: after a burst the running count is back to the quiet load before the burst's sessions end") {
  DemandModel m(wide());
  steady(m, 0, 60'000, 2000);  // a short session every 2 s
  burst(m, 60'000, 16, 2000);  // 16 within 2 s, held 10 s or more
  CHECK(m.target(62'000, 16).running >= 3);
  steady(m, 62'000, 74'000, 2000);
  // 12 s on, the burst's sessions are still held; the quiet load needs one running,
  // while the idle target still holds the remembered burst (paused is still warm).
  const auto after = m.target(72'500, 16);
  CHECK(after.running == 1);
  CHECK(after.idle >= 8);
}

TEST_CASE("demand: the forecast covers the time a create takes, as learned") {
  DemandSettings s = wide();
  s.long_window_ms = 60'000;
  DemandModel m(s);
  steady(m, 0, 60'000, 100);  // 10/s, evenly: one lead time of 1 s holds 10
  CHECK(m.target(60'000, 0).forecast == Approx(10).margin(0.6));
  for (int k = 0; k < 30; ++k) m.created(3000);
  CHECK(m.snapshot(60'000).lead_ms == Approx(3000).margin(50));
  steady(m, 60'000, 120'000, 100);
  CHECK(m.target(120'000, 0).forecast == Approx(30).margin(1.5));
  CHECK(m.target(120'000, 0).idle == 24);  // the ceiling
}

TEST_CASE("demand: contradicting settings are refused, naming the flag") {
  DemandSettings s = wide();
  s.floor = 5;
  s.ceiling = 4;
  auto error = demand_settings_error(s);
  REQUIRE(error);
  CHECK(error->find("--min-idle") != std::string::npos);
  CHECK(error->find("--max-idle") != std::string::npos);
  s = wide();
  s.running_floor = 30;
  REQUIRE(demand_settings_error(s));
  CHECK(demand_settings_error(s)->find("--keep-running") != std::string::npos);
  CHECK_FALSE(demand_settings_error(wide()));
}
