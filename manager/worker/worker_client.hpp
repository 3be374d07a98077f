// Talks to the pi-worker inside an instance: GET /ping, POST /reset,
// POST /init, POST /compute, GET /compute, GET /result (swagger/worker.yaml).
// A paused container accepts TCP connections but never answers, so every
// call takes a deadline.
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

// The worker refused a session's payload itself (HTTP 4xx from POST /init):
// the request is at fault, not the instance.
class InitRefusedByWorker : public WorkerError {
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
  // Delivers a session's state (POST /init with `body`, see
  // SessionInit::worker_body). InitRefusedByWorker when the worker refuses
  // the payload (HTTP 4xx), WorkerError otherwise.
  virtual void init(const std::string& endpoint, const std::string& body, Deadline deadline) = 0;
  // Starts computing `digits` digits; ComputeRefused when the worker refuses
  // the request (HTTP 400), WorkerError otherwise (busy: HTTP 409).
  virtual void start_compute(const std::string& endpoint, std::int64_t digits, Deadline deadline) = 0;
  // A state the worker should not send is a WorkerError that names it.
  virtual ComputeStatus compute_status(const std::string& endpoint, Deadline deadline) = 0;
  // Hands the result's bytes to `sink` as they arrive; a sink returning
  // false aborts the transfer (WorkerError).
  virtual void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) = 0;

  // Health checks of images that do not speak the worker protocol; they
  // carry no control secret. WorkerError unless GET `path` answers 2xx.
  virtual void probe_http(const std::string& endpoint, const std::string& path, Deadline deadline) = 0;
  // WorkerError unless a TCP connection to endpoint opens before the deadline.
  virtual void probe_tcp(const std::string& endpoint, Deadline deadline) = 0;
};

// HTTP implementation. Keeps up to four idle keep-alive connections per
// endpoint and uses them for every call, so a hand-out or a progress poll
// costs no TCP handshake; a connection whose call failed is dropped, and the
// next call opens a new one.
//
// With a control key, every call carries the endpoint's control secret
// (control_secret below) as its bearer token: the secret the manager gave
// that worker when it created the container.
class HttpWorkerClient final : public WorkerClient {
 public:
  explicit HttpWorkerClient(std::string control_key = {});
  ~HttpWorkerClient() override;
  void ping(const std::string& endpoint, std::chrono::milliseconds deadline) override;
  void reset(const std::string& endpoint, std::chrono::milliseconds deadline) override;
  void init(const std::string& endpoint, const std::string& body, Deadline deadline) override;
  void start_compute(const std::string& endpoint, std::int64_t digits, Deadline deadline) override;
  ComputeStatus compute_status(const std::string& endpoint, Deadline deadline) override;
  void fetch_result(const std::string& endpoint, const Sink& sink, Deadline deadline) override;
  void probe_http(const std::string& endpoint, const std::string& path, Deadline deadline) override;
  void probe_tcp(const std::string& endpoint, Deadline deadline) override;

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

  const std::string control_key_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;  // GUARDED_BY(mu_)
};

// The control secret of the worker at `endpoint` ("host:port"): HMAC-SHA256
// of the endpoint under the manager's control key, as 64 hex digits. Only
// the manager (which holds the key) and that worker (given its secret at
// creation) know it; another instance cannot derive it. "" without a key.
std::string control_secret(const std::string& control_key, const std::string& endpoint);

}  // namespace warmpool
