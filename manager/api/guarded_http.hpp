// cpp-httplib's Server with its connections kept by a ConnectionGuard
// instead of a thread each: the library still parses, routes and answers
// every request, but reads it from the guard's buffer once it is whole.
#pragma once

#include <httplib.h>

#include "api/connection_guard.hpp"
#include "api/http_limits.hpp"
#include "metrics/metrics.hpp"

namespace warmpool::api {

class GuardedHttp : public httplib::Server {
 public:
  // metrics may be null. The guard starts with listen() and stops with it.
  GuardedHttp(HttpLimits limits, ConnectionGuard::IsPriority priority, Metrics* metrics);

  // The request being served on this thread asked for its connection to be
  // closed after its answer (a refusal whose body stays unread).
  static void close_after_answer();
  // See ConnectionGuard::queued_for.
  static std::chrono::steady_clock::duration queued_for() { return ConnectionGuard::queued_for(); }
  ConnectionGuard::Counts counts() const { return guard_.counts(); }

 private:
  // Called by the library's accept loop for each new socket, on that
  // thread (the task queue runs it at once): the guard takes the socket.
  bool process_and_close_socket(socket_t sock) override;
  bool serve(ConnectionGuard::Connection& conn);

  ConnectionGuard guard_;
};

}  // namespace warmpool::api
