// Talks to the pi-worker inside an instance. A paused container accepts TCP
// connections but never answers, so every call takes a deadline.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace httplib {
class Client;
}

namespace warmpool {

class WorkerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WorkerClient {
 public:
  virtual ~WorkerClient() = default;
  // Each throws WorkerError ("ping 127.0.0.1:20001: timed out after 500 ms")
  // on failure or when the deadline passes. Thread-safe.
  virtual void ping(const std::string& endpoint, std::chrono::milliseconds deadline) = 0;
  // Cancels the worker's computation and wipes its data; returns when clean.
  virtual void reset(const std::string& endpoint, std::chrono::milliseconds deadline) = 0;
};

// HTTP implementation. Keeps idle keep-alive connections per endpoint, so a
// hand-out costs no TCP handshake; a connection that failed is dropped.
class HttpWorkerClient final : public WorkerClient {
 public:
  HttpWorkerClient();
  ~HttpWorkerClient() override;
  void ping(const std::string& endpoint, std::chrono::milliseconds deadline) override;
  void reset(const std::string& endpoint, std::chrono::milliseconds deadline) override;

 private:
  void call(const char* what, bool post, const std::string& endpoint, const std::string& path,
            std::chrono::milliseconds deadline);
  std::unique_ptr<httplib::Client> checkout(const std::string& endpoint);
  void checkin(const std::string& endpoint, std::unique_ptr<httplib::Client> client);

  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
