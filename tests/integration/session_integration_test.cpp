// Sessions on the real engine: each hand-out's files, env and metadata reach
// its worker and only its worker; a session sees nothing of the one before
// it on the same container; a worker refuses callers without its session's
// token, and a released session's token stops working.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <random>
#include <set>

#include "support/stack.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

// Worker ports of these tests: 32000-32759, 20 per stack; below the kernel's
// ephemeral ports (32768 and up), where any client's connection may take a
// worker's port and keep its worker from listening.
void session_ports(Config& c) {
  c.port_first = 32000 + static_cast<int>(std::random_device{}() % 38) * 20;
  c.port_last = c.port_first + 19;
}

httplib::Client worker_client(const std::string& endpoint, const std::string& token) {
  httplib::Client c("http://" + endpoint);
  c.set_read_timeout(5, 0);
  c.set_tcp_nodelay(true);
  if (!token.empty()) c.set_bearer_token_auth(token.c_str());
  return c;
}

json allocate(httplib::Client& client, const json& body) {
  auto r = client.Post("/allocations", body.dump(), "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 201);
  return json::parse(r->body);
}

// 1 KiB of bytes that differ per session.
std::string session_bytes(int session) {
  std::mt19937 rng(static_cast<unsigned>(session));
  std::string bytes(1024, '\0');
  for (auto& b : bytes) b = static_cast<char>(rng());
  return bytes;
}

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? digits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

}  // namespace

TEST_CASE("50 sessions on a pool of 2: each reads back exactly its own files, env and metadata") {
  test::Stack stack([](Config& c) {
    session_ports(c);
    c.max_instances = 2;
    c.min_idle = 2;
    c.max_idle = 2;
    c.keep_running = 1;
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 2; }));
  std::set<std::string> containers;
  for (const auto& i : stack.store.instances(Show::Current)) containers.insert(i.container_id);

  auto client = stack.client();
  for (int s = 0; s < 50; ++s) {
    INFO("session " << s);
    const std::string own = "only-" + std::to_string(s) + ".bin";
    const json init = {{"files", {{"session.txt", "session " + std::to_string(s)},
                                  {"dir/" + own, {{"base64", base64(session_bytes(s))}}}}},
                       {"env", {{"SESSION", std::to_string(s)}}},
                       {"metadata", {{"session", s}}}};
    const json a = allocate(client, {{"init", init}});
    const std::string token = a["token"];
    auto worker = worker_client(a["endpoint"], token);

    auto text = worker.Get("/files/session.txt");
    REQUIRE(text);
    CHECK(text->status == 200);
    CHECK(text->body == "session " + std::to_string(s));
    auto bytes = worker.Get("/files/dir/" + own);
    REQUIRE(bytes);
    CHECK(bytes->body == session_bytes(s));
    auto state = worker.Get("/init");
    REQUIRE(state);
    const json read = json::parse(state->body);
    CHECK(read["env"] == json{{"SESSION", std::to_string(s)}});
    CHECK(read["metadata"] == json{{"session", s}});
    CHECK(read["files"].size() == 2);
    // Nothing of the sessions before it, on either container.
    for (int before = std::max(0, s - 2); before < s; ++before) {
      auto old = worker.Get("/files/dir/only-" + std::to_string(before) + ".bin");
      REQUIRE(old);
      CHECK(old->status == 404);
    }
    const std::string id = a["id"];
    CHECK(json::parse(client.Get("/allocations/" + id)->body)["metadata"] == json{{"session", s}});
    REQUIRE(client.Delete("/allocations/" + id)->status == 200);
    REQUIRE(stack.eventually([&] { return stack.count_idle() == 2 && stack.pool.claimed().empty(); }));
  }
  for (const auto& i : stack.store.instances(Show::Current)) CHECK(containers.count(i.container_id) == 1);
  CHECK(stack.store.allocations(Show::Finished).size() == 50);
}

TEST_CASE("a worker refuses callers without its session's token (401); a released session's token stops working") {
  test::Stack stack([](Config& c) {
    session_ports(c);
    c.max_instances = 2;
    c.min_idle = 2;
    c.max_idle = 2;
    c.keep_running = 2;  // released instances stay running: their workers answer
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 2; }));
  auto client = stack.client();
  const json a = allocate(client, {{"init", {{"files", {{"secret.txt", "a's"}}}}}});
  const json b = allocate(client, {{"init", {{"files", {{"secret.txt", "b's"}}}}}});
  const std::string a_endpoint = a["endpoint"];

  // Another instance's code (b's token), or any caller on the loopback without one.
  for (const std::string token : {std::string(), b["token"].get<std::string>(), std::string(64, '0')}) {
    auto other = worker_client(a_endpoint, token);
    for (const char* path : {"/files/secret.txt", "/init", "/compute", "/result"}) {
      auto r = other.Get(path);
      REQUIRE(r);
      CHECK(r->status == 401);
      CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    }
    CHECK(other.Post("/compute", R"({"digits": 10})", "application/json")->status == 401);
    CHECK(other.Post("/reset")->status == 401);
    CHECK(other.Post("/init", "{}", "application/json")->status == 401);
  }
  auto own = worker_client(a_endpoint, a["token"]);
  CHECK(own.Get("/files/secret.txt")->body == "a's");

  REQUIRE(client.Delete("/allocations/" + a["id"].get<std::string>())->status == 200);
  REQUIRE(stack.eventually([&] {
    auto r = own.Get("/files/secret.txt");
    return r && r->status == 401;
  }));
  CHECK(worker_client(b["endpoint"], b["token"]).Get("/files/secret.txt")->body == "b's");
}

TEST_CASE("a pi job still runs on a worker that requires tokens: the manager uses the control secret") {
  test::Stack stack([](Config& c) {
    session_ports(c);
    c.max_instances = 1;
    c.min_idle = 1;
  });
  auto client = stack.client();
  auto r = client.Post("/pi_job", R"({"digits": 1000})", "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  const auto id = json::parse(r->body)["job_id"].get<std::int64_t>();
  REQUIRE(stack.eventually([&] {
    auto s = client.Get("/pi_job/" + std::to_string(id));
    return s && json::parse(s->body).value("status", "") == "complete";
  }, std::chrono::seconds(60)));
  auto digits = client.Get("/download_pi_job/" + std::to_string(id));
  REQUIRE(digits);
  CHECK(digits->body.rfind("3.14159", 0) == 0);
}

namespace {

// Runs a shell command against the test engine; its exit status.
int run_with_engine(const std::string& command) {
  const std::string line = "DOCKER_HOST='" + test::engine_options().endpoint + "' DOCKER_API_VERSION=1.41 " + command;
  return std::system(line.c_str());
}

}  // namespace

TEST_CASE("the data volume: refused when missing, mounted read-only in every instance, served at /files/data/") {
  const std::string volume = "warmpool-test-data-" + std::to_string(std::random_device{}() % 1'000'000);
  const auto dir = std::filesystem::temp_directory_path() / volume;
  std::filesystem::create_directories(dir / "conf");
  { std::ofstream(dir / "conf" / "setup.cfg") << "installed=yes\n"; }
  REQUIRE(run_with_engine(std::string(WARMPOOL_SOURCE_DIR) + "/scripts/data-volume " + dir.string() + " " + volume) == 0);
  struct Cleanup {
    std::string volume;
    std::filesystem::path dir;
    ~Cleanup() {
      run_with_engine("docker volume rm -f " + volume + " >/dev/null 2>&1");
      std::filesystem::remove_all(dir);
    }
  } cleanup{volume, dir};

  {
    test::Stack stack([&](Config& c) {
      session_ports(c);
      c.max_instances = 1;
      c.min_idle = 1;
      c.data_volume = volume;
    });
    CHECK_NOTHROW(require_data_volume(stack.engine(), stack.config));
    Config missing = stack.config;
    missing.data_volume = volume + "-missing";
    CHECK_THROWS_WITH(require_data_volume(stack.engine(), missing), Catch::Contains("scripts/data-volume"));

    auto client = stack.client();
    const json a = allocate(client, json::object());
    auto worker = worker_client(a["endpoint"], a["token"]);
    auto cfg = worker.Get("/files/data/conf/setup.cfg");
    REQUIRE(cfg);
    CHECK(cfg->status == 200);
    CHECK(cfg->body == "installed=yes\n");
    CHECK(worker_client(a["endpoint"], "").Get("/files/data/conf/setup.cfg")->status == 401);

    const auto instance = stack.store.instance(a["instance"].get<std::int64_t>());
    const json inspected = json::parse(stack.engine().inspect_raw(instance->container_id));
    REQUIRE(inspected["Mounts"].size() == 1);
    CHECK(inspected["Mounts"][0]["Name"] == volume);
    CHECK(inspected["Mounts"][0]["Destination"] == "/data");
    CHECK(inspected["Mounts"][0]["RW"] == false);
    // A write into it from the container's side fails.
    CHECK(run_with_engine("docker cp " + (dir / "conf" / "setup.cfg").string() + " " + instance->container_id +
                          ":/data/written.cfg 2>/dev/null") != 0);
    // A session may not shadow it.
    auto shadow = client.Post("/allocations", R"({"init":{"files":{"data/x":"y"}}})", "application/json");
    REQUIRE(shadow);
    CHECK(shadow->status == 400);
  }
}

TEST_CASE("a manager restart between hand-out and release keeps the allocation's metadata and digests") {
  Config config = test::Stack::make_config([](Config& c) {
    session_ports(c);
    c.max_instances = 1;
    c.min_idle = 1;
  });
  std::string id;
  json created;
  {
    App app(config);
    app.scheduler.start();
    auto client_port = app.serve_in_background();
    httplib::Client client("127.0.0.1", client_port);
    client.set_read_timeout(30, 0);
    REQUIRE(test::eventually([&] {
      for (const auto& i : app.store.instances(Show::Current)) if (is_idle(i.state)) return true;
      return false;
    }, std::chrono::seconds(30), std::chrono::milliseconds(50)));
    created = allocate(client, {{"init", {{"files", {{"a", "b"}}}, {"metadata", {{"user", "ada"}}}}}});
    id = created["id"];
    app.stop();
  }
  {
    App app(config);
    app.scheduler.start();
    auto port = app.serve_in_background();
    httplib::Client client("127.0.0.1", port);
    auto r = client.Get("/allocations/" + id);
    REQUIRE(r);
    const json read = json::parse(r->body);
    CHECK(read["metadata"] == json{{"user", "ada"}});
    CHECK(read["initSha256"] == created["initSha256"]);
    CHECK(read["initBytes"] == 1);
    CHECK(read["deletedAt"].is_null());
    CHECK(client.Delete("/allocations/" + id)->status == 200);
    app.stop();
    for (const auto& c : app.engine.list({{engine::kManagerLabel, config.manager_id}})) app.engine.remove(c.id);
  }
  std::filesystem::remove_all(config.data_dir);
}
