// HttpWorkerClient against a real HTTP server on 127.0.0.1 that speaks the
// pi-worker's protocol as the test sets it up. The server tells connections
// apart by the client's port.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <httplib.h>

#include "worker/worker_client.hpp"

using namespace warmpool;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kDeadline{2000};

// A worker whose answers the test sets; it counts the connections it saw.
class TestWorker {
 public:
  TestWorker() {
    server_.set_keep_alive_max_count(100);  // the library's default closes after 5 requests
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mu_);
      client_ports_.insert(req.remote_port);
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_.Get("/ping", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"ok":true,"state":"idle"})", "application/json");
    });
    server_.Post("/reset", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"ok":true})", "application/json");
    });
    server_.Post("/compute", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      compute_body_ = req.body;
      res.status = compute_answer_;
      res.set_content(compute_answer_ == 202 ? R"({"state":"running"})"
                                             : R"({"status":400,"title":"Invalid request","detail":"too many digits"})",
                      compute_answer_ == 202 ? "application/json" : "application/problem+json");
    });
    server_.Get("/compute", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mu_);
      released_.wait(lock, [this] { return !hang_status_ || stopping_; });
      res.set_content(status_body_, "application/json");
    });
    server_.Get("/result", [this](const httplib::Request&, httplib::Response& res) {
      const std::string digits = result_;
      res.set_content_provider(digits.size(), "text/plain",
                               [digits](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 return sink.write(digits.data() + offset, std::min<std::size_t>(length, 4096));
                               });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() does nothing to a server that is not running yet.
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~TestWorker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      released_.notify_all();
    }
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  std::size_t connections() {
    std::lock_guard lock(mu_);
    return client_ports_.size();
  }
  void answer_compute_with(int status) {
    std::lock_guard lock(mu_);
    compute_answer_ = status;
  }
  std::string compute_body() {
    std::lock_guard lock(mu_);
    return compute_body_;
  }
  void set_status(std::string body) {
    std::lock_guard lock(mu_);
    status_body_ = std::move(body);
  }
  // GET /compute stops answering until the worker is destroyed.
  void hang_status() {
    std::lock_guard lock(mu_);
    hang_status_ = true;
  }
  // Larger than a read of the client, so that it arrives in several pieces.
  std::string result_ = "3." + std::string(200'000, '1');

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable released_;
  bool hang_status_ = false;
  bool stopping_ = false;
  std::set<int> client_ports_;
  int compute_answer_ = 202;
  std::string compute_body_;
  std::string status_body_ = R"({"state":"idle","digits":0,"progress":0,"elapsed_ms":0})";
};

std::string status_json(const std::string& state) {
  return R"({"state":")" + state + R"(","digits":100,"progress":0.5,"elapsed_ms":7,"error":"out of memory"})";
}

std::string fetch_all(WorkerClient& client, const std::string& endpoint, milliseconds deadline = kDeadline) {
  std::string got;
  client.fetch_result(endpoint, [&](const char* data, std::size_t size) {
    got.append(data, size);
    return true;
  }, deadline);
  return got;
}

}  // namespace

TEST_CASE("every call of one caller goes over one kept-alive connection", "[worker]") {
  TestWorker w;
  HttpWorkerClient client;
  client.ping(w.endpoint(), kDeadline);
  CHECK(w.connections() == 1);
  client.reset(w.endpoint(), kDeadline);
  CHECK(w.connections() == 1);
  client.start_compute(w.endpoint(), 100, kDeadline);
  CHECK(w.connections() == 1);
  client.compute_status(w.endpoint(), kDeadline);
  CHECK(w.connections() == 1);
  CHECK(fetch_all(client, w.endpoint()) == w.result_);
  client.ping(w.endpoint(), kDeadline);
  CHECK(w.connections() == 1);
  CHECK(w.compute_body() == R"({"digits":100})");
}

TEST_CASE("a connection whose call failed is dropped; the next call opens another", "[worker]") {
  TestWorker w;
  HttpWorkerClient client;
  client.ping(w.endpoint(), kDeadline);
  w.hang_status();
  CHECK_THROWS_AS(client.compute_status(w.endpoint(), milliseconds(100)), WorkerError);
  client.ping(w.endpoint(), kDeadline);
  client.ping(w.endpoint(), kDeadline);
  CHECK(w.connections() == 2);
}

TEST_CASE("a result aborted by its receiver drops the connection", "[worker]") {
  TestWorker w;
  HttpWorkerClient client;
  std::string got;
  CHECK_THROWS_AS(client.fetch_result(w.endpoint(),
                                      [&](const char* data, std::size_t size) {
                                        got.append(data, size);
                                        return false;
                                      },
                                      kDeadline),
                  WorkerError);
  CHECK(!got.empty());
  CHECK(got.size() < w.result_.size());
  CHECK(fetch_all(client, w.endpoint()) == w.result_);
  CHECK(w.connections() == 2);
}

TEST_CASE("each compute state the worker sends is parsed once, with its fields", "[worker]") {
  TestWorker w;
  HttpWorkerClient client;
  const std::pair<const char*, ComputeState> states[] = {
      {"idle", ComputeState::Idle},     {"running", ComputeState::Running},
      {"done", ComputeState::Done},     {"failed", ComputeState::Failed},
      {"cancelled", ComputeState::Cancelled}};
  for (const auto& [text, state] : states) {
    INFO(text);
    w.set_status(status_json(text));
    const ComputeStatus s = client.compute_status(w.endpoint(), kDeadline);
    CHECK(s.state == state);
    CHECK(std::string(to_string(s.state)) == text);
    CHECK(s.digits == 100);
    CHECK(s.progress == 0.5);
    CHECK(s.elapsed_ms == 7);
    CHECK(s.error == "out of memory");
  }
}

TEST_CASE("a compute state the worker should not send is an error that names it", "[worker]") {
  TestWorker w;
  HttpWorkerClient client;
  w.set_status(status_json("paused"));
  CHECK_THROWS_WITH(client.compute_status(w.endpoint(), kDeadline),
                    Catch::Contains("compute status " + w.endpoint()) && Catch::Contains("\"paused\""));
  w.set_status(R"({"digits":1})");
  CHECK_THROWS_WITH(client.compute_status(w.endpoint(), kDeadline), Catch::Contains("unexpected answer"));
  CHECK_FALSE(parse_compute_state("Running"));
}

TEST_CASE("a computation the worker refuses (400) is ComputeRefused; busy (409) is not", "[worker]") {
  TestWorker w;
  HttpWorkerClient client;
  w.answer_compute_with(400);
  CHECK_THROWS_AS(client.start_compute(w.endpoint(), 1'000'000'000, kDeadline), ComputeRefused);
  CHECK_THROWS_WITH(client.start_compute(w.endpoint(), 1'000'000'000, kDeadline),
                    "compute " + w.endpoint() + ": HTTP 400: too many digits");
  w.answer_compute_with(409);
  try {
    client.start_compute(w.endpoint(), 10, kDeadline);
    FAIL("409 accepted");
  } catch (const ComputeRefused&) {
    FAIL("409 taken for a refusal");
  } catch (const WorkerError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("compute " + w.endpoint() + ": HTTP 409"));
  }
}

TEST_CASE("a worker that accepts and never answers fails the call at its deadline", "[worker]") {
  // A listening socket nobody reads: the kernel completes the handshake, as
  // for a paused container.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string endpoint = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  HttpWorkerClient client;
  CHECK_THROWS_WITH(client.ping(endpoint, milliseconds(100)), Catch::StartsWith("ping " + endpoint + ": "));
  CHECK_THROWS_AS(client.compute_status(endpoint, milliseconds(100)), WorkerError);
  CHECK_THROWS_AS(fetch_all(client, endpoint, milliseconds(100)), WorkerError);
  ::close(fd);
}

TEST_CASE("a worker that is not there is a WorkerError naming the call", "[worker]") {
  HttpWorkerClient client;
  auto gone = std::make_unique<TestWorker>();
  const std::string endpoint = gone->endpoint();
  gone.reset();
  CHECK_THROWS_WITH(client.reset(endpoint, kDeadline), Catch::StartsWith("reset " + endpoint + ": "));
}

TEST_CASE("health checks of other images: an http GET passes on 2xx only and sends no control secret; a tcp connect") {
  httplib::Server server;
  std::string authorization = "unset";
  server.Get("/healthz", [&](const httplib::Request& req, httplib::Response& res) {
    authorization = req.get_header_value("Authorization");
    res.status = 204;
  });
  server.Get("/down", [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  const std::string endpoint = "127.0.0.1:" + std::to_string(port);

  HttpWorkerClient client("control-key");
  CHECK_NOTHROW(client.probe_http(endpoint, "/healthz", kDeadline));
  CHECK(authorization.empty());
  CHECK_THROWS_WITH(client.probe_http(endpoint, "/down", kDeadline), Catch::Contains("HTTP 503"));
  CHECK_THROWS_WITH(client.probe_http(endpoint, "/missing", kDeadline), Catch::Contains("HTTP 404"));
  CHECK_NOTHROW(client.probe_tcp(endpoint, kDeadline));
  server.stop();
  serving.join();
  CHECK_THROWS_WITH(client.probe_tcp(endpoint, kDeadline), Catch::Contains("connect " + endpoint));
  CHECK_THROWS_AS(client.probe_http(endpoint, "/healthz", kDeadline), WorkerError);
}
