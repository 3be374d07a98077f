// The assembled manager's HTTP server without an engine: request ids on every
// answer, and the metrics an operator scrapes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <thread>

#include <httplib.h>

#include "app/app.hpp"

using namespace warmpool;
namespace fs = std::filesystem;

namespace {

struct OfflineApp {
  OfflineApp()
      : dir(fs::temp_directory_path() / ("warmpool-server-" + std::to_string(std::random_device{}() % 1'000'000))),
        app(config_for(dir)),
        port(app.serve_in_background()) {}
  ~OfflineApp() {
    app.stop();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  static Config config_for(const fs::path& dir) {
    Config c;
    c.data_dir = dir.string();
    c.engine = "unix://" + (dir / "no-engine.sock").string();  // nothing listens: the engine is down
    c.manager_id = "test-server";
    c.insecure = true;
    c.min_idle = 0;
    return c;
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", port); }

  fs::path dir;
  App app;
  int port;
};

bool hex16(const std::string& s) {
  return s.size() == 16 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

TEST_CASE("every answer carries a request id: the client's when sane, else a new one") {
  OfflineApp o;
  auto client = o.client();

  auto fresh = client.Get("/health");
  REQUIRE(fresh);
  CHECK(hex16(fresh->get_header_value("X-Request-Id")));
  auto again = client.Get("/health");
  REQUIRE(again);
  CHECK(again->get_header_value("X-Request-Id") != fresh->get_header_value("X-Request-Id"));

  auto given = client.Get("/health", {{"X-Request-Id", "front-end.7:a_b-c"}});
  REQUIRE(given);
  CHECK(given->get_header_value("X-Request-Id") == "front-end.7:a_b-c");

  auto forged = client.Get("/allocations", {{"X-Request-Id", "x\", \"level\": \"error"}});
  REQUIRE(forged);
  CHECK(hex16(forged->get_header_value("X-Request-Id")));

  auto unknown = client.Get("/no/such/route");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(hex16(unknown->get_header_value("X-Request-Id")));
}

TEST_CASE("GET /metrics names every family an operator watches") {
  OfflineApp o;
  auto client = o.client();
  REQUIRE(client.Get("/health"));  // asks the (missing) engine for its version
  // A request is counted just after its answer is sent: scrape until it shows.
  const std::string counted = R"(warmpool_http_requests_total{code="5xx",method="GET"} 1)";
  std::string text;
  for (int k = 0; k < 100 && text.find(counted) == std::string::npos; ++k) {
    auto r = client.Get("/metrics");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    text = r->body;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(text.find(counted) != std::string::npos);  // /health said degraded: 503
  for (const char* family :
       {"warmpool_allocate_seconds", "warmpool_hand_out_seconds", "warmpool_queue_wait_seconds",
        "warmpool_queue_depth", "warmpool_engine_call_seconds", "warmpool_faults_total",
        "warmpool_restarts_total", "warmpool_replacements_total", "warmpool_instances",
        "warmpool_pi_jobs", "warmpool_pi_job_seconds", "warmpool_http_requests_total"}) {
    INFO(family);
    CHECK(text.find(std::string("# TYPE ") + family + " ") != std::string::npos);
  }
  CHECK(text.find(R"(warmpool_engine_call_seconds_count{operation="version",result="error"})") != std::string::npos);
  CHECK(text.find(R"(warmpool_pi_jobs{state="queued"} 0)") != std::string::npos);
}
