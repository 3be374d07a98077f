// Engines as records through the admin API: adding one (POST /engines),
// removing one (DELETE /engines/{name}), draining and resuming, and the
// upkeep that finishes a drain. Engines given by --engine stay configured by
// the flags: they are neither recorded nor removable here.
//
// Thread-safe. Each method may call the engines and the store.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/clock.hpp"
#include "engine/engine_set.hpp"
#include "engine/placement.hpp"
#include "pool/pool.hpp"
#include "store/store.hpp"

namespace warmpool {

// Why an admin request on an engine was refused, with the HTTP status that
// says so: 400 bad input or an engine that does not answer, 404 no such
// engine, 409 a conflict (a name taken, allocations still on it).
class EngineRefused : public std::runtime_error {
 public:
  EngineRefused(int status, const std::string& detail) : std::runtime_error(detail), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

class EngineAdmin {
 public:
  // A client for the engine that `spec` names (its TLS files, the engine
  // timeout), kept as long as the set may call it. Talks to no engine.
  using Connect = std::function<engine::Engine&(const engine::EngineSpec&)>;
  struct Settings {
    std::set<std::string> flag_engines;  // names given by --engine: not removable
    // Why no engine may be added (the cgroup freezer of the one engine is in
    // use); empty when engines may be added.
    std::string no_more_engines;
  };

  // The references must outlive this object.
  EngineAdmin(engine::EngineSet& engines, Store& store, Pool& pool, const Clock& clock, Connect connect,
              Settings settings);
  ~EngineAdmin();  // stops the upkeep

  // Checks the spec (name, endpoint, TLS files readable), that the engine
  // answers (within the client's timeout), records it and adds it. Throws
  // EngineRefused; StoreError.
  engine::EngineSet::Status add(const engine::EngineSpec& spec);

  // Removes a recorded engine. An engine with allocations on it is refused
  // (409) unless it is draining; then, as with one without allocations, it
  // is drained, its idle instances go now, and it leaves the set and the
  // store once its last instance is gone. True: gone now; false: leaving
  // once its allocations end. Throws EngineRefused; StoreError.
  bool remove(const std::string& name);

  // Drains (no new instances; idle ones removed now) or resumes an engine.
  // Throws EngineRefused 404 for an unknown name.
  engine::EngineSet::Status drain(const std::string& name);
  engine::EngineSet::Status resume(const std::string& name);

  // The engine's status; EngineRefused 404 for an unknown name.
  engine::EngineSet::Status status(const std::string& name) const;

  // What the upkeep does every period: idle instances on a draining engine
  // go (those that were allocated at the drain come back idle later), and
  // an engine being removed that holds no live instance leaves. Throws
  // StoreError.
  void settle();
  // Runs settle() every `period` in a thread of its own until stop().
  void start(std::chrono::milliseconds period);
  void stop() noexcept;

 private:
  int remove_idle_on(const std::string& name);
  int live_instances_on(const std::string& name, int* allocated = nullptr);

  engine::EngineSet& engines_;
  Store& store_;
  Pool& pool_;
  const Clock& clock_;
  const Connect connect_;
  const Settings settings_;
  std::mutex mu_;
  std::set<std::string> leaving_;  // GUARDED_BY(mu_); removed once empty
  std::jthread upkeep_;
};

}  // namespace warmpool
