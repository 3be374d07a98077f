// The HTTP server's bounds against slow and greedy clients (issue: 300
// connections that sent half a request held all 256 threads, and /health
// took 14 s, or never answered while they trickled). A manager on fakes;
// slow clients connect from other loopback addresses than the normal client
// (127.0.0.1), as they would from other hosts.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "api/server.hpp"
#include "store/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"

using namespace warmpool;
using namespace std::chrono_literals;

namespace {

// A manager's API on fakes with one idle instance, served with `config`;
// `setup` may add routes before it listens.
struct Bounded {
  explicit Bounded(Config c, std::function<void(api::Server&)> setup = {})
      : config(std::move(c)),
        lanes({.high_threads = 2, .normal_threads = 1, .high_capacity = 64, .normal_capacity = 64}),
        pool(PoolSettings{}, store, engine, worker, lanes, clock),
        server(config, pool, store, engine, lanes) {
    pool.add_instance();
    REQUIRE(test::eventually([&] {
      auto s = pool.counts().by_state;
      return s["ready"] + s["paused"] == 1;
    }));
    if (setup) setup(server);
    port = server.bind_any_port("127.0.0.1");
    serving = std::thread([this] { server.listen_after_bind(); });
    REQUIRE(test::eventually([&] { return server.running(); }));
  }
  ~Bounded() {
    server.stop();
    serving.join();
    lanes.stop();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    // Far below the read deadline: an answer in time cannot come from the
    // slow clients being cut.
    c.set_read_timeout(2, 0);
    c.set_connection_timeout(2, 0);
    return c;
  }
  // The value of a metric line that starts with `series` ("name{labels}").
  double metric(const std::string& series) {
    auto r = client().Get("/metrics");
    REQUIRE(r);
    const auto at = r->body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(r->body.substr(at + series.size() + 2));
  }

  Config config;
  SqliteStore store{":memory:"};
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  ManualClock clock;
  Lanes lanes;
  Pool pool;
  api::Server server;
  int port = 0;
  std::thread serving;
};

Config small_server() {
  Config c;
  c.http_threads = 8;
  c.min_idle = 0;
  return c;
}

// A blocking connection from `source` (a loopback address) that reads
// with a deadline.
int connect_from(const std::string& source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

// What the server sends until it closes (or the socket's read deadline).
std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::string source_address(int k) { return "127.0.2." + std::to_string(1 + k % 100); }

}  // namespace

TEST_CASE("300 connections that send half their headers hold no thread: /health and hand-outs are answered") {
  Config c = small_server();  // 8 threads, far fewer than the slow clients
  c.http_request_read_timeout_ms = 60'000;  // they are not cut during the test
  Bounded m(c);
  std::vector<int> slow;
  for (int k = 0; k < 300; ++k) {
    slow.push_back(connect_from(source_address(k), m.port));
    send_all(slow.back(), "POST /allocations HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  REQUIRE(test::eventually([&] { return m.metric("warmpool_http_connections") >= 300; }));

  auto c1 = m.client();
  auto health = c1.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  // They trickle: one more header line each; still nothing waits on them.
  for (int fd : slow) send_all(fd, "1\r\nX-More: ");
  auto c2 = m.client();
  auto alloc = c2.Post("/allocations", R"({"lease_seconds": 60})", "application/json");
  REQUIRE(alloc);
  CHECK(alloc->status == 201);
  auto c3 = m.client();
  auto again = c3.Get("/health");
  REQUIRE(again);
  CHECK(again->status == 200);
  for (int fd : slow) ::close(fd);
}

TEST_CASE("a request that does not arrive whole within the read deadline gets 408 and is closed") {
  Config c = small_server();
  c.http_request_read_timeout_ms = 300;
  Bounded m(c);
  std::vector<int> slow;
  for (int k = 0; k < 20; ++k) {
    slow.push_back(connect_from(source_address(k), m.port));
    send_all(slow.back(), "GET /health HTTP/1.1\r\nHost: x\r\n");
  }
  std::this_thread::sleep_for(150ms);
  for (int fd : slow) send_all(fd, "X-Trickle: 1\r\n");  // trickling does not move the deadline
  for (int fd : slow) {
    const std::string answer = read_to_end(fd);  // bounded by the socket's 10 s read deadline
    CHECK(answer.rfind("HTTP/1.1 408 ", 0) == 0);
    ::close(fd);
  }
  CHECK(m.metric(R"(warmpool_http_rejections_total{reason="read_timeout"})") >= 20);
  REQUIRE(test::eventually([&] { return m.metric("warmpool_http_connections") <= 1; }));
}

TEST_CASE("connections past the cap from one address get 429; other addresses are served") {
  Config c = small_server();
  c.http_max_connections_per_client = 4;
  Bounded m(c);
  std::vector<int> held;
  for (int k = 0; k < 4; ++k) held.push_back(connect_from("127.0.0.5", m.port));
  REQUIRE(test::eventually([&] { return m.metric("warmpool_http_connections") >= 4; }));
  const int refused = connect_from("127.0.0.5", m.port);
  const std::string answer = read_to_end(refused);
  CHECK(answer.rfind("HTTP/1.1 429 ", 0) == 0);
  CHECK(answer.find("application/problem+json") != std::string::npos);
  ::close(refused);
  auto client = m.client();
  auto r = client.Get("/health");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(m.metric(R"(warmpool_http_rejections_total{reason="client_connections"})") == 1);
  for (int fd : held) ::close(fd);
}

TEST_CASE("connections past the cap in all get 503 at once") {
  Config c = small_server();
  c.http_max_connections = 3;
  c.http_max_connections_per_client = 0;
  Bounded m(c);
  std::vector<int> held;
  for (int k = 0; k < 3; ++k) {
    held.push_back(connect_from(source_address(k), m.port));
    // Answered, so surely let in; the connection stays open.
    send_all(held.back(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[64] = {};
    REQUIRE(::recv(held.back(), buf, sizeof buf - 1, 0) > 0);
    CHECK(std::string(buf).rfind("HTTP/1.1 200 ", 0) == 0);
  }
  const int probe = connect_from("127.0.0.9", m.port);
  CHECK(read_to_end(probe).rfind("HTTP/1.1 503 ", 0) == 0);
  ::close(probe);
  for (int fd : held) ::close(fd);
  // Room again once they are gone.
  REQUIRE(test::eventually([&] {
    auto client = m.client();
    auto r = client.Get("/health");
    return r && r->status == 200;
  }));
}

TEST_CASE("a 10 MB header is cut off with 431 long before it is all sent") {
  Bounded m(small_server());
  const int fd = connect_from("127.0.0.6", m.port);
  send_all(fd, "GET /health HTTP/1.1\r\nX-Big: ");
  const std::string chunk(64 * 1024, 'a');
  std::size_t sent = 0;
  while (sent < 10u * 1024 * 1024) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed the connection
    sent += static_cast<std::size_t>(n);
  }
  CHECK(sent < 10u * 1024 * 1024);
  ::close(fd);
  CHECK(m.metric(R"(warmpool_http_rejections_total{reason="header_too_large"})") == 1);
}

TEST_CASE("slow handlers holding every ordinary thread leave the reserve to /health and hand-outs") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> held{0};
  Config c = small_server();  // 8 threads: 2 reserved (a quarter at most)
  c.http_reserved_threads = 2;
  Bounded m(c, [&](api::Server& s) {
    s.route("GET", "/slow", api::Server::Access::Open, [&](const httplib::Request&, httplib::Response& res) {
      ++held;
      std::unique_lock lock(mu);
      cv.wait_for(lock, 30s, [&] { return release; });
      res.set_content("{}", "application/json");
    });
  });
  std::vector<std::thread> slow;
  for (int k = 0; k < 10; ++k)
    slow.emplace_back([&] {
      httplib::Client c("127.0.0.1", m.port);
      c.set_read_timeout(60, 0);
      c.Get("/slow");
    });
  REQUIRE(test::eventually([&] { return held.load() == 6; }));
  auto client = m.client();
  auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto alloc = client.Post("/allocations", "{}", "application/json");
  REQUIRE(alloc);
  CHECK(alloc->status == 201);
  CHECK(held.load() == 6);  // the other four still wait: they may not take the reserve
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : slow) t.join();
  CHECK(held.load() == 10);
}

TEST_CASE("a client that waits for 100 Continue gets it, and its body is read") {
  Bounded m(small_server());
  const int fd = connect_from("127.0.0.7", m.port);
  send_all(fd, "POST /allocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  char buf[256] = {};
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  REQUIRE(n > 0);
  CHECK(std::string(buf).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
  send_all(fd, "{bad");
  ::shutdown(fd, SHUT_WR);
  const std::string answer = read_to_end(fd);
  CHECK(answer.find("HTTP/1.1 400 ") != std::string::npos);  // the body was read, and is not JSON
  CHECK(answer.find("HTTP/1.1 100") == std::string::npos);   // no second interim answer
  ::close(fd);
}

TEST_CASE("the body of a request refused unread is not taken for the next request on the connection") {
  Config c = small_server();
  c.api_token = c.admin_token = "tok";
  Bounded m(c);
  const int fd = connect_from("127.0.0.8", m.port);
  const std::string body = R"({"lease_seconds": 60})";
  send_all(fd, "POST /allocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
  char buf[4096] = {};
  REQUIRE(::recv(fd, buf, sizeof buf - 1, 0) > 0);  // the 401 has begun: its request was read
  send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  // Exactly two answers, back to back (the 401 may come in two segments):
  // had the body been read as a request, a 400 would come between them.
  const std::string all = std::string(buf) + read_to_end(fd);
  INFO(all);
  CHECK(all.rfind("HTTP/1.1 401 ", 0) == 0);
  const auto second = all.find("HTTP/1.1 ", 1);
  REQUIRE(second != std::string::npos);
  CHECK(all.compare(second, 13, "HTTP/1.1 200 ") == 0);
  CHECK(all.find("HTTP/1.1 ", second + 1) == std::string::npos);
  ::close(fd);
}

TEST_CASE("the Keep-Alive header says the guard's keep-alive bounds") {
  Config c = small_server();
  c.http_keep_alive_timeout_ms = 3000;
  Bounded m(c);
  auto client = m.client();
  client.set_keep_alive(true);
  auto r = client.Get("/health");
  REQUIRE(r);
  CHECK(r->get_header_value("Keep-Alive") == "timeout=3, max=100");
}
