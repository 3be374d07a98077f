// The life of one instance, as an explicit set of states and the transitions
// between them:
//
//   starting -> ready <-> paused           (idle: ready = running, paused = frozen)
//   ready|paused -> allocated -> resetting -> ready|paused
//   any -> error -> (restart) starting | (give up) deleting -> deleted
#pragma once

#include <optional>
#include <string_view>

namespace warmpool {

enum class InstanceState { Starting, Ready, Paused, Allocated, Resetting, Error, Deleting, Deleted };

const char* to_string(InstanceState state);
std::optional<InstanceState> instance_state_from(std::string_view name);

// True when the state machine allows `from` -> `to`.
bool can_transition(InstanceState from, InstanceState to);

// Idle instances are the ones a hand-out may take.
inline bool is_idle(InstanceState s) { return s == InstanceState::Ready || s == InstanceState::Paused; }
// Live instances hold a port and (normally) a container.
inline bool is_live(InstanceState s) { return s != InstanceState::Deleted; }

}  // namespace warmpool
