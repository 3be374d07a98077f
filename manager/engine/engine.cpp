#include "engine/engine.hpp"

namespace warmpool::engine {

const char* to_string(EngineError::Kind kind) {
  switch (kind) {
    case EngineError::Kind::Unreachable: return "unreachable";
    case EngineError::Kind::Timeout: return "timeout";
    case EngineError::Kind::NotFound: return "not found";
    case EngineError::Kind::Conflict: return "conflict";
    case EngineError::Kind::BadRequest: return "bad request";
    case EngineError::Kind::Server: return "engine error";
    case EngineError::Kind::Protocol: return "protocol error";
  }
  return "unknown";
}

const char* to_string(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::Created: return "created";
    case ContainerStatus::Running: return "running";
    case ContainerStatus::Paused: return "paused";
    case ContainerStatus::Restarting: return "restarting";
    case ContainerStatus::Removing: return "removing";
    case ContainerStatus::Exited: return "exited";
    case ContainerStatus::Dead: return "dead";
    case ContainerStatus::Unknown: return "unknown";
  }
  return "unknown";
}

ContainerStatus container_status_from(const std::string& s) {
  if (s == "created") return ContainerStatus::Created;
  if (s == "running") return ContainerStatus::Running;
  if (s == "paused") return ContainerStatus::Paused;
  if (s == "restarting") return ContainerStatus::Restarting;
  if (s == "removing") return ContainerStatus::Removing;
  if (s == "exited") return ContainerStatus::Exited;
  if (s == "dead") return ContainerStatus::Dead;
  return ContainerStatus::Unknown;
}

}  // namespace warmpool::engine
