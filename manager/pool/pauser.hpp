// Pauser: the one way the pool and the scheduler pause, unpause and read
// "paused". Chosen at start (engine/pause_probe.hpp): the engine's pause and
// unpause, or the cgroup freezer.
//
// With the freezer the engine does not know a container is frozen: it
// reports it running. inspect() therefore takes "paused or running" from the
// freezer whenever one is given (one source of truth), also after a switch
// back to the engine, so that a container frozen behind our back, or left
// frozen by an earlier run, is seen as paused.
//
// Errors: pause and unpause throw EngineError. A freezer failure becomes an
// EngineError of kind Server carrying the freezer's message ("freeze <id>:
// <path>: <why>"): the instance is at fault, not the engine, so the caller
// puts that instance in `error` and tries the next. When the freezer has
// failed on kSwitchAfter different containers in a row, with no success in
// between, the Pauser switches to the engine's pause for good and logs a
// warning: a broken freezer must not empty the pool.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "engine/engine.hpp"
#include "engine/freezer.hpp"

namespace warmpool {

class Pauser {
 public:
  static constexpr int kSwitchAfter = 3;

  // freezer null: the engine's pause. `why` says why this path was chosen.
  // Both must outlive the Pauser.
  explicit Pauser(engine::Engine& engine, engine::Freezer* freezer = nullptr,
                  std::string why = "the engine's pause",
                  std::chrono::milliseconds deadline = std::chrono::milliseconds(1000));

  void pause(const std::string& container_id);
  void unpause(const std::string& container_id);
  // The engine's inspect, with Running or Paused as the freezer reads.
  engine::ContainerInfo inspect(const std::string& container_id);
  // The same correction for a container the engine described (a listing).
  engine::ContainerInfo overlay(engine::ContainerInfo info);
  // Before a stop, restart or removal (a frozen process cannot die): thaws
  // through the freezer, if any. Never throws.
  void thaw_before_stop(const std::string& container_id) noexcept;
  // The container is gone.
  void forget(const std::string& container_id) noexcept;

  struct Status {
    bool freezer = false;  // false: the engine's pause
    std::string why;
  };
  Status status() const;

 private:
  bool use_freezer() const { return freezer_ != nullptr && !switched_; }
  void freezer_failed(const std::string& container_id, const std::string& error);
  void freezer_worked();

  engine::Engine& engine_;
  engine::Freezer* const freezer_;
  const std::chrono::milliseconds deadline_;
  std::atomic<bool> switched_{false};
  mutable std::mutex mu_;
  std::string why_;                        // GUARDED_BY(mu_)
  std::set<std::string> failing_;          // GUARDED_BY(mu_); containers failed in a row
};

}  // namespace warmpool
