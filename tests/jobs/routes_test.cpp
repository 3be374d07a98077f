// The pi-service API's answers, compared whole (every key, every type) for
// each case of the issue and of swagger/openapi.yaml.
#include <catch2/catch.hpp>

#include <fstream>
#include <tuple>

#include "api_fixture.hpp"
#include "jobs/result_files.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

struct Answer {
  int status = 0;
  std::string type;
  json body;
  std::string text;
  httplib::Headers headers;
};

Answer answer(const httplib::Result& r) {
  REQUIRE(r);
  Answer a{r->status, r->get_header_value("Content-Type"), json::parse(r->body, nullptr, false), r->body,
           r->headers};
  return a;
}

Answer post(test::ApiFixture& f, const std::string& body) {
  return answer(f.client().Post("/pi_job", body, "application/json"));
}
Answer get(test::ApiFixture& f, const std::string& path) { return answer(f.client().Get(path)); }
Answer del(test::ApiFixture& f, const std::string& path) { return answer(f.client().Delete(path)); }

json missing(const std::string& id) {
  return {{"success", false}, {"job_id", id}, {"error", "Job does not exist"}};
}

// Completes job `id` with "3." and its digits, as the runner would.
ResultFile complete(test::ApiFixture& f, std::int64_t id) {
  const std::string digits = test::fake_digits(f.store.job(id)->digits);
  jobs::ResultWriter w(f.runner->settings().results_dir);
  w.write(digits.data(), digits.size());
  const ResultFile file = w.commit();
  REQUIRE(f.store.complete_job(id, file, f.clock.now_ms()));
  return file;
}

}  // namespace

TEST_CASE("POST /pi_job: {success, job_id} with ids from 0; bad input is 400 {success: false, error}") {
  test::ApiFixture f(1000);
  const auto first = post(f, R"({"digits": 50})");
  CHECK(first.status == 200);
  CHECK(first.type == "application/json");
  CHECK(first.body == json{{"success", true}, {"job_id", 0}});
  CHECK(first.body["job_id"].is_number_integer());
  CHECK(post(f, R"({"digits": 1000, "note": "extra fields are ignored"})").body ==
        json{{"success", true}, {"job_id", 1}});

  const std::string not_json = "the body is not valid JSON; send {\"digits\": N}";
  const std::string integer = "\"digits\" must be an integer";
  const std::string at_least = "\"digits\" must be at least 1";
  const std::string at_most = "\"digits\" must be at most 1000";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", not_json},
      {"", not_json},
      {"[50]", "the body must be a JSON object like {\"digits\": 1000}"},
      {"50", "the body must be a JSON object like {\"digits\": 1000}"},
      {"{}", "\"digits\" is required, e.g. {\"digits\": 1000}"},
      {R"({"digit": 5})", "\"digits\" is required, e.g. {\"digits\": 1000}"},
      {R"({"digits": "50"})", integer},
      {R"({"digits": 50.5})", integer},
      {R"({"digits": 5e1})", integer},
      {R"({"digits": true})", integer},
      {R"({"digits": null})", integer},
      {R"({"digits": [50]})", integer},
      {R"({"digits": 0})", at_least},
      {R"({"digits": -3})", at_least},
      {R"({"digits": -9223372036854775808})", at_least},
      {R"({"digits": 1001})", at_most},
      {R"({"digits": 18446744073709551615})", at_most},
      {R"({"digits": 1e400})", not_json},
  };
  for (const auto& [body, error] : cases) {
    INFO("body: " << body);
    const auto a = post(f, body);
    CHECK(a.status == 400);
    CHECK(a.type == "application/json");
    CHECK(a.body == json{{"success", false}, {"error", error}});
  }
  CHECK(f.store.recent_jobs(100).size() == 2);  // bad input changed nothing
}

namespace {
// The body has every field the spec's schema requires and, where the schema
// allows no others, none it does not name.
void check_fields(const json& body, const std::string& schema_name) {
  static const json spec = [] {
    std::ifstream in(WARMPOOL_OPENAPI_JSON);
    return json::parse(in);
  }();
  const json& schema = spec["components"]["schemas"][schema_name];
  INFO(schema_name << ": " << body.dump());
  for (const auto& field : schema["required"]) CHECK(body.contains(field.get<std::string>()));
  if (schema.value("additionalProperties", true) == false)
    for (const auto& [key, value] : body.items()) CHECK(schema["properties"].contains(key));
}
}  // namespace

TEST_CASE("POST /pi_job: more digits than the instances have memory for is 400 saying what they need") {
  test::ApiFixture f(100'000'000, "", [](PoolSettings& s) { s.container.memory_bytes = 512ll << 20; });
  CHECK(post(f, R"({"digits": 10000000})").status == 200);
  const auto big = post(f, R"({"digits": 100000000})");
  CHECK(big.status == 400);
  CHECK(big.body == json{{"success", false},
                         {"error", "100000000 digits need instances of at least 986 MB; the largest pool "
                                   "that runs pi workers (default) gives 512 MB"}});
  CHECK(f.store.recent_jobs(10).size() == 1);  // the refused job was not recorded
}

TEST_CASE("POST /pi_job to a pool whose image is not a worker is 409, and nothing is recorded") {
  test::ApiFixture f(1000, "", [](PoolSettings& s) {
    s.protocol.health = HealthCheck::Http;
    s.protocol.reset = ResetMethod::Restart;
  });
  const auto refused = post(f, R"({"digits": 10})");
  CHECK(refused.status == 409);
  CHECK(refused.body["success"] == false);
  CHECK(refused.body["error"].get<std::string>().find("no pool runs pi workers") != std::string::npos);
  CHECK(f.store.recent_jobs(10).empty());
}

TEST_CASE("POST /pi_job with a pool: kept with the job; unknown 404, not workers or draining 409, too small 400") {
  test::ApiFixture f(100'000'000, "", [](PoolSettings& s) { s.container.memory_bytes = 512ll << 20; });
  f.runner->use_pools({[] {
                         return std::vector<jobs::JobPool>{{"default", 512ll << 20},
                                                           {"large", 2048ll << 20},
                                                           {"busybox", 4096ll << 20, false},
                                                           {"old", 4096ll << 20, true, false}};
                       },
                       [](const std::string&) { return nullptr; }});
  const auto named = post(f, R"({"digits": 1000, "pool": "large"})");
  CHECK(named.status == 200);
  CHECK(named.body == json{{"success", true}, {"job_id", 0}});  // the earlier service's shape, nothing added
  CHECK(f.store.job(0)->pool == "large");
  CHECK(post(f, R"({"digits": 1000})").status == 200);
  CHECK(f.store.job(1)->pool.empty());  // none named: the smallest that fits, chosen when it runs

  const std::vector<std::tuple<std::string, int, std::string>> refused = {
      {R"({"digits": 10, "pool": "nosuch"})", 404, "\"pool\": no pool named nosuch"},
      {R"({"digits": 10, "pool": "busybox"})", 409,
       "\"pool\": pool busybox does not run pi workers (its health check is other than worker)"},
      {R"({"digits": 10, "pool": "old"})", 409, "\"pool\": pool old is draining and takes no new work"},
      {R"({"digits": 100000000, "pool": "default"})", 400,
       "\"pool\": 100000000 digits need instances of at least 986 MB; pool default gives 512 MB"},
      {R"({"digits": 10, "pool": 5})", 400, "\"pool\" must be a pool's name (a string of 1 to 200 characters)"},
      {R"({"digits": 10, "pool": ""})", 400, "\"pool\" must be a pool's name (a string of 1 to 200 characters)"},
  };
  for (const auto& [body, status, error] : refused) {
    INFO("body: " << body);
    const auto a = post(f, body);
    CHECK(a.status == status);
    CHECK(a.type == "application/json");
    CHECK(a.body == json{{"success", false}, {"error", error}});
  }
  CHECK(f.store.recent_jobs(10).size() == 2);  // refused jobs were not recorded
}

TEST_CASE("GET /pi_job/{id}: queued, In-progress, complete, failed, cancelled; unknown ids are 404") {
  test::ApiFixture f(1000);
  const auto t0 = f.clock.now_ms();
  for (int digits : {50, 60, 70, 80}) f.runner->submit(digits);
  f.clock.advance_ms(4500);
  CHECK(get(f, "/pi_job/0").body == json{{"success", true}, {"job_id", "0"}, {"digits", 50},
                                         {"status", "queued"}, {"time_elapsed", "4 seconds"},
                                         {"progress", 0.0}});
  REQUIRE(f.store.start_job(0, "allocation", t0 + 1000));
  REQUIRE(f.store.set_job_progress(0, 0.5, t0 + 2000));
  const auto running = get(f, "/pi_job/0");
  CHECK(running.status == 200);
  CHECK(running.type == "application/json");
  CHECK(running.body == json{{"success", true}, {"job_id", "0"}, {"digits", 50}, {"status", "In-progress"},
                             {"time_elapsed", "4 seconds"}, {"progress", 0.5}});

  complete(f, 0);
  f.clock.advance_ms(10'000);  // a finished job's time stops at its end
  CHECK(get(f, "/pi_job/0").body == json{{"success", true}, {"job_id", "0"}, {"digits", 50},
                                         {"status", "complete"}, {"time_elapsed", "4 seconds"},
                                         {"progress", 1.0}});

  REQUIRE(f.store.fail_job(1, "gave up after 3 attempts: the worker stopped answering", f.clock.now_ms()));
  CHECK(get(f, "/pi_job/1").body ==
        json{{"success", true}, {"job_id", "1"}, {"digits", 60}, {"status", "failed"},
             {"time_elapsed", "14 seconds"}, {"progress", 0.0},
             {"error", "gave up after 3 attempts: the worker stopped answering"}});

  f.runner->cancel(2);
  CHECK(get(f, "/pi_job/2").body["status"] == "cancelled");
  // Every state's answer fits the documented schema, the failed one included.
  for (const std::string id : {"0", "1", "2", "3"}) check_fields(get(f, "/pi_job/" + id).body, "PiJobStatus");

  for (const std::string id : {"4", "987654", "abc", "99999999999999999999", "-1"}) {
    INFO(id);
    const auto a = get(f, "/pi_job/" + id);
    CHECK(a.status == 404);
    CHECK(a.type == "application/json");
    CHECK(a.body == missing(id));
  }
  // The dashboard's list: newest first, the same shapes.
  const json recent = jobs::recent_jobs_json(f.store, f.clock, 2);
  REQUIRE(recent.size() == 2);
  CHECK(recent[0] == get(f, "/pi_job/3").body);
  CHECK(recent[1] == get(f, "/pi_job/2").body);
}

TEST_CASE("DELETE /pi_job/{id}: a queued or running job becomes cancelled; a finished one is unchanged") {
  test::ApiFixture f(1000);
  for (int digits : {10, 20, 30}) f.runner->submit(digits);
  REQUIRE(f.store.start_job(1, "allocation", f.clock.now_ms()));
  complete(f, 2);
  f.clock.advance_ms(2000);

  const auto queued = del(f, "/pi_job/0");
  CHECK(queued.status == 200);
  CHECK(queued.type == "application/json");
  CHECK(queued.body == json{{"success", true}, {"job_id", "0"}, {"digits", 10}, {"status", "cancelled"},
                            {"time_elapsed", "2 seconds"}, {"progress", 0.0}});
  CHECK(del(f, "/pi_job/1").body["status"] == "cancelled");
  const auto finished = del(f, "/pi_job/2");
  CHECK(finished.status == 200);
  CHECK(finished.body == json{{"success", true}, {"job_id", "2"}, {"digits", 30}, {"status", "complete"},
                              {"time_elapsed", "0 seconds"}, {"progress", 1.0}});
  CHECK(del(f, "/pi_job/0").body["status"] == "cancelled");  // again: unchanged
  const auto unknown = del(f, "/pi_job/7");
  CHECK(unknown.status == 404);
  CHECK(unknown.body == missing("7"));
}

TEST_CASE("GET /download_pi_job/{id}: the digits as pi_{id}.txt; 409 before completion; 404 unknown") {
  test::ApiFixture f(1000);
  for (int digits : {40, 50, 60, 70}) f.runner->submit(digits);
  const ResultFile file = complete(f, 0);
  REQUIRE(f.store.start_job(1, "allocation", f.clock.now_ms()));
  REQUIRE(f.store.fail_job(2, "gave up after 3 attempts: lost", f.clock.now_ms()));
  f.runner->cancel(3);
  f.runner->submit(80);  // 4, queued

  const auto done = answer(f.client().Get("/download_pi_job/0"));
  CHECK(done.status == 200);
  CHECK(done.text == test::fake_digits(40));
  CHECK(done.type == "text/plain; charset=utf-8");
  auto header = [&](const char* name) {
    auto it = done.headers.find(name);
    return it == done.headers.end() ? std::string() : it->second;
  };
  CHECK(header("Content-Disposition") == "attachment; filename=\"pi_0.txt\"");
  CHECK(header("Repr-Digest") == jobs::repr_digest(file.sha256));
  CHECK(header("Content-Length") == "42");

  const std::vector<std::tuple<std::string, std::string, std::string>> unfinished = {
      {"1", "In-progress", "Job is in progress; its digits can be downloaded once it is complete"},
      {"2", "failed", "Job failed: gave up after 3 attempts: lost"},
      {"3", "cancelled", "Job was cancelled"},
      {"4", "queued", "Job is queued; its digits can be downloaded once it is complete"},
  };
  for (const auto& [id, status, error] : unfinished) {
    INFO("job " << id);
    const auto a = get(f, "/download_pi_job/" + id);
    CHECK(a.status == 409);
    CHECK(a.type == "application/json");
    CHECK(a.body == json{{"success", false}, {"job_id", id}, {"status", status}, {"error", error}});
  }
  const auto unknown = get(f, "/download_pi_job/5");
  CHECK(unknown.status == 404);
  CHECK(unknown.body == missing("5"));

  // A result file that went missing is the server's fault, and says so.
  std::filesystem::remove(f.runner->path_of(file));
  const auto lost = get(f, "/download_pi_job/0");
  CHECK(lost.status == 500);
  CHECK(lost.type == "application/problem+json");
}

TEST_CASE("an id with bytes that are not UTF-8 is 404 \"Job does not exist\", with the bytes replaced") {
  // The id is echoed in job_id; dumping it threw (type_error 316) and the
  // answer was a 500.
  test::ApiFixture f(1000);
  const json expected = missing("\xef\xbf\xbd" "1");  // U+FFFD for the byte 0xff
  CHECK(get(f, "/pi_job/%ff1").status == 404);
  CHECK(get(f, "/pi_job/%ff1").body == expected);
  CHECK(del(f, "/pi_job/%ff1").body == expected);
  CHECK(get(f, "/download_pi_job/%ff1").body == expected);
}

TEST_CASE("with an API token, the pi job routes want it") {
  test::ApiFixture f(1000, "secret");
  auto c = f.client();
  CHECK(c.Post("/pi_job", R"({"digits":5})", "application/json")->status == 401);
  CHECK(c.Get("/pi_job/0")->status == 401);
  CHECK(c.Delete("/pi_job/0")->status == 401);
  CHECK(c.Get("/download_pi_job/0")->status == 401);
  c.set_bearer_token_auth("secret");
  CHECK(c.Post("/pi_job", R"({"digits":5})", "application/json")->status == 200);
}

TEST_CASE("end to end over HTTP on fake workers: submit, poll to complete, download") {
  test::ApiFixture f(100'000);
  f.runner->start();
  const auto created = post(f, R"({"digits": 5000})");
  REQUIRE(created.status == 200);
  const std::string id = std::to_string(created.body["job_id"].get<int>());
  json status;
  for (int i = 0; i < 500; ++i) {
    status = get(f, "/pi_job/" + id).body;
    if (status["status"] == "complete") break;
    CHECK((status["status"] == "queued" || status["status"] == "In-progress"));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(status["status"] == "complete");
  CHECK(get(f, "/download_pi_job/" + id).text == test::fake_digits(5000));
}
