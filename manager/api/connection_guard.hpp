// Keeps slow and greedy clients from taking the HTTP server's threads.
//
// cpp-httplib gives each connection a thread that blocks reading it, so 300
// clients that send half a request hold 256 threads for as long as they
// trickle. Here a connection holds no thread while its request arrives:
//  - accept(): a new connection past --http-max-connections in all, or past
//    --http-max-connections-per-client from its address, is answered 503 or
//    429 and closed at once;
//  - one waiting-room thread (epoll) reads every open connection into its
//    buffer until a whole request is in (headers, and the body its
//    Content-Length gives), then queues it for a thread. A request not whole
//    within --http-request-read-timeout-ms of its first byte (of the accept,
//    for a connection's first request) gets 408 and the connection is
//    closed; headers past --http-max-header-bytes get 431. Between requests
//    a connection waits here too, up to the keep-alive timeout;
//  - --http-threads threads serve queued requests, priority ones first;
//    ordinary ones never take the last --http-reserved-threads, so /health
//    and hand-outs are served while slow handlers or clients that do not
//    read their answers hold the rest.
// Every refusal is counted in warmpool_http_rejections_total by reason;
// warmpool_http_connections and warmpool_http_busy_threads are gauges.
//
// Thread-safe. stop() closes every connection; requests being served finish
// first, queued ones are dropped (their connections closed unanswered).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/http_limits.hpp"
#include "metrics/metrics.hpp"

namespace warmpool::api {

class ConnectionGuard {
 public:
  struct Connection {
    int fd = -1;
    std::string peer_ip;
    int peer_port = 0;
    std::string local_ip;
    int local_port = 0;
    std::string buffer;       // read and not yet taken by the server
    std::size_t served = 0;   // requests answered on it
    bool peer_closed = false; // the client sent its end (after a whole request)
    // Waiting room state.
    bool request_started = false;
    std::chrono::steady_clock::time_point deadline;
    // Worker queue state.
    std::size_t request_length = 0;  // bytes of the whole request at the front of buffer
    bool close_after = false;        // the request is malformed: close after its answer
    bool priority = false;
    std::chrono::steady_clock::time_point complete_at;
  };
  // Serves the whole request at the front of conn.buffer (taking its bytes
  // from it); returns whether the connection stays open for another.
  using Serve = std::function<bool(Connection&)>;
  // Whether a request (method, path without query) may use the reserve.
  using IsPriority = std::function<bool(const std::string& method, const std::string& path)>;

  // metrics may be null.
  ConnectionGuard(HttpLimits limits, Serve serve, IsPriority priority, Metrics* metrics);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Starts the waiting room and the threads. Once only.
  void start();
  // Takes an accepted socket (from the accept thread; never blocks on it).
  void accept(int fd);
  // Closes every connection; waits for the requests being served.
  void stop();

  struct Counts {
    std::size_t open = 0;     // connections
    std::size_t queued = 0;   // whole requests waiting for a thread
    std::size_t busy = 0;     // threads serving
  };
  Counts counts() const;
  const HttpLimits& limits() const { return limits_; }

  // How long the request being served on this thread waited for it, from
  // the moment it was whole. Call from inside Serve.
  static std::chrono::steady_clock::duration queued_for();

 private:
  void room_loop();
  void take_handed_back();
  void enter_room(std::unique_ptr<Connection> conn);
  void on_readable(int fd);
  // Queues the connection if a whole request is buffered, or refuses it
  // when it never can be; false: it stays in the room.
  bool try_dispatch(std::unique_ptr<Connection>& conn);
  void sweep_deadlines();
  void worker_loop();
  void finish(std::unique_ptr<Connection> conn, bool keep_open);
  void refuse(std::unique_ptr<Connection> conn, Rejection reason, int status, const std::string& detail);
  void close_connection(std::unique_ptr<Connection> conn);
  void wake_room();

  const HttpLimits limits_;
  Serve serve_;
  IsPriority is_priority_;
  Metrics* metrics_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread room_;
  std::vector<std::thread> workers_;

  // Owned by the room thread only.
  std::unordered_map<int, std::unique_ptr<Connection>> waiting_;
  std::chrono::steady_clock::time_point last_sweep_{};

  mutable std::mutex mu_;  // guards what follows
  bool stopping_ = false;
  std::map<std::string, std::size_t> open_by_client_;
  std::size_t open_ = 0;
  std::vector<std::unique_ptr<Connection>> handed_back_;  // new or kept open, for the room
  std::deque<std::unique_ptr<Connection>> priority_queue_;
  std::deque<std::unique_ptr<Connection>> ordinary_queue_;
  std::size_t busy_ = 0;
  std::size_t busy_ordinary_ = 0;
  std::condition_variable work_cv_;
};

}  // namespace warmpool::api
