// The life of one pi job:
//
//   queued -> running -> complete | failed | cancelled
//   running -> queued              (its worker was lost and it has retries left,
//                                   or the manager restarted under it)
//   queued -> complete | failed | cancelled
//
// complete, failed and cancelled are final.
#pragma once

#include <optional>
#include <string_view>

namespace warmpool {

enum class JobState { Queued, Running, Complete, Failed, Cancelled };

// The name in the database: "queued", "running", "complete", "failed", "cancelled".
const char* to_string(JobState state);
std::optional<JobState> job_state_from(std::string_view name);

// The status the pi-service API shows: as to_string, except "In-progress"
// for running (the earlier service's word).
const char* api_status(JobState state);

inline bool is_final(JobState s) {
  return s == JobState::Complete || s == JobState::Failed || s == JobState::Cancelled;
}

}  // namespace warmpool
