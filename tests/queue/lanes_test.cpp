#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "queue/lanes.hpp"

using namespace warmpool;
using namespace std::chrono_literals;

TEST_CASE("a saturated normal lane does not delay the high lane") {
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8});
  std::promise<void> release_normal;
  auto blocker = release_normal.get_future().share();
  for (int i = 0; i < 4; ++i)
    REQUIRE(lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + 10s, [blocker] { blocker.wait(); }));
  while (lanes.stats(Lane::Normal).running == 0) std::this_thread::sleep_for(1ms);

  std::promise<void> ran;
  auto done = ran.get_future();
  REQUIRE(lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [&] { ran.set_value(); }));
  CHECK(done.wait_for(2s) == std::future_status::ready);
  CHECK(lanes.stats(Lane::Normal).queued == 3);
  release_normal.set_value();
}

TEST_CASE("a full lane refuses; a task past its deadline runs its expired callback") {
  ManualSteadyClock clock;
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 1, .normal_capacity = 1}, {},
              clock);
  std::promise<void> go;
  auto gate = go.get_future().share();
  REQUIRE(lanes.submit(Lane::High, clock.now() + 10s, [gate] { gate.wait(); }));
  // wait until the worker has taken the first task, so the queue is empty
  while (lanes.stats(Lane::High).running == 0) std::this_thread::sleep_for(1ms);
  std::atomic<bool> ran{false}, expired{false};
  REQUIRE(lanes.submit(Lane::High, clock.now() + 1ms, [&] { ran = true; }, [&] { expired = true; }));
  CHECK_FALSE(lanes.submit(Lane::High, clock.now() + 10s, [] {}));
  CHECK(lanes.stats(Lane::High).rejected == 1);
  clock.advance(2ms);  // past the queued task's deadline while it waits
  go.set_value();
  lanes.stop();
  CHECK(expired);
  CHECK_FALSE(ran);
  CHECK(lanes.stats(Lane::High).expired == 1);
}

TEST_CASE("stop drops queued tasks through their expired callbacks and refuses new ones") {
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8});
  std::promise<void> go;
  auto gate = go.get_future().share();
  lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + 10s, [gate] { gate.wait(); });
  std::atomic<int> expired{0};
  for (int i = 0; i < 3; ++i)
    lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + 10s, [] {}, [&] { ++expired; });
  std::thread stopper([&] { lanes.stop(); });
  std::this_thread::sleep_for(20ms);
  go.set_value();
  stopper.join();
  CHECK(expired == 3);
  CHECK_FALSE(lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [] {}));
}

TEST_CASE("stop finishes the tasks the high lane holds: releases in flight complete") {
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 1024, .normal_capacity = 8});
  std::promise<void> go;
  auto gate = go.get_future().share();
  lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [gate] { gate.wait(); });
  std::atomic<int> ran{0}, expired{0};
  for (int i = 0; i < 3; ++i)
    lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [&] { ++ran; }, [&] { ++expired; });
  std::thread stopper([&] { lanes.stop(); });
  // Once stopping, nothing new is taken (no-ops queued before that just run).
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [] {}) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(1ms);
  CHECK_FALSE(lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [] {}));
  go.set_value();
  stopper.join();
  CHECK(ran == 3);
  CHECK(expired == 0);
}

TEST_CASE("each task's wait in its lane is reported") {
  std::mutex mu;
  std::vector<std::pair<Lane, std::chrono::nanoseconds>> waits;
  ManualSteadyClock clock;
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8},
              [&](Lane lane, std::chrono::nanoseconds waited) {
                std::lock_guard lock(mu);
                waits.emplace_back(lane, waited);
              },
              clock);
  std::promise<void> go;
  auto gate = go.get_future().share();
  lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + 10s, [gate] { gate.wait(); });
  lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + 10s, [] {});  // waits behind the gate
  lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [] {});
  while (lanes.stats(Lane::Normal).running == 0) std::this_thread::sleep_for(1ms);
  clock.advance(30ms);
  go.set_value();
  lanes.stop();
  std::lock_guard lock(mu);
  REQUIRE(waits.size() == 3);
  int normal = 0;
  std::chrono::nanoseconds longest{0};
  for (const auto& [lane, waited] : waits) {
    normal += lane == Lane::Normal;
    if (lane == Lane::Normal) longest = std::max(longest, waited);
  }
  CHECK(normal == 2);
  CHECK(longest == 30ms);  // the one queued behind the gate, as its clock says
}

TEST_CASE("an exception in a task does not kill the lane") {
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8});
  lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [] { throw std::runtime_error("boom"); });
  std::promise<void> ran;
  auto done = ran.get_future();
  lanes.submit(Lane::High, std::chrono::steady_clock::now() + 10s, [&] { ran.set_value(); });
  CHECK(done.wait_for(2s) == std::future_status::ready);
}
