// How a pool talks to its image: the health check that says an instance
// serves, and the reset that makes a released instance clean for the next
// session. Images that speak the worker protocol (swagger/worker.yaml) use
// `worker` for both; any other image that listens on $PORT is pooled with an
// `http` or `tcp` health check and a `restart` or `recreate` reset.
//
// Plain values and pure decisions, no I/O: the pool applies them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "records/instance_state.hpp"

namespace warmpool {

enum class HealthCheck {
  Worker,  // GET /ping of the worker protocol
  Http,    // GET health_path, any 2xx
  Tcp,     // a connect to the instance's port
};

enum class ResetMethod {
  Worker,    // POST /reset of the worker protocol
  Restart,   // the container restarts: fresh processes, a fresh /scratch tmpfs; same container
  Recreate,  // the container is removed and a new instance replaces it: a fresh root as well
};

const char* to_string(HealthCheck check);
const char* to_string(ResetMethod method);
std::optional<HealthCheck> health_check_from(std::string_view name);
std::optional<ResetMethod> reset_method_from(std::string_view name);

struct ImageProtocol {
  HealthCheck health = HealthCheck::Worker;
  std::string health_path = "/";  // for Http
  ResetMethod reset = ResetMethod::Worker;

  // Only a worker takes a session's init payload and token, and a control
  // secret at creation; it is started as `serve --host H --port P`.
  bool speaks_worker() const { return health == HealthCheck::Worker; }
};

// Why `protocol` cannot work; nullopt when it can. A worker reset needs an
// image that speaks the worker protocol; an http path starts with '/'.
std::optional<std::string> protocol_refusal(const ImageProtocol& protocol);

// One step of a hand-out, before the allocation is committed.
enum class HandOutStep { Unpause, WorkerReset, WorkerInit, HealthCheck };

// The steps of a hand-out of an idle instance that was in state `was`, in
// order. A worker is reset and given the session before the check; an
// instance of another image was made clean when it was released (restart or
// recreate), so it is only checked.
std::vector<HandOutStep> hand_out_steps(const ImageProtocol& protocol, InstanceState was);

}  // namespace warmpool
