// How integration tests find the Docker engine, and how they fail without it.
//
// The engine is, in order:
//   1. WARMPOOL_ENGINE (an endpoint: unix:///path, tcp://host:port, ...),
//   2. DOCKER_HOST (with DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as the docker CLI),
//   3. the engine recorded by scripts/engine start in $WARMPOOL_RUN/engine.env
//      (WARMPOOL_RUN defaults to .run in this source tree),
//   4. unix:///var/run/docker.sock.
//
// A missing engine or image FAILS the test (never skips), with or without
// CI=true: a green run must mean the integration tests ran.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/docker_engine.hpp"

namespace warmpool::test {

inline constexpr const char* kWorkerImage = "warmpool/pi-worker:latest";

namespace detail {

inline std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

// DOCKER_HOST=... from the engine.env that scripts/engine start writes.
inline std::string recorded_docker_host() {
  std::filesystem::path run = env("WARMPOOL_RUN");
  if (run.empty()) run = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / ".run";
  std::ifstream in(run / "engine.env");
  const std::string key = "DOCKER_HOST=";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
  }
  return {};
}

}  // namespace detail

inline engine::DockerEngine::Options engine_options() {
  auto options = engine::DockerEngine::Options::from_env();  // DOCKER_HOST and TLS settings
  if (const std::string endpoint = detail::env("WARMPOOL_ENGINE"); !endpoint.empty()) {
    options.endpoint = endpoint;
  } else if (detail::env("DOCKER_HOST").empty()) {
    if (const std::string recorded = detail::recorded_docker_host(); !recorded.empty()) options.endpoint = recorded;
  }
  return options;
}

// Fails the current test unless the engine answers.
inline void require_engine(engine::Engine& engine) {
  const auto* docker = dynamic_cast<const engine::DockerEngine*>(&engine);
  const std::string endpoint = docker != nullptr ? docker->options().endpoint : std::string("the engine");
  try {
    const engine::EngineVersion version = engine.version();
    INFO("engine " << endpoint << ": Docker " << version.version << ", API " << version.api_version);
  } catch (const engine::EngineError& e) {
    FAIL("no Docker engine answers at " << endpoint << " (" << e.what()
                                        << "). Start one with `scripts/engine start` and export its address with "
                                           "`eval \"$(scripts/engine env)\"`, or set WARMPOOL_ENGINE.");
  }
}

// Fails the current test unless `image` exists on the engine.
inline void require_image(engine::Engine& engine, const std::string& image = kWorkerImage) {
  require_engine(engine);
  if (!engine.image_exists(image)) {
    FAIL("image " << image << " is missing on the engine; build it with `scripts/build-image`.");
  }
}

}  // namespace warmpool::test
