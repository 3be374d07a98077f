// A stand-in for the Docker engine on 127.0.0.1 (random port), for testing
// the client's requests and its handling of answers. Tests add routes on
// server(); every request is recorded before routing (its body only when the
// handler calls note_body).
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace warmpool::test {

struct RecordedRequest {
  std::string method;
  std::string path;
  httplib::Params params;  // decoded query parameters
  std::string body;
  std::string content_type;
};

class FakeDockerServer {
 public:
  // GET /version reports `api_version` as the engine's newest API.
  // `product`: the first component's name in /version ("Podman Engine" for Podman).
  explicit FakeDockerServer(const std::string& api_version = "1.41", const std::string& product = "Engine") {
    server_.set_tcp_nodelay(true);
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mu_);
      requests_.push_back({req.method, req.path, req.params, req.body, req.get_header_value("Content-Type")});
      return httplib::Server::HandlerResponse::Unhandled;
    });
    const std::string version =
        R"({"Version":"20.10.24","ApiVersion":")" + api_version + R"(","MinAPIVersion":"1.12","Os":"linux",)"
        R"("Components":[{"Name":")" + product + R"(","Version":"20.10.24"},{"Name":"containerd"}]})";
    server_.Get("/version", [version](const httplib::Request&, httplib::Response& res) {
      res.set_content(version, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~FakeDockerServer() {
    release();
    server_.stop();
    thread_.join();
  }

  FakeDockerServer(const FakeDockerServer&) = delete;
  FakeDockerServer& operator=(const FakeDockerServer&) = delete;

  httplib::Server& server() { return server_; }
  int port() const { return port_; }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  // Bodies are read after routing: handlers that care call this to record one.
  void note_body(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
      if (it->method == req.method && it->path == req.path) {
        it->body = req.body;
        return;
      }
    }
  }

  // Requests seen so far, /version included.
  std::vector<RecordedRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // The last request that was not GET /version.
  RecordedRequest last() {
    std::lock_guard lock(mu_);
    for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
      if (it->path != "/version") return *it;
    }
    return {};
  }

  // For handlers that must hang: blocks until release() or `limit` passes.
  void hang(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [this] { return released_; });
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  // An endless event stream on GET /v<api>/events: push() sends bytes,
  // close() ends the stream.
  void serve_events(const std::string& api_version) {
    server_.Get("/v" + api_version + "/events", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/json", [this](std::size_t, httplib::DataSink& sink) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(20),
                     [this] { return !event_chunks_.empty() || events_closed_ || released_; });
        while (!event_chunks_.empty()) {
          const std::string chunk = std::move(event_chunks_.front());
          event_chunks_.pop_front();
          if (!sink.write(chunk.data(), chunk.size())) return false;
        }
        if (events_closed_ || released_) {
          sink.done();
          return true;
        }
        return true;
      });
    });
  }
  void push(std::string chunk) {
    {
      std::lock_guard lock(mu_);
      event_chunks_.push_back(std::move(chunk));
    }
    cv_.notify_all();
  }
  void close_events() {
    {
      std::lock_guard lock(mu_);
      events_closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RecordedRequest> requests_;  // guarded by mu_
  bool released_ = false;                  // guarded by mu_
  std::deque<std::string> event_chunks_;   // guarded by mu_
  bool events_closed_ = false;             // guarded by mu_
};

}  // namespace warmpool::test
