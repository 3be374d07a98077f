// The HTTP server past what it can take at once: connections arriving faster
// than it accepts them, and more connections than it has threads.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <httplib.h>

#include "api/server.hpp"
#include "app/app.hpp"
#include "store/sqlite_store.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"

using namespace warmpool;

namespace {

// Starts a non-blocking connect to 127.0.0.1:port; returns the socket.
int start_connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  REQUIRE((rc == 0 || errno == EINPROGRESS));
  return fd;
}

// How many of `fds` have finished connecting within `limit`.
int connected_within(const std::vector<int>& fds, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  std::vector<bool> done(fds.size(), false);
  int connected = 0;
  while (std::chrono::steady_clock::now() < end && connected < static_cast<int>(fds.size())) {
    std::vector<pollfd> pending;
    std::vector<std::size_t> index;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (done[k]) continue;
      pending.push_back({fds[k], POLLOUT, 0});
      index.push_back(k);
    }
    ::poll(pending.data(), pending.size(), 20);
    for (std::size_t k = 0; k < pending.size(); ++k) {
      if (!(pending[k].revents & (POLLOUT | POLLERR | POLLHUP))) continue;
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(pending[k].fd, SOL_SOCKET, SO_ERROR, &error, &len);
      done[index[k]] = true;
      connected += error == 0;
    }
  }
  return connected;
}

}  // namespace

// A burst of new connections while the accept thread is not running (as on
// a busy host, where it waits for a core). The kernel completes handshakes
// into the listen queue; past its length it drops the SYNs, and each of those
// clients waits a 1 s retransmission, or gets no answer at all. cpp-httplib
// listens with a backlog of 5.
TEST_CASE("a burst of 100 connections is queued by the kernel while the server is not accepting") {
  Config config;
  config.http_threads = 4;
  SqliteStore store(":memory:");
  test::FakeEngine engine;
  test::FakeWorker worker(engine);
  ManualClock clock;
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8});
  Pool pool(pool_settings(config), store, engine, worker, lanes, clock);
  api::Server server(config, pool, store, engine, lanes);

  const int port = server.bind_any_port("127.0.0.1");  // listening; no accept loop yet
  REQUIRE(port > 0);
  std::vector<int> fds;
  for (int k = 0; k < 100; ++k) fds.push_back(start_connect(port));
  // Loopback handshakes take microseconds; a dropped SYN is retried after 1 s.
  CHECK(connected_within(fds, std::chrono::milliseconds(500)) == 100);

  for (int fd : fds) ::close(fd);
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server.stop();
  serving.join();
  lanes.stop();
}

// A request that arrives while every thread is busy waits for one. Judged
// from the moment a thread takes it, a request whose client has given up
// long ago would still be handed an instance, which then stays allocated
// for its lease with nobody to release it.
TEST_CASE("a request that waited for a server thread past its deadline gets 503 and takes no instance") {
  Config config;
  config.http_threads = 1;
  config.max_instances = 1;
  config.min_idle = 0;
  SqliteStore store(":memory:");
  test::FakeEngine engine;
  test::FakeWorker worker(engine);
  ManualClock clock;
  Lanes lanes({.high_threads = 2, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8});
  Pool pool(pool_settings(config), store, engine, worker, lanes, clock);
  pool.add_instance();
  auto idle = [&] {
    auto by_state = pool.counts().by_state;
    return by_state["ready"] + by_state["paused"] == 1 && pool.claimed().empty();
  };
  for (int k = 0; k < 500 && !idle(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(idle());
  api::Server server(config, pool, store, engine, lanes);
  // The only thread serves a slow request (no thread is reserved: a quarter
  // of one is none).
  std::atomic<bool> holding{false};
  server.route("GET", "/hold", api::Server::Access::Open, [&](const httplib::Request&, httplib::Response& res) {
    holding = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    res.set_content("{}", "application/json");
  });
  const int port = server.bind_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  std::thread holder([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    c.Get("/hold");
  });
  while (!holding) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int status = 0;
  bool retry_after = false;
  std::thread late([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    auto r = c.Post("/allocations", R"({"timeout_ms":300})", "application/json");
    if (r) {
      status = r->status;
      retry_after = r->has_header("Retry-After");
    }
  });
  holder.join();
  late.join();

  CHECK(status == 503);
  CHECK(retry_after);
  CHECK(store.allocations(Show::All).empty());
  server.stop();
  serving.join();
  lanes.stop();
}
