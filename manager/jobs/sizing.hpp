// How much memory a pi job needs, and which pool runs it. Pure.
//
// Measured here (pi-worker digits N --threads 2, peak RSS): 9 MB at 10^5,
// 18 MB at 10^6, 95 MB at 10^7, 930 MB at 10^8: about 9.3 bytes a digit
// at the top plus a few MB. A job gets an instance whose memory limit holds
// 10 bytes a digit plus 32 MiB, so that the kernel never kills it midway.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace warmpool::jobs {

inline constexpr std::int64_t kJobBytesPerDigit = 10;
inline constexpr std::int64_t kJobBaseBytes = 32ll << 20;

// The memory limit an instance needs to compute `digits` digits.
std::int64_t memory_for_digits(std::int64_t digits);

// A pool as a job sees it.
struct JobPool {
  std::string name;
  std::int64_t memory_bytes = 0;  // each instance's memory limit
  bool runs_workers = true;       // its image speaks the worker protocol
  bool accepting = true;          // not draining
};

// The pool a job of `digits` runs on: among the accepting pools that run
// workers and have the memory, the one with the least memory (big instances
// stay free for big jobs; ties go to the first listed). `refusal` says why
// none fits; `no_workers` is set when no pool runs workers at all.
struct JobPoolChoice {
  std::string pool;  // empty: none
  std::string refusal;
  bool no_workers = false;
  int status = 0;  // with a refusal, its HTTP status: 400, 404 or 409
};
JobPoolChoice choose_job_pool(const std::vector<JobPool>& pools, std::int64_t digits);

// The pool `name` for a job of `digits`, when its submitter named one, or
// why it cannot run there: 404 no pool has that name; 409 its image runs no
// pi workers, or it is draining; 400 its instances lack the memory (the
// refusal says how much is needed and how much the pool gives).
JobPoolChoice check_named_job_pool(const std::vector<JobPool>& pools, const std::string& name,
                                   std::int64_t digits);

}  // namespace warmpool::jobs
