// Which way this manager pauses containers, decided once at start per
// engine: through the cgroup freezer when the engine is local (a unix
// socket) and this process can write its containers' freezer files, else
// through the engine's pause and unpause. The choice says why, for the
// start-up log and GET /health.
#pragma once

#include <memory>
#include <string>

#include "engine/docker_engine.hpp"
#include "engine/freezer.hpp"

namespace warmpool::engine {

enum class PauseVia { Auto, Freezer, Engine };
// "auto", "freezer", "engine"; throws std::invalid_argument otherwise.
PauseVia pause_via_from(const std::string& text);

struct PauseChoice {
  std::unique_ptr<CgroupFreezer> freezer;  // null: the engine's pause
  std::string why;
};

// Asks the engine where its cgroups are (GET /info) unless `via` is Engine.
// Auto falls back to the engine with the reason; Freezer insists, and throws
// std::invalid_argument when the freezer cannot work at all (a remote
// engine, an unknown cgroup driver, an engine that does not answer).
// `cgroup_mount` is where all cgroups are mounted (tests pass a directory).
PauseChoice choose_pause_path(PauseVia via, DockerEngine& engine,
                              const std::string& cgroup_mount = "/sys/fs/cgroup");

// Where `engine` puts its containers' cgroups: its driver and cgroup version
// (GET /info) and whether it is Podman (GET /version). Throws EngineError, or
// std::invalid_argument for a driver it does not know.
CgroupLayout cgroup_layout_of(DockerEngine& engine, const std::string& cgroup_mount = "/sys/fs/cgroup");

// The probe's last step, on its own for tests: "" when this process may
// write the freezer control file under `layout` for containers with the
// default cgroup parent, else why not.
std::string freezer_access_problem(const CgroupLayout& layout);

}  // namespace warmpool::engine
