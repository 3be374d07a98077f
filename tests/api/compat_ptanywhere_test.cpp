// The compatibility view of the earlier system (/compat/ptanywhere) on the
// fake engine: the earlier client's requests, byte for byte as Jersey sends
// them, each answer decoded strictly into that client's fields; the view and
// the main API over the same records; tokens in the path, never logged.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "api/compat_ptanywhere.hpp"
#include "app/app.hpp"
#include "store/sqlite_store.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_worker.hpp"
#include "support/raw_http.hpp"

using namespace warmpool;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The API's server over a pool on the fake engine, with the view's routes.
struct CompatWorld {
  explicit CompatWorld(const std::string& api_token = "", int max_instances = 2)
      : dir(fs::temp_directory_path() / ("warmpool-compat-" + std::to_string(std::random_device{}() % 1'000'000))),
        config(make_config(dir, api_token, max_instances)),
        store((fs::create_directories(dir), config.database_path())),
        lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 64, .normal_capacity = 64}),
        pool(pool_settings(config), store, engine, worker, lanes, clock),
        server(config, pool, store, engine, lanes) {
    api::add_ptanywhere_routes(server, config, store, pool);
    port = server.bind_any_port("127.0.0.1");
    serving = std::thread([this] { server.listen_after_bind(); });
  }
  ~CompatWorld() {
    server.stop();
    serving.join();
    lanes.stop();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  static Config make_config(const fs::path& dir, const std::string& api_token, int max_instances) {
    Config c;
    c.data_dir = dir.string();
    c.manager_id = "test-compat";
    c.api_token = c.admin_token = api_token;
    c.max_instances = max_instances;
    c.min_idle = 0;
    c.port_first = 42000;
    c.port_last = 42009;
    c.host_limit = 1.0;
    c.allocate_timeout_ms = 300;
    return c;
  }
  // One exchange with the bytes the earlier client sends: Jersey 2 on
  // HttpURLConnection, no entity, hence no Content-Length.
  test::RawAnswer jersey(const std::string& method, const std::string& path) const {
    const std::string head = method + " " + path + " HTTP/1.1\r\n" +
                             "Accept: application/json\r\n"
                             "User-Agent: Jersey/2.25.1 (HttpUrlConnection 1.8.0_292)\r\n"
                             "Host: 127.0.0.1:" + std::to_string(port) + "\r\n" +
                             "Connection: keep-alive\r\n\r\n";
    return test::raw_exchange(port, head, false, false, std::chrono::seconds(5));
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", port); }

  fs::path dir;
  Config config;
  SqliteStore store;
  test::FakeEngine engine;
  test::FakeWorker worker{engine};
  ManualClock clock;
  Lanes lanes;
  Pool pool;
  api::Server server;
  int port = 0;
  std::thread serving;
};

// The earlier client's Allocation bean, read as strictly as it reads it.
struct EarlierAllocation {
  int id = 0;
  std::string url, host;
  int port = 0;
  std::string created_at;
  std::optional<std::string> deleted_at;
};

bool iso_date(const std::string& s) {
  static const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)");
  return std::regex_match(s, iso);
}

EarlierAllocation decode_allocation(const json& j) {
  EarlierAllocation a;
  REQUIRE(j.is_object());
  REQUIRE(j.at("id").is_number_integer());
  a.id = j.at("id").get<int>();
  a.url = j.at("url").get<std::string>();
  const std::string pt = j.at("packetTracer").get<std::string>();
  const auto colon = pt.rfind(':');
  REQUIRE(colon != std::string::npos);
  a.host = pt.substr(0, colon);
  const std::string port = pt.substr(colon + 1);
  REQUIRE_FALSE(port.empty());
  REQUIRE(port.find_first_not_of("0123456789") == std::string::npos);
  a.port = std::stoi(port);  // Integer.parseInt in the client
  a.created_at = j.at("createdAt").get<std::string>();
  CHECK(iso_date(a.created_at));
  if (!j.at("deletedAt").is_null()) {
    a.deleted_at = j.at("deletedAt").get<std::string>();
    CHECK(iso_date(*a.deleted_at));
  }
  return a;
}

json body_of(const test::RawAnswer& a) { return json::parse(a.body, nullptr, false); }

// The earlier error shape: both its server's names and its client's.
void check_earlier_error(const test::RawAnswer& a, int status) {
  REQUIRE(a.answered);
  CHECK(a.status == status);
  CHECK(a.header("content-type") == "application/json");
  const json e = body_of(a);
  REQUIRE(e.is_object());
  CHECK(e.at("status") == status);
  CHECK(e.at("errorCode") == status);
  CHECK(e.at("message").is_string());
  CHECK(e.at("errorMsg") == e.at("message"));
}

}  // namespace

TEST_CASE("the earlier client's calls, byte for byte: allocate, read, release; decoded into its fields") {
  CompatWorld w;
  const auto made = w.jersey("POST", "/compat/ptanywhere/allocations");
  REQUIRE(made.answered);
  REQUIRE(made.status == 201);
  const EarlierAllocation a = decode_allocation(body_of(made));
  CHECK(a.id >= 1);
  CHECK(a.url == "/compat/ptanywhere/allocations/" + std::to_string(a.id));
  CHECK(a.port >= 42000);
  CHECK(a.port <= 42009);
  CHECK_FALSE(a.deleted_at);
  CHECK(made.header("location") == a.url);

  const auto read = w.jersey("GET", "/compat/ptanywhere/allocations/" + std::to_string(a.id));
  REQUIRE(read.status == 200);
  CHECK(decode_allocation(body_of(read)).id == a.id);

  const auto released = w.jersey("DELETE", "/compat/ptanywhere/allocations/" + std::to_string(a.id));
  REQUIRE(released.answered);
  REQUIRE(released.status == 200);
  const EarlierAllocation gone = decode_allocation(body_of(released));
  CHECK(gone.id == a.id);
  REQUIRE(gone.deleted_at);

  const auto list = w.jersey("GET", "/compat/ptanywhere/allocations?show=all");
  REQUIRE(list.status == 200);
  const json all = body_of(list).at("allocations");
  REQUIRE(all.size() == 1);
  CHECK(decode_allocation(all[0]).deleted_at);
}

TEST_CASE("the view and the main API are one set of allocations") {
  CompatWorld w;
  auto c = w.client();
  // Made through the view, seen and released through the main API.
  const auto made = w.jersey("POST", "/compat/ptanywhere/allocations");
  REQUIRE(made.status == 201);
  const EarlierAllocation a = decode_allocation(body_of(made));
  auto mains = c.Get("/allocations");
  REQUIRE(mains);
  const json current = json::parse(mains->body);
  REQUIRE(current.size() == 1);
  CHECK(current[0]["endpoint"] == a.host + ":" + std::to_string(a.port));
  const std::string id = current[0]["id"];
  REQUIRE(c.Delete(("/allocations/" + id).c_str())->status == 200);
  const auto after = w.jersey("GET", "/compat/ptanywhere/allocations/" + std::to_string(a.id));
  REQUIRE(after.status == 200);
  CHECK(decode_allocation(body_of(after)).deleted_at);

  // Made through the main API, released through the view by its number,
  // which is the next one.
  auto second = c.Post("/allocations", "", "application/json");
  REQUIRE(second);
  REQUIRE(second->status == 201);
  const auto record = w.store.allocation(json::parse(second->body)["id"]);
  REQUIRE(record);
  CHECK(record->number == a.id + 1);
  const auto released = w.jersey("DELETE", "/compat/ptanywhere/allocations/" + std::to_string(record->number));
  REQUIRE(released.status == 200);
  CHECK(w.store.allocation(record->id)->deleted_ms);
}

TEST_CASE("bad numbers and unknown routes under the prefix get 404 in the earlier shape") {
  CompatWorld w;
  for (const char* path : {"/compat/ptanywhere/allocations/abc", "/compat/ptanywhere/allocations/0",
                           "/compat/ptanywhere/allocations/-1", "/compat/ptanywhere/allocations/99",
                           "/compat/ptanywhere/allocations/1.5", "/compat/ptanywhere/nothing",
                           "/compat/ptanywhere/instances/x"}) {
    INFO(path);
    check_earlier_error(w.jersey("GET", path), 404);
  }
  check_earlier_error(w.jersey("DELETE", "/compat/ptanywhere/allocations/abc"), 404);
  check_earlier_error(w.jersey("GET", "/compat/ptanywhere/allocations?show=some"), 400);
}

TEST_CASE("no instance available: 503 in the earlier shape, with Retry-After") {
  CompatWorld w("", 1);
  REQUIRE(w.jersey("POST", "/compat/ptanywhere/allocations").status == 201);
  const auto none = w.jersey("POST", "/compat/ptanywhere/allocations");
  check_earlier_error(none, 503);
  CHECK_FALSE(none.header("retry-after").empty());
}

TEST_CASE("instances, details and ports in the earlier shapes") {
  CompatWorld w;
  REQUIRE(w.jersey("POST", "/compat/ptanywhere/allocations").status == 201);
  const auto list = w.jersey("GET", "/compat/ptanywhere/instances");
  REQUIRE(list.status == 200);
  const json instances = body_of(list).at("instances");
  REQUIRE(instances.size() == 1);
  CHECK(instances[0]["state"] == "allocated");
  const auto allocated = w.jersey("GET", "/compat/ptanywhere/instances?show=allocated");
  CHECK(body_of(allocated)["instances"].size() == 1);
  const auto running = w.jersey("GET", "/compat/ptanywhere/instances?show=running");
  CHECK(body_of(running)["instances"].empty());
  const auto one = w.jersey("GET", "/compat/ptanywhere/instances/" + std::to_string(instances[0]["id"].get<int>()));
  REQUIRE(one.status == 200);
  CHECK(body_of(one)["packetTracer"] == instances[0]["packetTracer"]);

  const auto details = w.jersey("GET", "/compat/ptanywhere/details");
  REQUIRE(details.status == 200);
  CHECK(body_of(details) == json{{"maximum_cpu", 100.0}, {"maximum_memory", 100.0},
                                 {"lowest_port", 42000}, {"highest_port", 42009}});
  const auto ports = w.jersey("GET", "/compat/ptanywhere/ports?show=unavailable");
  REQUIRE(ports.status == 200);
  const json held = body_of(ports)["ports"];
  REQUIRE(held.size() == 1);
  CHECK(instances[0]["packetTracer"] == "127.0.0.1:" + std::to_string(held[0]["number"].get<int>()));
  CHECK(body_of(w.jersey("GET", "/compat/ptanywhere/ports"))["ports"].size() == 10);
}

TEST_CASE("with tokens, the token is the path segment after the prefix, and it is never logged") {
  std::ostringstream log;
  auto saved = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("compat-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  spdlog::set_level(spdlog::level::debug);
  {
    const std::string token = "t0ken-in-the-path-0123456789";
    CompatWorld w(token);
    const auto made = w.jersey("POST", "/compat/ptanywhere/" + token + "/allocations");
    REQUIRE(made.status == 201);
    const EarlierAllocation a = decode_allocation(body_of(made));
    const auto read = w.jersey("GET", "/compat/ptanywhere/" + token + "/allocations/" + std::to_string(a.id));
    CHECK(read.status == 200);

    const auto bare = w.jersey("GET", "/compat/ptanywhere/allocations");
    check_earlier_error(bare, 401);
    CHECK(bare.header("www-authenticate") == "Bearer");
    const std::string near_miss = token.substr(0, token.size() - 1) + "8";
    check_earlier_error(w.jersey("GET", "/compat/ptanywhere/" + near_miss + "/allocations"), 404);
    // A bearer header works on the bare prefix, as on the rest of the API.
    auto c = w.client();
    c.set_bearer_token_auth(token);
    auto listed = c.Get("/compat/ptanywhere/allocations");
    REQUIRE(listed);
    CHECK(listed->status == 200);

    const auto released = w.jersey("DELETE", "/compat/ptanywhere/" + token + "/allocations/" + std::to_string(a.id));
    CHECK(released.status == 200);
    spdlog::default_logger()->flush();
    const std::string text = log.str();
    CHECK(text.find("/compat/ptanywhere/allocations") != std::string::npos);
    CHECK(text.find(token) == std::string::npos);
    CHECK(text.find(near_miss) == std::string::npos);
  }
  spdlog::set_default_logger(saved);
}

TEST_CASE("POST /files caches a URL's content as the earlier client asks; GET /files lists it") {
  httplib::Server origin;
  origin.Get("/start.pkt", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("topology", "application/octet-stream");
  });
  const int origin_port = origin.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { origin.listen_after_bind(); });
  while (!origin.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  {
    CompatWorld w;
    const std::string url = "http://127.0.0.1:" + std::to_string(origin_port) + "/start.pkt";
    // As Jersey sends an entity: text/plain with its length.
    const auto post = [&](const std::string& body) {
      return test::raw_exchange(w.port,
                                "POST /compat/ptanywhere/files HTTP/1.1\r\nAccept: application/json\r\n"
                                "Content-Type: text/plain\r\nUser-Agent: Jersey/2.25.1\r\nHost: x\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                                false, false, std::chrono::seconds(10));
    };
    const auto cached = post(url);
    REQUIRE(cached.answered);
    REQUIRE(cached.status == 200);
    const json file = body_of(cached);
    CHECK(file.at("url") == url);
    const std::string name = file.at("filename");
    CHECK(name.ends_with(".pkt"));
    CHECK(fs::exists(fs::path(w.config.data_dir) / "files" / name));
    CHECK(body_of(post(url + "\n")).at("filename") == name);  // the same file, not fetched again

    const auto list = w.jersey("GET", "/compat/ptanywhere/files");
    REQUIRE(list.status == 200);
    CHECK(body_of(list) == json{{"files", json::array({file})}});

    check_earlier_error(post("ftp://127.0.0.1/start.pkt"), 400);
    CHECK(body_of(post("ftp://x/y")).at("errorMsg") == "only http and https URLs are fetched");
    const auto worker = post("http://127.0.0.1:42005/start.pkt");  // in the workers' port range
    check_earlier_error(worker, 400);
    CHECK(body_of(worker).at("errorMsg") == "the URL points at the manager or one of its workers");
  }
  origin.stop();
  serving.join();
}
