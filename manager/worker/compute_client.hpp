// Talks to the pi-worker's compute API inside an allocated instance:
// POST /compute, GET /compute, GET /result, POST /reset. Every call takes a
// deadline (a paused or dying container may accept a connection and never
// answer).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "worker/worker_client.hpp"

namespace warmpool::jobs {

// The worker refused the request itself (HTTP 400: digits above its cap,
// say); trying again elsewhere will not help.
class ComputeRefused : public WorkerError {
 public:
  using WorkerError::WorkerError;
};

struct ComputeStatus {
  std::string state;  // idle, running, done, failed, cancelled
  std::int64_t digits = 0;
  double progress = 0;  // [0, 1]
  std::int64_t elapsed_ms = 0;
  std::string error;  // when failed
};

class ComputeClient {
 public:
  using Sink = std::function<bool(const char* data, std::size_t size)>;
  using Deadline = std::chrono::milliseconds;

  virtual ~ComputeClient() = default;
  // Each throws WorkerError ("compute 127.0.0.1:20001: Connection refused")
  // on failure or when `deadline` passes (for fetch_result: between two
  // pieces of the body). Thread-safe.
  // Starts computing; ComputeRefused when the worker refuses the request.
  virtual void start(const std::string& endpoint, std::int64_t digits, Deadline deadline) = 0;
  virtual ComputeStatus status(const std::string& endpoint, Deadline deadline) = 0;
  // Hands the result's bytes to `sink` as they arrive; a sink returning
  // false aborts the transfer (WorkerError).
  virtual void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) = 0;
  // Cancels the computation and wipes the worker's data.
  virtual void reset(const std::string& endpoint, Deadline deadline) = 0;
};

class HttpComputeClient final : public ComputeClient {
 public:
  void start(const std::string& endpoint, std::int64_t digits, Deadline deadline) override;
  ComputeStatus status(const std::string& endpoint, Deadline deadline) override;
  void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) override;
  void reset(const std::string& endpoint, Deadline deadline) override;
};

}  // namespace warmpool::jobs
