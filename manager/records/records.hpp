// The records every part of the manager speaks of: instances, allocations,
// pi jobs and host usage. Plain values with no I/O; the store persists them,
// the pool and the job runner decide over them, the API serialises them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "records/instance_state.hpp"
#include "records/job_state.hpp"
#include "records/pool_record.hpp"

namespace warmpool {

struct Instance {
  std::int64_t id = 0;
  std::string container_id;
  std::string host;
  int port = 0;
  InstanceState state = InstanceState::Starting;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::optional<std::int64_t> deleted_ms;
  int failures = 0;  // consecutive failed health checks or hand-outs
  int restarts = 0;  // restarts since the last successful hand-out
  std::string last_error;
  std::string pool = kDefaultPool;  // the pool it belongs to, for its whole life
  // The engine that holds the container (several engines); one engine is
  // named "default".
  std::string engine = "default";

  std::string endpoint() const { return host + ":" + std::to_string(port); }
};

// What an allocation keeps of its session's initial state (POST /allocations
// "init") and access token: sizes and digests, never the content or the token.
struct AllocationSession {
  std::int64_t init_bytes = 0;  // the init files' bytes together
  std::string init_sha256;      // of the init object (see worker/session_init.hpp); empty: none
  std::string metadata;         // compact JSON object; empty: none
  std::string token_sha256;     // of the session's access token; empty: none
};

struct Allocation {
  std::string id;
  // A small integer, unique and never reused, given at allocation: the id
  // of the compatibility view of the earlier system (whose client reads ids
  // as integers). 0 until recorded.
  std::int64_t number = 0;
  std::int64_t instance_id = 0;
  std::string endpoint;
  std::string client;
  std::string pool = kDefaultPool;  // its instance's pool, copied when it was made
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::optional<std::int64_t> deleted_ms;
  std::string end_reason;  // "released", "lease expired", "instance lost: ..."
  AllocationSession session;
  // The session's access token, in the hand-out's own answer only; the
  // store keeps its hash.
  std::string token;

  bool current() const { return !deleted_ms.has_value(); }
};

// A pi job's digits, as a file in the results directory.
struct ResultFile {
  std::string name;    // file name inside the results directory
  std::string sha256;  // lower-case hex of the whole file
  std::int64_t bytes = 0;
};

struct Job {
  std::int64_t id = 0;  // counts up from 0
  std::int64_t digits = 0;
  JobState state = JobState::Queued;
  double progress = 0;  // in [0, 1]; written while running, at most about once a second
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::optional<std::int64_t> started_ms;   // first time it ran
  std::optional<std::int64_t> finished_ms;  // when it became complete, failed or cancelled
  int attempts = 0;           // runs that lost their worker (retries used)
  std::string allocation_id;  // while running: the allocation it runs on
  std::string error;          // failed: why; else the last lost attempt's reason, if any
  std::optional<ResultFile> result;  // complete only
  std::optional<std::int64_t> source_job;  // answered from this job's result (a prefix)
  std::string pool;  // the pool its submitter named, kept until it ends; empty: none named
};

enum class Show { Current, Finished, All };

// One change in an instance's life, kept so that a fault that recovered
// within a second still shows what happened (the record keeps only the last
// error). The store keeps the newest ones only.
struct InstanceEvent {
  std::int64_t id = 0;  // counts up
  std::int64_t instance_id = 0;
  std::int64_t at_ms = 0;
  std::optional<InstanceState> from;  // none: the instance was created
  InstanceState to = InstanceState::Starting;
  std::string detail;  // the error that caused it, if any
};

// Host CPU and memory use, as fractions in [0, 1].
struct HostUsage {
  double cpu = 0;
  double memory = 0;
};

}  // namespace warmpool
