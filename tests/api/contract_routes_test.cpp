// The routes the assembled manager registers are exactly the operations of
// swagger/openapi.yaml (as built into openapi.json), and the docs and
// dashboard handlers behave. No engine needed: nothing here starts a
// container.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/dashboard.hpp"
#include "api/docs.hpp"
#include "openapi_paths.hpp"
#include "app/app.hpp"

using namespace warmpool;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json load_spec() {
  std::ifstream in(WARMPOOL_OPENAPI_JSON);
  INFO("reading " << WARMPOOL_OPENAPI_JSON << " (built by the target warmpool_docs)");
  REQUIRE(in);
  return json::parse(in);
}

fs::path temp_dir(const std::string& what) {
  const auto dir = fs::temp_directory_path() /
                   ("warmpool-" + what + "-" + std::to_string(std::random_device{}() % 1'000'000));
  fs::create_directories(dir);
  return dir;
}

// An App that never reaches an engine: its scheduler is not started.
Config offline_config(const fs::path& data_dir) {
  Config c;
  c.data_dir = data_dir.string();
  c.engine = "unix://" + (data_dir / "no-engine.sock").string();
  c.manager_id = "test-routes";
  c.insecure = true;
  c.min_idle = 0;
  return c;
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += "\n  " + i;
  return out;
}

}  // namespace

TEST_CASE("route patterns in use map to OpenAPI paths; other patterns are refused") {
  using test::openapi_to_template;
  using test::route_to_template;
  CHECK(route_to_template("/allocations") == "/allocations");
  CHECK(route_to_template("/allocations/([^/]+)") == "/allocations/{}");
  CHECK(route_to_template(R"(/instances/(\d+)/restart)") == "/instances/{}/restart");
  CHECK(route_to_template(R"(/openapi\.json)") == "/openapi.json");
  CHECK(route_to_template("/") == "/");
  CHECK(openapi_to_template("/instances/{id}/restart") == "/instances/{}/restart");
  CHECK(openapi_to_template("/download_pi_job/{id}") == "/download_pi_job/{}");
  CHECK_THROWS(route_to_template("/openapi.json"));  // an unescaped dot matches any character
  CHECK_THROWS(route_to_template("/files/(.*)"));
  CHECK_THROWS(route_to_template("/a|/b"));
  CHECK_THROWS(route_to_template("allocations"));
}

TEST_CASE("the routes the manager serves are exactly the operations of swagger/openapi.yaml") {
  const json spec = load_spec();
  std::set<std::string> documented;
  for (const auto& [path, item] : spec["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters" || method == "summary" || method == "description" || method == "servers")
        continue;
      std::string m = method;
      for (auto& ch : m) ch = static_cast<char>(std::toupper(ch));
      documented.insert(m + " " + test::openapi_to_template(path));
    }
  }
  REQUIRE(documented.size() > 10);

  const fs::path dir = temp_dir("routes");
  std::set<std::string> served;
  {
    App app(offline_config(dir));
    for (const auto& [method, pattern] : app.server.routes()) {
      INFO(method << " " << pattern);
      const auto [it, fresh] = served.insert(method + " " + test::route_to_template(pattern));
      CHECK(fresh);  // one pattern per operation
    }
    app.stop();
  }
  fs::remove_all(dir);

  std::set<std::string> missing, undocumented;
  for (const auto& d : documented)
    if (!served.count(d)) missing.insert(d);
  for (const auto& s : served)
    if (!documented.count(s)) undocumented.insert(s);
  INFO("in swagger/openapi.yaml but not served by the manager:" << join(missing));
  INFO("served by the manager but not in swagger/openapi.yaml:" << join(undocumented));
  CHECK(missing.empty());
  CHECK(undocumented.empty());
}

TEST_CASE("docs routes serve the docs directory's files, nothing else, and say when it is missing") {
  const fs::path data = temp_dir("docs-data");
  const fs::path docs = temp_dir("docs-files");
  std::ofstream(docs / "index.html") << "<html>docs</html>";
  std::ofstream(docs / "openapi.json") << R"({"openapi":"3.1.0"})";
  std::ofstream(docs / "app.js") << "let x = 1;";
  std::ofstream(docs / "notes.txt") << "not served";
  std::ofstream(data / "secret.js") << "outside the docs directory";

  Config config = offline_config(data);
  config.docs_dir = docs.string();
  {
    App app(offline_config(data));
    api::Server server(config, app.pool, app.store, app.engine, app.lanes);
    api::add_docs_routes(server, config);
    api::add_dashboard_routes(server, config, app.store, app.pool, app.lanes, app.clock);
    const int port = server.bind_any_port("127.0.0.1");
    std::thread serving([&] { server.listen_after_bind(); });
    httplib::Client client("127.0.0.1", port);

    auto root = client.Get("/");
    REQUIRE(root);
    CHECK(root->status == 200);
    CHECK(root->body == "<html>docs</html>");
    CHECK(root->get_header_value("Content-Type") == "text/html; charset=utf-8");
    auto spec = client.Get("/openapi.json");
    REQUIRE(spec);
    CHECK(spec->get_header_value("Content-Type") == "application/json");
    CHECK(client.Get("/openapiXjson")->status == 404);
    auto js = client.Get("/static/app.js");
    CHECK(js->status == 200);
    CHECK(js->get_header_value("Content-Type") == "application/javascript; charset=utf-8");
    for (const char* path : {"/static/notes.txt", "/static/..%2Fsecret.js", "/static/.app.js", "/static/none.js"}) {
      INFO(path);
      auto r = client.Get(path);
      REQUIRE(r);
      CHECK(r->status == 404);
      CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    }
    auto feed = client.Get("/dashboard/feed");
    REQUIRE(feed);
    CHECK(feed->status == 200);
    CHECK(json::parse(feed->body)["piJobs"].is_null());
    auto history = client.Get("/dashboard/history");
    REQUIRE(history);
    CHECK(history->status == 200);
    CHECK(json::parse(history->body)["spanSeconds"] == 900);
    CHECK(json::parse(history->body)["samples"].is_array());

    fs::remove(docs / "openapi.json");
    auto missing = client.Get("/");
    REQUIRE(missing);
    CHECK(missing->status == 503);
    CHECK(json::parse(missing->body)["detail"].get<std::string>().find(docs.string()) != std::string::npos);
    CHECK(client.Get("/dashboard")->status == 503);

    server.stop();
    serving.join();
    app.stop();
  }
  fs::remove_all(data);
  fs::remove_all(docs);
}

TEST_CASE("recent_faults: from the event log, a fault that recovered within a second still shows") {
  using S = InstanceState;
  std::int64_t next_id = 0;
  std::vector<InstanceEvent> log;  // oldest first here; the store gives newest first
  auto event = [&](std::int64_t instance, std::int64_t at, std::optional<S> from, S to, std::string detail = "") {
    log.push_back({++next_id, instance, at, from, to, std::move(detail)});
  };
  event(1, 1000, std::nullopt, S::Starting);
  event(1, 1100, S::Starting, S::Paused);                    // routine: not shown
  event(2, 1200, S::Ready, S::Error, "ping timed out");      // fault, then back within 0.4 s
  event(2, 1300, S::Error, S::Starting);
  event(2, 1600, S::Starting, S::Ready);                     // recovered
  event(3, 2000, S::Allocated, S::Error, "container exited (137)");
  event(3, 2100, S::Error, S::Deleting, "gave up after 2 restarts");  // removed
  event(4, 3000, S::Paused, S::Error, "oom");                // still failing
  const std::vector<InstanceEvent> newest_first(log.rbegin(), log.rend());

  const json story = api::recent_faults(newest_first, 10);
  REQUIRE(story.size() == 5);
  CHECK(story[0]["instance"] == 4);
  CHECK(story[0]["kind"] == "fault");
  CHECK(story[0]["detail"] == "oom");
  CHECK(story[1]["instance"] == 3);
  CHECK(story[1]["kind"] == "removed");
  CHECK(story[2]["kind"] == "fault");
  CHECK(story[3]["instance"] == 2);
  CHECK(story[3]["kind"] == "recovered");
  CHECK(story[3]["from"] == "starting");
  CHECK(story[3]["to"] == "ready");
  CHECK(story[3]["detail"] == "recovered from: ping timed out");
  CHECK(story[4]["kind"] == "fault");
  CHECK(story[4]["at"] == "1970-01-01T00:00:01.200Z");
  CHECK(api::recent_faults(newest_first, 2).size() == 2);
}
