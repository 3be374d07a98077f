// A big pi job end to end, on demand (10^8 digits take minutes): starts
// `warmpool serve` on a running engine with one instance large enough for
// the job, posts /pi_job, follows it to the end, downloads the digits and
// compares them byte for byte with MPFR's, computed meanwhile in this
// process. Prints the times and exits 0 only when the digits are exact.
//
//   build/bench/pi/big_job --engine unix:///path/to/docker.sock [--digits N]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "engine/docker_engine.hpp"
#include "jobs/sizing.hpp"
#include "load/manager_process.hpp"
#include "pi/mpfr_oracle.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string engine;
  std::int64_t digits = 100'000'000;
  double cpus = 2;
  int port_first = 18950;
  int timeout_s = 1800;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::optional<json> get_json(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path);
  if (!r || r->status != 200) return std::nullopt;
  return json::parse(r->body, nullptr, false);
}

// Polls the job until it is final; returns its last status.
json follow(httplib::Client& c, std::int64_t id, const Options& o) {
  const auto start = Clock::now();
  double last_print = -10;
  for (;;) {
    const auto status = get_json(c, "/pi_job/" + std::to_string(id));
    if (status) {
      const std::string state = status->value("status", "");
      if (state == "complete" || state == "failed" || state == "cancelled") return *status;
      if (seconds_since(start) - last_print >= 10) {
        last_print = seconds_since(start);
        std::printf("  %5.0f s: %s\n", last_print, status->dump().c_str());
        std::fflush(stdout);
      }
    }
    if (seconds_since(start) > o.timeout_s) return json{{"status", "timed out"}};
    std::this_thread::sleep_for(1s);
  }
}

void remove_containers(const std::string& endpoint, const std::string& manager_id) {
  warmpool::engine::DockerEngine::Options options;
  options.endpoint = endpoint;
  warmpool::engine::DockerEngine engine(options);
  for (const auto& c : engine.list({{warmpool::engine::kManagerLabel, manager_id}})) engine.remove(c.id);
}

int run(const Options& o) {
  const std::int64_t memory_mb = (warmpool::jobs::memory_for_digits(o.digits) >> 20) + 16;
  const auto dir = std::filesystem::temp_directory_path() / ("warmpool-big-job-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  const std::string manager_id = "big-job-" + std::to_string(std::random_device{}() % 100000);
  const int port = warmpool::test::free_loopback_port();
  std::printf("%lld digits: one instance of %lld MB and %.1f CPUs (manager log: %s)\n",
              static_cast<long long>(o.digits), static_cast<long long>(memory_mb), o.cpus,
              (dir / "manager.log").c_str());

  // MPFR runs meanwhile: the reference is ready about when the job is.
  const auto mpfr_start = Clock::now();
  auto reference = std::async(std::launch::async, [&] { return warmpool::pi::testing::mpfr_pi(o.digits); });

  int status = 1;
  {
    warmpool::test::ManagerProcess manager(
        WARMPOOL_BIN,
        {"serve", "--host", "127.0.0.1", "--port", std::to_string(port), "--data-dir", (dir / "data").string(),
         "--engine", o.engine, "--manager-id", manager_id, "--port-first", std::to_string(o.port_first),
         "--port-last", std::to_string(o.port_first + 9), "--max-instances", "1", "--min-idle", "1", "--max-idle",
         "1", "--instance-memory-mb", std::to_string(memory_mb), "--instance-cpus", std::to_string(o.cpus),
         "--max-digits", std::to_string(o.digits), "--host-limit", "1.0", "--insecure", "--log-format", "text"},
        dir / "manager.log");
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    bool up = false;
    for (int i = 0; i < 120 && !up; ++i, std::this_thread::sleep_for(500ms)) up = get_json(c, "/health").has_value();
    if (!up) {
      std::fprintf(stderr, "the manager did not answer /health in 60 s:\n%s\n", manager.log_tail().c_str());
      return 1;
    }
    const auto job_start = Clock::now();
    auto created = c.Post("/pi_job", json{{"digits", o.digits}}.dump(), "application/json");
    if (!created || created->status != 200) {
      std::fprintf(stderr, "POST /pi_job: %s\n", created ? created->body.c_str() : "no answer");
      return 1;
    }
    const std::int64_t id = json::parse(created->body)["job_id"];
    const json last = follow(c, id, o);
    const double job_s = seconds_since(job_start);
    std::printf("job %lld: %s after %.1f s\n", static_cast<long long>(id), last.value("status", "?").c_str(), job_s);
    if (last.value("status", "") == "complete") {
      auto digits = c.Get("/download_pi_job/" + std::to_string(id));
      const std::string expected = reference.get();
      const double mpfr_s = seconds_since(mpfr_start);
      const bool exact = digits && digits->status == 200 && digits->body == expected;
      std::printf("download: %zu bytes, sha-256 %s\n", digits ? digits->body.size() : 0,
                  digits ? warmpool::pi::testing::sha256_hex(digits->body).c_str() : "-");
      std::printf("MPFR:     %zu bytes, sha-256 %s (%.1f s, alongside the job)\n", expected.size(),
                  warmpool::pi::testing::sha256_hex(expected).c_str(), mpfr_s);
      std::printf("digits exact: %s; job / MPFR time: %.2f\n", exact ? "yes" : "NO", job_s / mpfr_s);
      status = exact ? 0 : 1;
    } else {
      std::fprintf(stderr, "%s\nmanager log:\n%s\n", last.dump().c_str(), manager.log_tail().c_str());
    }
    manager.stop();
  }
  if (reference.valid()) reference.wait();
  remove_containers(o.engine, manager_id);
  std::filesystem::remove_all(dir);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* host = std::getenv("DOCKER_HOST")) o.engine = host;
  CLI::App app{"A big pi job end to end on a running engine, its digits checked against MPFR"};
  app.add_option("--engine", o.engine, "Engine endpoint (default: $DOCKER_HOST)")->required(o.engine.empty());
  app.add_option("--digits", o.digits, "Digits of the job")->capture_default_str()->check(CLI::Range(1, 100'000'000));
  app.add_option("--cpus", o.cpus, "CPUs of the instance")->capture_default_str();
  app.add_option("--port-first", o.port_first, "First of the 10 ports the instance may use")->capture_default_str();
  app.add_option("--timeout-s", o.timeout_s, "Longest the job may take")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return run(o);
}
