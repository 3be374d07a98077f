// Freezer: pause and unpause a container by writing its cgroup's freezer
// directly, without the engine (dockerd -> containerd -> runc costs ~30 ms a
// call; the cgroup write costs ~0.05 ms). The engine does not see such a
// freeze: it keeps reporting the container as running, so whoever freezes
// through here must read "paused" from here too (Freezer::state).
//
// Where a container's cgroup is (cgroup_dir), for Docker:
//   driver cgroupfs: <root>/<cgroup parent, default "docker">/<full id>
//   driver systemd:  <root>/<cgroup parent, default "system.slice">/docker-<full id>.scope
// and for Podman:
//   driver cgroupfs: <root>/<cgroup parent, default "libpod_parent">/libpod-<full id>
//   driver systemd:  <root>/<cgroup parent, default "machine.slice">/libpod-<full id>.scope
// where <root> is the freezer hierarchy's mount (v1: /sys/fs/cgroup/freezer)
// or the unified one (v2: /sys/fs/cgroup).
//   v1: write FROZEN or THAWED to freezer.state; reading gives FROZEN,
//       FREEZING or THAWED.
//   v2: write 1 or 0 to cgroup.freeze; cgroup.events says "frozen 1" once
//       every process is frozen.
//
// Errors: every method throws FreezerError, what() reading
// "freeze <short id>: <path>: <why>" (or thaw, state). Kinds: the cgroup is
// missing (the container is not running, or the path is wrong), permission
// denied, the state did not settle before the deadline, other I/O.
//
// Thread safety: calls on different containers may run concurrently; the
// path cache is locked.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

namespace warmpool::engine {

enum class FreezeState { Thawed, Freezing, Frozen };
const char* to_string(FreezeState state);

class FreezerError : public std::runtime_error {
 public:
  enum class Kind { Missing, Denied, Timeout, Io };
  FreezerError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

class Freezer {
 public:
  virtual ~Freezer() = default;
  // Each returns once the container is in the state, or throws FreezerError
  // (Timeout when it did not get there within `deadline`).
  virtual void freeze(const std::string& container_id, std::chrono::milliseconds deadline) = 0;
  virtual void thaw(const std::string& container_id, std::chrono::milliseconds deadline) = 0;
  virtual FreezeState state(const std::string& container_id) = 0;
  // The container is gone: drop what is kept about it.
  virtual void forget(const std::string& /*container_id*/) {}
};

struct CgroupLayout {
  enum class Version { V1, V2 };
  enum class Driver { Cgroupfs, Systemd };
  enum class Runtime { Docker, Podman };
  std::string root;  // the freezer hierarchy's mount point
  Version version = Version::V1;
  Driver driver = Driver::Cgroupfs;
  Runtime runtime = Runtime::Docker;

  // From the engine's /info answers ("cgroupfs"|"systemd", "1"|"2") and the
  // mount of all cgroups (normally /sys/fs/cgroup). Throws
  // std::invalid_argument for a driver it does not know.
  static CgroupLayout from_engine(const std::string& driver, const std::string& version,
                                  const std::string& cgroup_mount = "/sys/fs/cgroup",
                                  Runtime runtime = Runtime::Docker);
  // The file written to freeze or thaw.
  const char* control_file() const { return version == Version::V1 ? "freezer.state" : "cgroup.freeze"; }
};

// The directory of a container's cgroup; cgroup_parent as inspect reports it
// (HostConfig.CgroupParent, empty for the engine's default).
std::string cgroup_dir(const CgroupLayout& layout, const std::string& container_id,
                       const std::string& cgroup_parent);

class CgroupFreezer final : public Freezer {
 public:
  // Returns a container's cgroup parent (from the engine's inspect); asked
  // once per container, then cached.
  using ParentOf = std::function<std::string(const std::string& container_id)>;
  CgroupFreezer(CgroupLayout layout, ParentOf parent_of);

  void freeze(const std::string& container_id, std::chrono::milliseconds deadline) override;
  void thaw(const std::string& container_id, std::chrono::milliseconds deadline) override;
  FreezeState state(const std::string& container_id) override;

  void forget(const std::string& container_id) override;
  const CgroupLayout& layout() const { return layout_; }

 private:
  std::string dir_of(const std::string& container_id);
  void set(const char* operation, const std::string& container_id, bool frozen,
           std::chrono::milliseconds deadline);
  FreezeState read_state(const char* operation, const std::string& container_id,
                         const std::string& dir);

  const CgroupLayout layout_;
  const ParentOf parent_of_;
  std::mutex mu_;
  std::map<std::string, std::string> dirs_;  // GUARDED_BY(mu_); container id -> cgroup dir
};

}  // namespace warmpool::engine
