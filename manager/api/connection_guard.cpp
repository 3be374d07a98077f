#include "api/connection_guard.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

namespace warmpool::api {

namespace {

using Clock = std::chrono::steady_clock;

thread_local Clock::duration t_queued_for{};

constexpr auto kSweepEvery = std::chrono::milliseconds(50);

void address_of(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    port = ntohs(a.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    port = ntohs(a.sin6_port);
  }
  ip = text;
}

// An answer written without waiting: a refused client gets it if its
// socket has room, which a fresh or idle one has.
void answer_and_close(int fd, int status, const char* reason, const std::string& detail) {
  const std::string body = R"({"type":"about:blank","title":")" + std::string(reason) + R"(","status":)" +
                           std::to_string(status) + R"(,"detail":")" + detail + "\"}";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  out += "Content-Type: application/problem+json\r\nConnection: close\r\n";
  if (status == 429 || status == 503) out += "Retry-After: 1\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  [[maybe_unused]] auto sent = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

}  // namespace

ConnectionGuard::ConnectionGuard(HttpLimits limits, Serve serve, IsPriority priority, Metrics* metrics)
    : limits_(limits), serve_(std::move(serve)), is_priority_(std::move(priority)), metrics_(metrics) {}

ConnectionGuard::~ConnectionGuard() { stop(); }

void ConnectionGuard::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error(std::string("http: epoll: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  room_ = std::thread([this] { room_loop(); });
  for (std::size_t i = 0; i < limits_.threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

std::chrono::steady_clock::duration ConnectionGuard::queued_for() { return t_queued_for; }

void ConnectionGuard::accept(int fd) {
  auto conn = std::make_unique<Connection>();
  conn->fd = fd;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, conn->peer_ip, conn->peer_port);
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, conn->local_ip, conn->local_port);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  conn->deadline = Clock::now() + limits_.request_read_timeout;
  {
    std::lock_guard lock(mu_);
    const Admission a = admit(open_, conn->peer_ip, open_by_client_[conn->peer_ip], limits_);
    if (stopping_ || !a.admitted) {
      if (open_by_client_[conn->peer_ip] == 0) open_by_client_.erase(conn->peer_ip);
      if (stopping_) {
        ::close(fd);
        return;
      }
      if (metrics_) metrics_->count_http_rejection(to_string(a.reason));
      const bool per_client = a.reason == Rejection::TooManyFromClient;
      answer_and_close(fd, per_client ? 429 : 503, per_client ? "Too Many Requests" : "Service Unavailable",
                       per_client ? "too many connections from this address" : "too many connections");
      return;
    }
    ++open_;
    ++open_by_client_[conn->peer_ip];
    handed_back_.push_back(std::move(conn));
  }
  if (metrics_) metrics_->add_http_connections(1);
  wake_room();
}

void ConnectionGuard::wake_room() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void ConnectionGuard::room_loop() {
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, static_cast<int>(kSweepEvery.count()));
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd_) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        take_handed_back();
      } else {
        on_readable(events[i].data.fd);
      }
    }
    if (Clock::now() - last_sweep_ >= kSweepEvery) sweep_deadlines();
  }
  for (auto& [fd, conn] : waiting_) close_connection(std::move(conn));
  waiting_.clear();
}

void ConnectionGuard::take_handed_back() {
  std::vector<std::unique_ptr<Connection>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(handed_back_);
  }
  for (auto& conn : batch) enter_room(std::move(conn));
}

void ConnectionGuard::enter_room(std::unique_ptr<Connection> conn) {
  // Bytes of a next request may have come with the last one.
  if (!conn->buffer.empty() && try_dispatch(conn)) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = conn->fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn->fd, &ev) != 0) return close_connection(std::move(conn));
  const int fd = conn->fd;
  waiting_[fd] = std::move(conn);
}

void ConnectionGuard::on_readable(int fd) {
  auto it = waiting_.find(fd);
  if (it == waiting_.end()) return;
  Connection& conn = *it->second;
  // Enough for any request the limits let through, and one byte more.
  const std::size_t most = limits_.max_header_bytes + limits_.max_body_bytes + 1;
  char chunk[16 * 1024];
  bool got = false;
  while (conn.buffer.size() < most) {
    const ssize_t n = ::recv(fd, chunk, std::min(sizeof chunk, most - conn.buffer.size()), 0);
    if (n > 0) {
      conn.buffer.append(chunk, static_cast<std::size_t>(n));
      got = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    conn.peer_closed = true;  // the end, or an error: nothing more will come
    break;
  }
  if (got && !conn.request_started) {
    conn.request_started = true;
    if (conn.served > 0) conn.deadline = Clock::now() + limits_.request_read_timeout;
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  auto owned = std::move(it->second);
  waiting_.erase(it);
  if (try_dispatch(owned)) return;
  if (owned->peer_closed) return close_connection(std::move(owned));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  waiting_[fd] = std::move(owned);
}

bool ConnectionGuard::try_dispatch(std::unique_ptr<Connection>& conn) {
  RequestScan scan = scan_request(conn->buffer, limits_);
  if (scan.expect_length > 0) {
    // The client waits for this before it sends the body; the line goes, so
    // that the server does not send a second one.
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    [[maybe_unused]] auto n = ::send(conn->fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    conn->buffer.erase(scan.expect_at, scan.expect_length);
    scan = scan_request(conn->buffer, limits_);
  }
  if (scan.kind == RequestScan::HeaderTooLarge) {
    refuse(std::move(conn), Rejection::HeaderTooLarge, 431, "the request's headers are larger than the limit");
    return true;
  }
  if (scan.kind != RequestScan::Complete) return false;
  conn->request_length = scan.length;
  conn->close_after = scan.malformed;
  conn->priority = is_priority_ && is_priority_(scan.method, scan.path);
  conn->complete_at = Clock::now();
  {
    std::lock_guard lock(mu_);
    (conn->priority ? priority_queue_ : ordinary_queue_).push_back(std::move(conn));
  }
  work_cv_.notify_one();
  return true;
}

void ConnectionGuard::sweep_deadlines() {
  const auto now = Clock::now();
  last_sweep_ = now;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second->deadline > now) {
      ++it;
      continue;
    }
    auto conn = std::move(it->second);
    it = waiting_.erase(it);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn->fd, nullptr);
    if (conn->request_started)
      refuse(std::move(conn), Rejection::ReadTimeout, 408, "the request did not arrive in time");
    else if (conn->served == 0) {
      if (metrics_) metrics_->count_http_rejection(to_string(Rejection::ReadTimeout));
      close_connection(std::move(conn));
    } else {
      close_connection(std::move(conn));  // idle keep-alive: an ordinary end
    }
  }
}

void ConnectionGuard::worker_loop() {
  for (;;) {
    std::unique_ptr<Connection> conn;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] {
        return stopping_ || !priority_queue_.empty() ||
               (!ordinary_queue_.empty() && may_start(false, busy_ordinary_, limits_));
      });
      if (stopping_) return;
      auto& queue = priority_queue_.empty() ? ordinary_queue_ : priority_queue_;
      conn = std::move(queue.front());
      queue.pop_front();
      ++busy_;
      if (!conn->priority) ++busy_ordinary_;
    }
    if (metrics_) metrics_->add_http_busy_threads(1);
    t_queued_for = Clock::now() - conn->complete_at;
    bool keep_open = false;
    try {
      keep_open = serve_(*conn);
    } catch (const std::exception& e) {
      spdlog::error("http: serving a request from {}: {}", conn->peer_ip, e.what());
    }
    if (metrics_) metrics_->add_http_busy_threads(-1);
    {
      std::lock_guard lock(mu_);
      --busy_;
      if (!conn->priority) --busy_ordinary_;
    }
    work_cv_.notify_one();  // an ordinary request may now fit
    finish(std::move(conn), keep_open);
  }
}

void ConnectionGuard::finish(std::unique_ptr<Connection> conn, bool keep_open) {
  ++conn->served;
  if (!keep_open || conn->peer_closed || conn->close_after || conn->served >= limits_.keep_alive_max_count)
    return close_connection(std::move(conn));
  conn->request_started = !conn->buffer.empty();
  conn->deadline = Clock::now() + (conn->request_started ? limits_.request_read_timeout : limits_.keep_alive_timeout);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) handed_back_.push_back(std::move(conn));
  }
  if (conn) return close_connection(std::move(conn));
  wake_room();
}

void ConnectionGuard::refuse(std::unique_ptr<Connection> conn, Rejection reason, int status,
                             const std::string& detail) {
  if (metrics_) metrics_->count_http_rejection(to_string(reason));
  const char* title = status == 408 ? "Request Timeout" : "Request Header Fields Too Large";
  answer_and_close(conn->fd, status, title, detail);
  conn->fd = -1;
  close_connection(std::move(conn));
}

void ConnectionGuard::close_connection(std::unique_ptr<Connection> conn) {
  if (conn->fd >= 0) {
    ::shutdown(conn->fd, SHUT_RDWR);
    ::close(conn->fd);
  }
  {
    std::lock_guard lock(mu_);
    --open_;
    auto it = open_by_client_.find(conn->peer_ip);
    if (it != open_by_client_.end() && --it->second == 0) open_by_client_.erase(it);
  }
  if (metrics_) metrics_->add_http_connections(-1);
}

void ConnectionGuard::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || epoll_fd_ < 0) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
  }
  work_cv_.notify_all();
  wake_room();
  if (room_.joinable()) room_.join();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::vector<std::unique_ptr<Connection>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& c : handed_back_) left.push_back(std::move(c));
    for (auto& c : priority_queue_) left.push_back(std::move(c));
    for (auto& c : ordinary_queue_) left.push_back(std::move(c));
    handed_back_.clear();
    priority_queue_.clear();
    ordinary_queue_.clear();
  }
  for (auto& c : left) close_connection(std::move(c));
  ::close(epoll_fd_);
  ::close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
}

ConnectionGuard::Counts ConnectionGuard::counts() const {
  std::lock_guard lock(mu_);
  return {open_, priority_queue_.size() + ordinary_queue_.size(), busy_};
}

}  // namespace warmpool::api
