#include "engine/pause_probe.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace warmpool::engine {

PauseVia pause_via_from(const std::string& text) {
  if (text == "auto") return PauseVia::Auto;
  if (text == "freezer") return PauseVia::Freezer;
  if (text == "engine") return PauseVia::Engine;
  throw std::invalid_argument("--pause-via must be auto, freezer or engine, not \"" + text + "\"");
}

CgroupLayout cgroup_layout_of(DockerEngine& engine, const std::string& cgroup_mount) {
  const auto info = engine.cgroup_info();
  const auto runtime = engine.version().is_podman() ? CgroupLayout::Runtime::Podman : CgroupLayout::Runtime::Docker;
  return CgroupLayout::from_engine(info.driver, info.version, cgroup_mount, runtime);
}

// The default parent's cgroup holds the same control file as a container's:
// if we may write that one, we may write theirs. Before the engine's first
// container that directory may not exist yet; then the hierarchy's root says.
std::string freezer_access_problem(const CgroupLayout& layout) {
  const std::string sample = cgroup_dir(layout, "x", "");
  const std::string parent = std::filesystem::path(sample).parent_path().string();
  std::string path = parent + "/" + layout.control_file();
  if (::access(parent.c_str(), F_OK) != 0) path = layout.root;
  if (::access(path.c_str(), W_OK) == 0) return {};
  return "cannot write " + path + ": " + std::strerror(errno);
}

PauseChoice choose_pause_path(PauseVia via, DockerEngine& engine, const std::string& cgroup_mount) {
  if (via == PauseVia::Engine) return {nullptr, "--pause-via engine"};
  const bool forced = via == PauseVia::Freezer;
  auto refuse = [&](const std::string& why) -> PauseChoice {
    if (forced) throw std::invalid_argument("--pause-via freezer: " + why);
    return {nullptr, why};
  };
  if (engine.endpoint().scheme != EngineEndpoint::Scheme::Unix)
    return refuse("the engine at " + engine.endpoint().text() + " is not local: its cgroups are on another host");
  CgroupLayout layout;
  try {
    layout = cgroup_layout_of(engine, cgroup_mount);
  } catch (const std::exception& e) {
    return refuse(std::string("cannot tell where the engine's cgroups are: ") + e.what());
  }
  const std::string problem = freezer_access_problem(layout);
  if (!problem.empty() && !forced) return {nullptr, problem};
  auto freezer = std::make_unique<CgroupFreezer>(
      layout, [&engine](const std::string& id) { return engine.inspect(id).cgroup_parent; });
  std::string why = forced ? "--pause-via freezer" : "local engine, cgroup freezer writable";
  why += " (" + layout.root + ", cgroup v" + (layout.version == CgroupLayout::Version::V1 ? "1" : "2") +
         ", driver " + (layout.driver == CgroupLayout::Driver::Cgroupfs ? "cgroupfs" : "systemd") +
         (layout.runtime == CgroupLayout::Runtime::Podman ? ", Podman" : "") + ")";
  if (!problem.empty()) why += "; warning: " + problem;
  return {std::move(freezer), why};
}

}  // namespace warmpool::engine
