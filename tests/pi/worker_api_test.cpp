// pi-worker's HTTP API, served in-process on a free loopback port.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "pi/pi.hpp"
#include "support/raw_http.hpp"
#include "worker/http_api.hpp"
#include "worker/job.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using warmpool::worker::ComputeJob;
using warmpool::worker::ServerSettings;

namespace {

constexpr std::size_t kCap = 20'000'000;

class TestWorker {
 public:
  explicit TestWorker(ComputeJob::ComputeFn compute = warmpool::pi::compute)
      : job_(options(), std::move(compute)), scratch_(std::filesystem::temp_directory_path() / ("pi-worker-test-" + std::to_string(getpid()))) {
    std::filesystem::create_directories(scratch_);
    ServerSettings settings;
    settings.scratch_dir = scratch_;
    warmpool::worker::configure_server(server_, job_, settings);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(10, 0);
    client_->set_tcp_nodelay(true);
    for (int i = 0; i < 100 && !client_->Get("/ping"); ++i) std::this_thread::sleep_for(10ms);
  }
  ~TestWorker() {
    server_.stop();
    thread_.join();
    std::filesystem::remove_all(scratch_);
  }

  httplib::Client& client() { return *client_; }
  int port() const { return port_; }
  const std::filesystem::path& scratch() const { return scratch_; }

  httplib::Result post_compute(const std::string& body) { return client_->Post("/compute", body, "application/json"); }

  json get_json(const std::string& path) {
    auto res = client_->Get(path.c_str());
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
  }

  // Polls GET /compute until the state is not "running".
  json wait_finished() {
    for (int i = 0; i < 3000; ++i) {
      json s = get_json("/compute");
      if (s["state"] != "running") return s;
      std::this_thread::sleep_for(10ms);
    }
    FAIL("computation did not finish");
    return {};
  }

 private:
  static warmpool::pi::Options options() {
    warmpool::pi::Options o;
    o.threads = 2;
    o.max_digits = kCap;
    o.isolate = true;
    return o;
  }

  ComputeJob job_;
  std::filesystem::path scratch_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

void check_bad_request(TestWorker& w, const std::string& body, const std::string& detail_part) {
  auto res = w.post_compute(body);
  REQUIRE(res);
  INFO("body: " << body << " -> " << res->body);
  CHECK(res->status == 400);
  CHECK(res->get_header_value("Content-Type") == "application/problem+json");
  json problem = json::parse(res->body);
  CHECK(problem["status"] == 400);
  CHECK(problem["detail"].get<std::string>().find(detail_part) != std::string::npos);
}

}  // namespace

TEST_CASE("ping answers with the compute state", "[worker]") {
  TestWorker w;
  auto res = w.client().Get("/ping");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(json::parse(res->body) == json({{"ok", true}, {"state", "idle"}}));
}

TEST_CASE("compute runs, reports progress, and serves the exact digits", "[worker]") {
  TestWorker w;
  CHECK(w.client().Get("/result")->status == 409);

  auto res = w.post_compute(R"({"digits": 200000})");
  REQUIRE(res);
  CHECK(res->status == 202);
  json started = json::parse(res->body);
  CHECK(started["digits"] == 200000);

  json done = w.wait_finished();
  CHECK(done["state"] == "done");
  CHECK(done["digits"] == 200000);
  CHECK(done["progress"] == 1.0);
  CHECK(done["elapsed_ms"].get<std::int64_t>() >= 0);
  CHECK(json::parse(w.client().Get("/ping")->body)["state"] == "done");

  auto result = w.client().Get("/result");
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->get_header_value("Content-Type").rfind("text/plain", 0) == 0);
  warmpool::pi::Options o;
  o.threads = 1;
  CHECK(result->body == warmpool::pi::compute(200000, o));

  // A finished result is replaced by the next computation.
  CHECK(w.post_compute(R"({"digits": 5})")->status == 202);
  CHECK(w.wait_finished()["state"] == "done");
  CHECK(w.client().Get("/result")->body == "3.14159");
}

TEST_CASE("a running computation makes compute busy; ping stays fast; reset cancels and wipes", "[worker]") {
  TestWorker w;
  { std::ofstream(w.scratch() / "leftover.txt") << "x"; }
  std::filesystem::create_directories(w.scratch() / "dir" / "sub");

  REQUIRE(w.post_compute(R"({"digits": 20000000})")->status == 202);
  auto busy = w.post_compute(R"({"digits": 10})");
  REQUIRE(busy);
  CHECK(busy->status == 409);
  CHECK(json::parse(busy->body)["title"] == "Busy");

  std::this_thread::sleep_for(300ms);
  auto t0 = std::chrono::steady_clock::now();
  auto ping = w.client().Get("/ping");
  auto ping_time = std::chrono::steady_clock::now() - t0;
  REQUIRE(ping);
  CHECK(json::parse(ping->body)["state"] == "running");
  CHECK(ping_time < 500ms);

  json running = w.get_json("/compute");
  CHECK(running["state"] == "running");
  CHECK(running["digits"] == 20000000);
  CHECK(running["progress"].get<double>() >= 0.0);
  CHECK(running["progress"].get<double>() < 1.0);
  CHECK(running["elapsed_ms"].get<std::int64_t>() >= 300);
  CHECK(w.client().Get("/result")->status == 409);

  t0 = std::chrono::steady_clock::now();
  auto reset = w.client().Post("/reset", "", "application/json");
  REQUIRE(reset);
  CHECK(reset->status == 200);
  CHECK(json::parse(reset->body) == json({{"ok", true}}));
  CHECK(std::chrono::steady_clock::now() - t0 < 1000ms);

  json idle = w.get_json("/compute");
  CHECK(idle["state"] == "idle");
  CHECK(idle["digits"] == 0);
  CHECK(w.client().Get("/result")->status == 409);
  CHECK(std::filesystem::is_empty(w.scratch()));
  CHECK(json::parse(w.client().Get("/ping")->body)["state"] == "idle");

  // After a reset the slot takes new work.
  CHECK(w.post_compute(R"({"digits": 100})")->status == 202);
  CHECK(w.wait_finished()["state"] == "done");
  CHECK(w.client().Post("/reset", "", "application/json")->status == 200);
  CHECK(w.client().Get("/result")->status == 409);
}

TEST_CASE("DELETE /compute cancels and keeps the cancelled state", "[worker]") {
  TestWorker w;
  CHECK(w.client().Delete("/compute")->status == 409);
  REQUIRE(w.post_compute(R"({"digits": 20000000})")->status == 202);
  std::this_thread::sleep_for(100ms);
  CHECK(w.client().Delete("/compute")->status == 200);
  json s = w.wait_finished();
  CHECK(s["state"] == "cancelled");
  CHECK(s["digits"] == 20000000);
  CHECK(w.client().Get("/result")->status == 409);
}

TEST_CASE("bad compute requests get 400 with a clear message and change nothing", "[worker]") {
  TestWorker w;
  check_bad_request(w, R"({})", "missing field \"digits\"");
  check_bad_request(w, R"({"digits": "100"})", "must be an integer from 1 to 20000000, got \"100\"");
  check_bad_request(w, R"({"digits": 100.5})", "must be an integer");
  check_bad_request(w, R"({"digits": 100.0})", "must be an integer");
  check_bad_request(w, R"({"digits": 0})", "got 0");
  check_bad_request(w, R"({"digits": -3})", "got -3");
  check_bad_request(w, R"({"digits": 20000001})", "got 20000001");
  check_bad_request(w, R"({"digits": 1e30})", "must be an integer");
  check_bad_request(w, R"({"digits": null})", "got null");
  check_bad_request(w, R"({"digits": true})", "got true");
  check_bad_request(w, R"({"digits": 100)", "not valid JSON");
  check_bad_request(w, "", "not valid JSON");
  check_bad_request(w, R"([100])", "must be a JSON object");

  auto big = w.post_compute(R"({"digits": 100, "pad": ")" + std::string(10000, 'a') + "\"}");
  REQUIRE(big);
  CHECK(big->status == 413);

  CHECK(w.get_json("/compute")["state"] == "idle");
}

TEST_CASE("a computation that fails reports failed with its error", "[worker]") {
  TestWorker w([](std::size_t, const warmpool::pi::Options&, warmpool::pi::Progress*, const std::atomic<bool>*)
                   -> std::string { throw std::runtime_error("pi: compute process killed by signal 9"); });
  REQUIRE(w.post_compute(R"({"digits": 1000})")->status == 202);
  json s = w.wait_finished();
  CHECK(s["state"] == "failed");
  CHECK(s["error"] == "pi: compute process killed by signal 9");
  CHECK(w.client().Get("/result")->status == 409);
  CHECK(json::parse(w.client().Get("/ping")->body)["state"] == "failed");
  // A failed slot takes new work, and a reset clears it.
  CHECK(w.client().Post("/reset", "", "application/json")->status == 200);
  CHECK(w.get_json("/compute")["state"] == "idle");
}

TEST_CASE("a POST without Content-Length has an empty body, answered at once, and the next request too", "[worker]") {
  // RFC 9112 section 6.3; cpp-httplib 0.11 read such a body to the end of
  // the connection, so /reset waited for the read timeout.
  TestWorker w;
  const auto started = std::chrono::steady_clock::now();
  for (const std::string framing : {"", "Content-Length: 0\r\n"}) {
    INFO("framing: " << framing);
    const std::string reset = "POST /reset HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n";
    const std::string ping = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
    const auto answers = warmpool::test::raw_exchanges(w.port(), {reset, ping}, std::chrono::seconds(8));
    REQUIRE(answers.size() == 2);
    REQUIRE(answers[0].answered);
    CHECK(answers[0].status == 200);
    REQUIRE(answers[1].answered);
    CHECK(answers[1].status == 200);
  }
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(4));  // the read timeout is 5 s
}
