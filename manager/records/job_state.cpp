#include "records/job_state.hpp"

namespace warmpool {

const char* to_string(JobState state) {
  switch (state) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Complete: return "complete";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<JobState> job_state_from(std::string_view name) {
  for (auto s : {JobState::Queued, JobState::Running, JobState::Complete, JobState::Failed,
                 JobState::Cancelled})
    if (name == to_string(s)) return s;
  return std::nullopt;
}

const char* api_status(JobState state) {
  return state == JobState::Running ? "In-progress" : to_string(state);
}

}  // namespace warmpool
