// Refill pacing on plain data, with a virtual clock (times in ms).
#include <catch2/catch.hpp>

#include "pool/pacing.hpp"

using namespace warmpool;

TEST_CASE("pacing: a burst's creates all start at once, whether hand-outs wait or just arrived") {
  RefillPacer pacer({.per_s = 2, .calm_after_ms = 2000});
  CHECK(pacer.allow(12, 10'000, 9'000, 0) == 12);  // an arrival a second ago
  CHECK(pacer.allow(12, 60'000, 1'000, 3) == 12);  // hand-outs waiting
}

TEST_CASE("pacing: once the burst is served, refill starts at most per_s creates a second") {
  RefillPacer pacer({.per_s = 2, .calm_after_ms = 2000});
  const std::int64_t last_arrival = 10'000;
  CHECK(pacer.allow(16, 10'000, last_arrival, 0) == 16);  // the burst used the bucket up
  CHECK(pacer.allow(10, 12'000, last_arrival, 0) == 2);   // calm: two seconds' worth, capped at one
  CHECK(pacer.allow(8, 12'000, last_arrival, 0) == 0);
  CHECK(pacer.allow(8, 12'500, last_arrival, 0) == 1);
  int started = 0;
  for (std::int64_t t = 13'000; t <= 22'000; t += 100) started += pacer.allow(8, t, last_arrival, 0);
  CHECK(started == 19);  // 9.5 s after the last take at 2 a second, rounded down: 19
}

TEST_CASE("pacing: a pool filling from nothing starts one second's worth at once, then the pace") {
  RefillPacer pacer({.per_s = 4, .calm_after_ms = 2000});
  CHECK(pacer.allow(12, 0, std::nullopt, 0) == 4);
  CHECK(pacer.allow(8, 1000, std::nullopt, 0) == 4);
  CHECK(pacer.allow(4, 1000, std::nullopt, 0) == 0);
  CHECK(pacer.allow(4, 60'000, std::nullopt, 0) == 4);  // the bucket holds one second's worth only
}

TEST_CASE("pacing: below one create a second, one still starts when its token is in") {
  RefillPacer pacer({.per_s = 0.5, .calm_after_ms = 2000});
  CHECK(pacer.allow(3, 0, std::nullopt, 0) == 1);
  CHECK(pacer.allow(3, 1000, std::nullopt, 0) == 0);
  CHECK(pacer.allow(3, 2000, std::nullopt, 0) == 1);
}

TEST_CASE("pacing: per_s 0 never holds a create back") {
  RefillPacer pacer({.per_s = 0, .calm_after_ms = 2000});
  CHECK(pacer.allow(24, 0, std::nullopt, 0) == 24);
  CHECK(pacer.allow(24, 0, std::nullopt, 0) == 24);
}

TEST_CASE("pacing: a burst's surplus is removed at most per_s a second, the rest on later ticks") {
  RemovalPacer pacer({.per_s = 2});
  // A burst of 14 ends: all of them are surplus at the same tick.
  CHECK(pacer.allow(14, 20'000) == 2);
  CHECK(pacer.allow(12, 20'000) == 0);  // the same instant: nothing more
  int removed = 2;
  std::int64_t t = 20'000;
  while (removed < 14) {  // a tick every 2 s
    t += 2000;
    const int now = pacer.allow(14 - removed, t);
    CHECK(now <= 2);
    removed += now;
  }
  CHECK(t == 32'000);  // six more ticks
}

TEST_CASE("pacing: removals start at once when they are few, and per_s 0 never holds one back") {
  RemovalPacer paced({.per_s = 2});
  CHECK(paced.allow(1, 0) == 1);
  CHECK(paced.allow(1, 500) == 1);  // half a second brought a token back
  RemovalPacer never({.per_s = 0});
  CHECK(never.allow(24, 0) == 24);
  CHECK(never.allow(24, 0) == 24);
}
