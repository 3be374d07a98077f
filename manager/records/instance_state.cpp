#include "records/instance_state.hpp"

#include <array>

namespace warmpool {

namespace {
constexpr std::array<const char*, 8> kNames = {"starting", "ready",     "paused",   "allocated",
                                               "resetting", "error", "deleting", "deleted"};
}

const char* to_string(InstanceState state) { return kNames[static_cast<int>(state)]; }

std::optional<InstanceState> instance_state_from(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (name == kNames[i]) return static_cast<InstanceState>(i);
  return std::nullopt;
}

bool can_transition(InstanceState from, InstanceState to) {
  using S = InstanceState;
  if (from == S::Deleted) return false;
  if (to == S::Error) return from != S::Deleting;  // a failing delete stays deleting and is retried
  if (to == S::Deleting) return from != S::Deleting;
  switch (from) {
    case S::Starting: return to == S::Ready;
    case S::Ready: return to == S::Paused || to == S::Allocated;
    case S::Paused: return to == S::Ready || to == S::Allocated;
    case S::Allocated: return to == S::Resetting;
    case S::Resetting: return to == S::Ready || to == S::Paused;
    case S::Error: return to == S::Starting;
    case S::Deleting: return to == S::Deleted;
    case S::Deleted: return false;
  }
  return false;
}

}  // namespace warmpool
