#include "api/guarded_http.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace warmpool::api {

namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_close_after = false;

// Waits until fd is ready for `events`, or the deadline passes.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// The connection as the library reads and writes it: the guard's buffer
// first, then the (non-blocking) socket within the deadlines.
class BufferedStream : public httplib::Stream {
 public:
  BufferedStream(ConnectionGuard::Connection& conn, Clock::time_point read_deadline,
                 std::chrono::milliseconds write_timeout)
      : conn_(conn), read_deadline_(read_deadline), write_timeout_(write_timeout) {}
  // Drops the request from the buffer: the bytes the library read, and the
  // rest of a body it left unread (a request refused before its body was
  // read, say for its token), which would otherwise be read as the next
  // request.
  ~BufferedStream() override { conn_.buffer.erase(0, std::max(taken_, conn_.request_length)); }

  bool is_readable() const override {
    return taken_ < conn_.buffer.size() || wait_for(conn_.fd, POLLIN, read_deadline_);
  }
  bool is_writable() const override { return wait_for(conn_.fd, POLLOUT, Clock::now() + write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (taken_ < conn_.buffer.size()) {
      const std::size_t n = std::min(size, conn_.buffer.size() - taken_);
      std::memcpy(ptr, conn_.buffer.data() + taken_, n);
      taken_ += n;
      return static_cast<ssize_t>(n);
    }
    for (;;) {
      const ssize_t n = ::recv(conn_.fd, ptr, size, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_for(conn_.fd, POLLIN, read_deadline_)) return -1;
    }
  }

  ssize_t write(const char* ptr, size_t size) override {
    const auto deadline = Clock::now() + write_timeout_;
    for (;;) {
      const ssize_t n = ::send(conn_.fd, ptr, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_for(conn_.fd, POLLOUT, deadline)) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.peer_ip;
    port = conn_.peer_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.local_ip;
    port = conn_.local_port;
  }
  socket_t socket() const override { return conn_.fd; }

 private:
  ConnectionGuard::Connection& conn_;
  std::size_t taken_ = 0;
  Clock::time_point read_deadline_;
  std::chrono::milliseconds write_timeout_;
};

// The library's task queue, reduced to running each accepted socket's task
// at once: the task only hands the socket to the guard.
class HandOverQueue : public httplib::TaskQueue {
 public:
  explicit HandOverQueue(ConnectionGuard& guard) : guard_(guard) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { guard_.stop(); }

 private:
  ConnectionGuard& guard_;
};

}  // namespace

GuardedHttp::GuardedHttp(HttpLimits limits, ConnectionGuard::IsPriority priority, Metrics* metrics)
    : guard_(limits, [this](ConnectionGuard::Connection& conn) { return serve(conn); }, std::move(priority),
             metrics) {
  new_task_queue = [this] {
    guard_.start();
    return new HandOverQueue(guard_);
  };
}

void GuardedHttp::close_after_answer() { t_close_after = true; }

bool GuardedHttp::process_and_close_socket(socket_t sock) {
  guard_.accept(sock);
  return true;
}

bool GuardedHttp::serve(ConnectionGuard::Connection& conn) {
  const HttpLimits& limits = guard_.limits();
  t_close_after = false;
  bool closed = false;
  const bool last = conn.served + 1 >= limits.keep_alive_max_count;
  bool ok = false;
  {
    BufferedStream stream(conn, Clock::now() + limits.request_read_timeout, limits.write_timeout);
    ok = process_request(stream, last, closed, nullptr);
  }
  return ok && !closed && !last && !t_close_after;
}

}  // namespace warmpool::api
