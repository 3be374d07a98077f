// Full disk: the data directory (database and pi job results) on a 4 MB
// tmpfs that fills up while hand-outs and pi jobs run. What a user relies
// on: clear 503s while nothing can be written, no result file served half
// written, a database that passes SQLite's integrity check, and service back
// once space returns. (Drill 8 in tests/scheduler covers releases and the
// records of hand-outs on a full disk.)
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "scheduler/drill_support.hpp"

using namespace warmpool;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json body_of(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }

// Submits a pi job and waits for its end; returns its last status.
json run_job(httplib::Client& client, long long digits, std::chrono::seconds limit = 60s) {
  auto submitted = client.Post("/pi_job", json{{"digits", digits}}.dump(), "application/json");
  REQUIRE(submitted);
  INFO(submitted->body);
  REQUIRE(submitted->status == 200);
  const std::string id = std::to_string(body_of(submitted)["job_id"].get<long long>());
  json status;
  const long long ended = drill::time_until([&] {
    status = body_of(client.Get("/pi_job/" + id));
    const std::string s = status.value("status", "");
    return s == "complete" || s == "failed" || s == "cancelled";
  }, limit);
  INFO("job " << id << ", last status: " << status.dump());
  REQUIRE(ended >= 0);
  return status;
}

// Files in the results directory that are not whole results ("<sha256>.txt").
std::vector<std::string> stray_result_files(const std::string& data_dir) {
  std::vector<std::string> stray;
  std::error_code ignored;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/results", ignored)) {
    const std::string name = e.path().filename();
    if (name.size() != 68 || name.substr(64) != ".txt") stray.push_back(name);
  }
  return stray;
}

std::string integrity(const std::string& db_path) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA integrity_check").getString();
}

}  // namespace

TEST_CASE("full disk: clear 503s, no half-written result served, the database intact, service back with space",
          "[drill]") {
  drill::SmallDisk disk;
  test::Stack stack([&](Config& c) {
    c.data_dir = disk.dir() + "/data";
    c.port_first = 15300;  // worker ports of this drill: 15300-15319 (below the ephemeral ports)
    c.port_last = 15319;
    c.max_instances = 2;
    c.min_idle = 1;
    c.keep_running = 1;
    c.job_workers = 1;
    c.job_retries = 1;
  });
  auto client = stack.client();
  REQUIRE(stack.eventually([&] { return stack.count_idle() >= 1; }));
  const json small = run_job(client, 2000);
  REQUIRE(small["status"] == "complete");

  // Nothing can be written: new work is refused clearly, reads go on.
  disk.fill();
  auto refused = client.Post("/allocations", R"({"timeout_ms":3000})", "application/json");
  REQUIRE(refused);
  INFO(refused->body);
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Content-Type") == "application/problem+json");
  auto job_refused = client.Post("/pi_job", R"({"digits": 1000})", "application/json");
  REQUIRE(job_refused);
  CHECK(job_refused->status == 503);
  auto old = client.Get("/download_pi_job/" + small["job_id"].get<std::string>());
  REQUIRE(old);
  CHECK(old->status == 200);  // what was written whole is still served
  CHECK(old->body.size() == 2 + 2000);

  // Room for the records but not for a 1 MB result: the job's result cannot
  // be saved, and no part of it is left or served. (With much less room the
  // pool cannot record a new instance, and the job waits queued until space
  // returns.)
  disk.free();
  disk.fill();
  const std::string filler = disk.dir() + "/filler";
  REQUIRE(::truncate(filler.c_str(), static_cast<off_t>(std::filesystem::file_size(filler)) - 512 * 1024) == 0);
  const json big = run_job(client, 1'000'000, 60s);
  INFO(big.dump());
  CHECK(big["status"] == "failed");
  CHECK(big.value("error", "").find("No space left on device") != std::string::npos);
  auto not_served = client.Get("/download_pi_job/" + big["job_id"].get<std::string>());
  REQUIRE(not_served);
  CHECK(not_served->status != 200);
  CHECK(stray_result_files(stack.config.data_dir).empty());
  CHECK(integrity(stack.config.database_path()) == "ok");

  // Space returns: hand-outs and jobs are served again.
  disk.free();
  const long long served = drill::time_until([&] {
    auto r = client.Post("/allocations", R"({"timeout_ms":1000})", "application/json");
    if (!r || r->status != 201) return false;
    client.Delete("/allocations/" + body_of(r)["id"].get<std::string>());
    return true;
  });
  drill::report("disk", "space back: first hand-out served", served);
  REQUIRE(served >= 0);
  const json again = run_job(client, 1'000'000, 120s);
  CHECK(again["status"] == "complete");
  auto download = client.Get("/download_pi_job/" + again["job_id"].get<std::string>());
  REQUIRE(download);
  CHECK(download->status == 200);
  CHECK(download->body.size() == 2 + 1'000'000);
  CHECK(stray_result_files(stack.config.data_dir).empty());
  CHECK(integrity(stack.config.database_path()) == "ok");
}
