// The container engine as the pool sees it: an abstract interface with the
// Docker Engine API client (docker_engine.hpp) as the real implementation and
// a fake one in tests/.
//
// Thread safety: every implementation must allow concurrent calls from many
// threads; the pool calls unpause on the high lane while creates run on the
// normal lane.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

namespace warmpool::engine {

using Labels = std::map<std::string, std::string>;

// Label keys put on every container we create, so that a restarted manager
// finds its containers again.
inline constexpr const char* kManagerLabel = "warmpool.manager";
inline constexpr const char* kInstanceLabel = "warmpool.instance";
// The instance's pool; a container without it was made before pools and
// belongs to the pool named default.
inline constexpr const char* kPoolLabel = "warmpool.pool";
// The name of the one engine of a manager given a single endpoint.
inline constexpr const char* kDefaultEngine = "default";

// Every engine failure is an EngineError. kind says what the caller can do
// about it; what() reads "operation container: engine's message".
class EngineError : public std::runtime_error {
 public:
  enum class Kind {
    Unreachable,  // socket missing, connection refused: the engine is down
    Timeout,      // the call's deadline passed
    NotFound,     // 404: no such container or image
    Conflict,     // 409: e.g. already paused, name in use
    BadRequest,   // 400: our request was wrong
    Server,       // 5xx or any other engine-side failure
    Protocol,     // an answer we could not understand
  };

  EngineError(Kind kind, std::string message, int http_status = 0,
              std::string container_id = {})
      : std::runtime_error(std::move(message)),
        kind_(kind),
        http_status_(http_status),
        container_id_(std::move(container_id)) {}

  Kind kind() const { return kind_; }
  int http_status() const { return http_status_; }
  const std::string& container_id() const { return container_id_; }

 private:
  Kind kind_;
  int http_status_;
  std::string container_id_;
};

const char* to_string(EngineError::Kind kind);

struct EngineVersion {
  std::string version;      // e.g. "20.10.24"
  std::string api_version;  // the engine's newest API, e.g. "1.41"
  std::string os;
  // The engine's own name for itself (/version Components[0].Name): Docker
  // says "Engine", Podman "Podman Engine". Podman's Docker-compatible API
  // differs in places (cgroup paths, some error codes); see README "Podman".
  std::string product;
  bool is_podman() const { return product.find("Podman") != std::string::npos; }
};

// What to create. The defaults are the hardened ones: the pool only ever
// relaxes them through configuration.
struct ContainerSpec {
  std::string name;   // optional; the engine picks one when empty
  std::string image;  // e.g. "warmpool/pi-worker:latest"
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  Labels labels;
  std::string user = "65534";
  bool read_only_rootfs = true;
  std::string tmpfs_path = "/scratch";
  std::int64_t tmpfs_bytes = 64ll << 20;
  std::int64_t memory_bytes = 512ll << 20;
  std::int64_t nano_cpus = 1'000'000'000;  // 1 CPU
  std::int64_t pids_limit = 64;
  std::string network_mode = "host";  // or the name of a Docker network
  std::string volume;                  // a named volume mounted read-only at volume_target; empty: none
  std::string volume_target = "/data";
};

enum class ContainerStatus { Created, Running, Paused, Restarting, Removing, Exited, Dead, Unknown };

const char* to_string(ContainerStatus status);
ContainerStatus container_status_from(const std::string& engine_state);

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string image;
  ContainerStatus status = ContainerStatus::Unknown;
  Labels labels;
  int exit_code = 0;
  bool oom_killed = false;
  std::string cgroup_parent;  // HostConfig.CgroupParent; empty: the engine's default
};

// One entry of the engine's event stream (container events only).
struct Event {
  std::string action;  // "die", "oom", "kill", "pause", "unpause", "start", "destroy", ...
  std::string container_id;
  Labels labels;
  std::int64_t time_ns = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Reachability and version; throws EngineError when the engine is down.
  virtual EngineVersion version() = 0;

  // Returns the new container's id. The container is not started.
  virtual std::string create(const ContainerSpec& spec) = 0;
  virtual void start(const std::string& id) = 0;
  virtual void pause(const std::string& id) = 0;
  virtual void unpause(const std::string& id) = 0;
  // Sends SIGTERM, then SIGKILL after grace.
  virtual void stop(const std::string& id, std::chrono::seconds grace) = 0;
  virtual void kill(const std::string& id, const std::string& signal = "KILL") = 0;
  // Forced removal. A container that is already gone is success.
  virtual void remove(const std::string& id) = 0;
  virtual ContainerInfo inspect(const std::string& id) = 0;
  // All containers (running or not) that carry every label in `match`.
  virtual std::vector<ContainerInfo> list(const Labels& match) = 0;
  virtual bool image_exists(const std::string& image) = 0;

  // Blocks, delivering container events for containers carrying every label in
  // `match`, until stop is requested (returns normally) or the stream breaks
  // (throws EngineError). Callers reconnect.
  virtual void watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                            std::stop_token stop) = 0;

  // Several engines behind one (EngineSet); a single engine keeps these.
  // The name of the engine that holds the container; "" when not known.
  virtual std::string engine_of(const std::string& /*container_id*/) { return kDefaultEngine; }
  // Whether the named engine answered when last asked. A single engine says
  // true: its reachability is the caller's to track, as it always was.
  virtual bool engine_up(const std::string& /*name*/) { return true; }
};

}  // namespace warmpool::engine
