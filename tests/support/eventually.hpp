// Polling for a condition that other threads make true, with a bound.
#pragma once

#include <chrono>
#include <thread>

namespace warmpool::test {

// Polls `pred` every `step` until it holds or `limit` passes; returns its last answer.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5),
                std::chrono::milliseconds step = std::chrono::milliseconds(2)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

}  // namespace warmpool::test
