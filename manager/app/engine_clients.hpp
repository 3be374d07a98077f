// The engines of --engine and those recorded through the admin API as one
// Engine (engine::EngineSet): the first is given (the App's own client), the
// others are made here, each with every call in the metrics.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "config/config.hpp"
#include "engine/docker_engine.hpp"
#include "engine/engine_set.hpp"
#include "engine/placement.hpp"
#include "engine/timed_engine.hpp"
#include "store/store.hpp"

namespace warmpool {

class EngineClients {
 public:
  // The flags' engines, then the recorded ones (a recorded name that a flag
  // also gives is skipped, with a warning; a recorded engine that does not
  // answer joins as down). Talks to no engine. Throws StoreError.
  EngineClients(const Config& config, engine::Engine& first, engine::TimedEngine::Observer observe, Store& store);

  // A client for the engine `spec` names (its own TLS files, else the
  // flags'; --engine-timeout-ms), kept as long as this object. Talks to no
  // engine. Thread-safe.
  engine::Engine& connect(const engine::EngineSpec& spec);

  engine::EngineSet set;

 private:
  const Config& config_;
  const engine::TimedEngine::Observer observe_;
  std::mutex mu_;
  std::vector<std::unique_ptr<engine::DockerEngine>> dockers_;  // GUARDED_BY(mu_); every engine's but the first
  std::vector<std::unique_ptr<engine::TimedEngine>> timed_;     // GUARDED_BY(mu_)
};

}  // namespace warmpool
