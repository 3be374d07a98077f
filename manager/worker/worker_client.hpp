// Talks to the pi-worker inside an instance: GET /ping, POST /reset,
// POST /compute, GET /compute, GET /result. A paused container accepts TCP
// connections but never answers, so every call takes a deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

namespace httplib {
class Client;
struct Request;
}

namespace warmpool {

// "what endpoint: why", e.g. "ping 127.0.0.1:20001: Read timeout after 500 ms".
class WorkerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The worker refused the request itself (HTTP 400: digits above its cap,
// say); trying again on another worker will not help.
class ComputeRefused : public WorkerError {
 public:
  using WorkerError::WorkerError;
};

// The worker's computation, as GET /compute reports it.
enum class ComputeState { Idle, Running, Done, Failed, Cancelled };

// "idle", "running", ... as the worker spells them.
const char* to_string(ComputeState state);
// nullopt for a state the worker should not send.
std::optional<ComputeState> parse_compute_state(std::string_view text);

struct ComputeStatus {
  ComputeState state = ComputeState::Idle;
  std::int64_t digits = 0;
  double progress = 0;  // [0, 1]
  std::int64_t elapsed_ms = 0;
  std::string error;  // when Failed
};

class WorkerClient {
 public:
  using Deadline = std::chrono::milliseconds;
  // Receives the result's bytes as they arrive; false aborts the transfer.
  using Sink = std::function<bool(const char* data, std::size_t size)>;

  virtual ~WorkerClient() = default;
  // Each throws WorkerError ("ping 127.0.0.1:20001: Read timeout after 500 ms")
  // on failure or when the deadline passes (for fetch_result: between two
  // pieces of the body). Thread-safe.
  virtual void ping(const std::string& endpoint, std::chrono::milliseconds deadline) = 0;
  // Cancels the worker's computation and wipes its data; returns when clean.
  virtual void reset(const std::string& endpoint, std::chrono::milliseconds deadline) = 0;
  // Starts computing `digits` digits; ComputeRefused when the worker refuses
  // the request (HTTP 400), WorkerError otherwise (busy: HTTP 409).
  virtual void start_compute(const std::string& endpoint, std::int64_t digits, Deadline deadline) = 0;
  // A state the worker should not send is a WorkerError that names it.
  virtual ComputeStatus compute_status(const std::string& endpoint, Deadline deadline) = 0;
  // Hands the result's bytes to `sink` as they arrive; a sink returning
  // false aborts the transfer (WorkerError).
  virtual void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) = 0;
};

// HTTP implementation. Keeps up to four idle keep-alive connections per
// endpoint and uses them for every call, so a hand-out or a progress poll
// costs no TCP handshake; a connection whose call failed is dropped, and the
// next call opens a new one.
class HttpWorkerClient final : public WorkerClient {
 public:
  HttpWorkerClient();
  ~HttpWorkerClient() override;
  void ping(const std::string& endpoint, std::chrono::milliseconds deadline) override;
  void reset(const std::string& endpoint, std::chrono::milliseconds deadline) override;
  void start_compute(const std::string& endpoint, std::int64_t digits, Deadline deadline) override;
  ComputeStatus compute_status(const std::string& endpoint, Deadline deadline) override;
  void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) override;

 private:
  struct Answer {
    int status = 0;
    std::string body;  // empty when the request had a content receiver
  };
  // Sends `request` on an idle connection to `endpoint` (or a new one) and
  // keeps the connection for the next call if an answer came back; throws
  // WorkerError "what endpoint: why after N ms" when none did.
  Answer call(const char* what, const std::string& endpoint, httplib::Request& request,
              Deadline deadline);
  std::unique_ptr<httplib::Client> checkout(const std::string& endpoint);
  void checkin(const std::string& endpoint, std::unique_ptr<httplib::Client> client);

  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
