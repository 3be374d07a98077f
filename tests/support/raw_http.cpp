#include "support/raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace warmpool::test {

namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Reads what arrives (at most 64 KiB) into `in`; 0 at the end, -1 on error or timeout.
long read_some(int fd, std::string& in, Clock::time_point deadline, std::string& error) {
  if (!wait_for(fd, POLLIN, deadline)) {
    error = "no answer before the deadline";
    return -1;
  }
  char buffer[65536];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  if (n < 0) {
    error = std::string("recv: ") + std::strerror(errno);
    return -1;
  }
  in.append(buffer, static_cast<std::size_t>(n));
  return n;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Decodes a chunked body; nullopt while incomplete. Throws on a malformed one.
std::optional<std::string> dechunk(const std::string& raw) {
  std::string out;
  std::size_t at = 0;
  for (;;) {
    const auto eol = raw.find("\r\n", at);
    if (eol == std::string::npos) return std::nullopt;
    const std::size_t size = std::stoul(raw.substr(at, eol - at), nullptr, 16);
    at = eol + 2;
    if (size == 0) return out;  // trailers are not used by the server
    if (raw.size() < at + size + 2) return std::nullopt;
    out.append(raw, at, size);
    at += size + 2;
  }
}

// Reads one answer from fd, starting with the bytes already in `in`; what
// follows the answer stays in `in` for the next one.
RawAnswer read_answer(int fd, std::string& in, bool head, Clock::time_point deadline) {
  RawAnswer answer;
  std::size_t header_end = std::string::npos;
  for (;;) {
    // Head: status line and headers, skipping interim (1xx) answers.
    while ((header_end = in.find("\r\n\r\n")) == std::string::npos) {
      const long n = read_some(fd, in, deadline, answer.error);
      if (n <= 0) {
        if (n == 0) answer.error = in.empty() ? "closed without an answer" : "closed in the middle of the head";
        return answer;
      }
    }
    const std::string status_line = in.substr(0, in.find("\r\n"));
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
      answer.error = "not an HTTP status line: " + status_line.substr(0, 80);
      return answer;
    }
    answer.status = std::atoi(status_line.c_str() + 9);
    if (answer.status >= 100 && answer.status < 200) {
      in.erase(0, header_end + 4);
      continue;
    }
    break;
  }
  std::size_t line = in.find("\r\n") + 2;
  while (line < header_end) {
    const auto eol = in.find("\r\n", line);
    const std::string h = in.substr(line, eol - line);
    const auto colon = h.find(':');
    if (colon != std::string::npos) answer.headers.emplace(lower(h.substr(0, colon)), trim(h.substr(colon + 1)));
    line = eol + 2;
  }
  std::string rest = in.substr(header_end + 4);
  in.clear();

  if (head || answer.status == 204 || answer.status == 304) {
    in = std::move(rest);
    answer.answered = true;
    return answer;
  }
  const std::string length = answer.header("content-length");
  const bool chunked = lower(answer.header("transfer-encoding")).find("chunked") != std::string::npos;
  try {
    for (;;) {
      if (chunked) {
        if (auto body = dechunk(rest)) {
          answer.body = std::move(*body);  // a chunked answer is read only last
          answer.answered = true;
          return answer;
        }
      } else if (!length.empty() && rest.size() >= std::stoul(length)) {
        answer.body = rest.substr(0, std::stoul(length));
        in = rest.substr(std::stoul(length));
        answer.answered = true;
        return answer;
      }
      const long n = read_some(fd, rest, deadline, answer.error);
      if (n == 0 && length.empty() && !chunked) {  // the body runs to the end of the connection
        answer.body = std::move(rest);
        answer.answered = true;
        return answer;
      }
      if (n <= 0) {
        if (n == 0) answer.error = "closed in the middle of the body";
        return answer;
      }
    }
  } catch (const std::exception& e) {
    answer.error = std::string("malformed framing: ") + e.what();
    return answer;
  }
}

// Connects to 127.0.0.1:port; -1 with `error` set on failure.
int connect_loopback(int port, Clock::time_point deadline, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == EINPROGRESS && wait_for(fd, POLLOUT, deadline)) {
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    } else if (err == EINPROGRESS) {
      err = ETIMEDOUT;
    }
    if (err != 0) {
      error = std::string("connect: ") + std::strerror(err);
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

// The server may answer (413, 400) and close before taking the whole body:
// a failed send is not the end; the answer may be waiting.
void send_all(int fd, const std::string& bytes, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    if (!wait_for(fd, POLLOUT, deadline)) break;
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

RawAnswer raw_exchange(int port, const std::string& bytes, bool half_close, bool head,
                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string error;
  Socket s(connect_loopback(port, deadline, error));
  if (s.fd() < 0) {
    RawAnswer answer;
    answer.error = error;
    return answer;
  }
  send_all(s.fd(), bytes, deadline);
  if (half_close) ::shutdown(s.fd(), SHUT_WR);
  std::string in;
  return read_answer(s.fd(), in, head, deadline);
}

std::vector<RawAnswer> raw_exchanges(int port, const std::vector<std::string>& requests,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<RawAnswer> out;
  std::string error;
  Socket s(connect_loopback(port, deadline, error));
  if (s.fd() < 0) {
    out.emplace_back().error = error;
    return out;
  }
  std::string in;
  for (const auto& bytes : requests) {
    send_all(s.fd(), bytes, deadline);
    out.push_back(read_answer(s.fd(), in, false, deadline));
    if (!out.back().answered) break;
  }
  return out;
}

}  // namespace warmpool::test
