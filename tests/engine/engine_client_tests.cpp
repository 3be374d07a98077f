// DockerEngine against a fake engine: the requests it builds, how it reads
// answers, and how each failure maps to an EngineError.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "engine/docker_engine.hpp"
#include "engine/fake_docker_server.hpp"

using nlohmann::json;
using warmpool::engine::ContainerSpec;
using warmpool::engine::ContainerStatus;
using warmpool::engine::DockerEngine;
using warmpool::engine::EngineError;
using warmpool::engine::Event;
using Kind = EngineError::Kind;
using warmpool::test::FakeDockerServer;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

const std::string kId = "3f2a9c0d1e2b4a5f6789abcdef0123456789abcdef0123456789abcdef012345";

DockerEngine::Options options_for(const FakeDockerServer& fake, std::chrono::milliseconds timeout = 2000ms) {
  DockerEngine::Options options;
  options.endpoint = fake.endpoint();
  options.timeout = timeout;
  return options;
}

// Answers every POST/DELETE/GET on /v<api>/containers/... with `status` and `body`.
void answer_containers(FakeDockerServer& fake, int status, const std::string& body = {},
                       const std::string& api = "1.41") {
  const std::string pattern = "/v" + api + "/containers/.*";
  const auto handler = [status, body](const httplib::Request&, httplib::Response& res) {
    res.status = status;
    if (!body.empty()) res.set_content(body, "application/json");
  };
  fake.server().Post(pattern, handler);
  fake.server().Delete(pattern, handler);
  fake.server().Get(pattern, handler);
}

template <typename F>
EngineError error_from(F&& f) {
  try {
    f();
  } catch (const EngineError& e) {
    return e;
  }
  FAIL("expected an EngineError");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("the API version is negotiated once and capped", "[engine]") {
  SECTION("an engine newer than the cap gets the cap") {
    FakeDockerServer fake("1.45");
    answer_containers(fake, 204, {}, "1.43");
    DockerEngine engine(options_for(fake));
    // Connecting never talks to the engine.
    CHECK(fake.requests().empty());
    engine.pause(kId);
    engine.unpause(kId);
    CHECK(engine.api_version() == "1.43");
    const auto requests = fake.requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].path == "/version");
    CHECK(requests[1].path == "/v1.43/containers/" + kId + "/pause");
  }
  SECTION("an engine at the minimum gets its own version") {
    FakeDockerServer fake("1.41");
    DockerEngine engine(options_for(fake));
    CHECK(engine.api_version() == "1.41");
  }
  SECTION("an engine between minimum and cap gets its own version") {
    FakeDockerServer fake("1.42");
    DockerEngine engine(options_for(fake));
    CHECK(engine.api_version() == "1.42");
  }
  SECTION("an older engine is refused clearly") {
    FakeDockerServer fake("1.40");
    DockerEngine engine(options_for(fake));
    const EngineError e = error_from([&] { engine.pause(kId); });
    CHECK(e.kind() == Kind::Protocol);
    CHECK_THAT(e.what(), Catch::Contains("1.40") && Catch::Contains("1.41"));
  }
  SECTION("a configured version skips negotiation") {
    FakeDockerServer fake;
    fake.server().Post(R"(/v1\.42/containers/.*)", [](const httplib::Request&, httplib::Response& res) {
      res.status = 204;
    });
    auto options = options_for(fake);
    options.api_version = "1.42";
    DockerEngine engine(options);
    engine.start(kId);
    const auto requests = fake.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].path == "/v1.42/containers/" + kId + "/start");
  }
}

TEST_CASE("version reports the engine", "[engine]") {
  FakeDockerServer fake;
  DockerEngine engine(options_for(fake));
  const auto version = engine.version();
  CHECK(version.version == "20.10.24");
  CHECK(version.api_version == "1.41");
  CHECK(version.os == "linux");
  CHECK(version.product == "Engine");
  CHECK_FALSE(version.is_podman());
}

TEST_CASE("version tells Podman from Docker by its first component", "[engine]") {
  FakeDockerServer fake("1.41", "Podman Engine");
  DockerEngine engine(options_for(fake));
  const auto version = engine.version();
  CHECK(version.product == "Podman Engine");
  CHECK(version.is_podman());
}

TEST_CASE("create sends the hardened spec", "[engine]") {
  FakeDockerServer fake;
  fake.server().Post("/v1.41/containers/create", [&fake](const httplib::Request& req, httplib::Response& res) {
    fake.note_body(req);
    res.status = 201;
    res.set_content(R"({"Id":"c0ffee","Warnings":[]})", "application/json");
  });
  DockerEngine engine(options_for(fake));

  ContainerSpec spec;
  spec.name = "warmpool-test-1";
  spec.image = "warmpool/pi-worker:latest";
  spec.cmd = {"serve", "--port", "19001"};
  spec.env = {"A=1"};
  spec.labels = {{"warmpool.manager", "m1"}, {"warmpool.instance", "i1"}};
  spec.tmpfs_bytes = 32ll << 20;
  spec.memory_bytes = 256ll << 20;
  spec.nano_cpus = 500'000'000;
  spec.pids_limit = 32;

  CHECK(engine.create(spec) == "c0ffee");
  const auto request = fake.last();
  CHECK(request.method == "POST");
  CHECK(request.path == "/v1.41/containers/create");
  CHECK(request.params.size() == 1);
  CHECK(request.params.find("name")->second == "warmpool-test-1");
  CHECK(request.content_type == "application/json");
  const json expected = {
      {"Image", "warmpool/pi-worker:latest"},
      {"Cmd", {"serve", "--port", "19001"}},
      {"Env", {"A=1"}},
      {"Labels", {{"warmpool.instance", "i1"}, {"warmpool.manager", "m1"}}},
      {"User", "65534"},
      {"HostConfig",
       {
           {"ReadonlyRootfs", true},
           {"Tmpfs", {{"/scratch", "rw,noexec,nosuid,nodev,size=33554432"}}},
           {"CapDrop", {"ALL"}},
           {"SecurityOpt", {"no-new-privileges"}},
           {"Memory", 268435456},
           {"MemorySwap", 268435456},
           {"NanoCpus", 500000000},
           {"PidsLimit", 32},
           {"NetworkMode", "host"},
           {"RestartPolicy", {{"Name", "no"}}},
       }},
  };
  CHECK(json::parse(request.body) == expected);

  SECTION("without a name or cmd, the engine picks the name and the image its CMD") {
    spec.name.clear();
    spec.cmd.clear();
    engine.create(spec);
    const auto unnamed = fake.last();
    CHECK(unnamed.params.empty());
    CHECK_FALSE(json::parse(unnamed.body).contains("Cmd"));
  }
}

TEST_CASE("lifecycle calls use the documented paths", "[engine]") {
  FakeDockerServer fake;
  answer_containers(fake, 204);
  DockerEngine engine(options_for(fake));

  engine.start(kId);
  CHECK(fake.last().method == "POST");
  CHECK(fake.last().path == "/v1.41/containers/" + kId + "/start");

  engine.pause(kId);
  CHECK(fake.last().path == "/v1.41/containers/" + kId + "/pause");

  engine.unpause(kId);
  CHECK(fake.last().path == "/v1.41/containers/" + kId + "/unpause");

  engine.stop(kId, std::chrono::seconds(3));
  CHECK(fake.last().path == "/v1.41/containers/" + kId + "/stop");
  CHECK(fake.last().params == httplib::Params{{"t", "3"}});

  engine.kill(kId, "TERM");
  CHECK(fake.last().path == "/v1.41/containers/" + kId + "/kill");
  CHECK(fake.last().params == httplib::Params{{"signal", "TERM"}});

  engine.remove(kId);
  CHECK(fake.last().method == "DELETE");
  CHECK(fake.last().path == "/v1.41/containers/" + kId);
  CHECK(fake.last().params == httplib::Params{{"force", "true"}, {"v", "true"}});
}

TEST_CASE("list filters by label and reads the entries", "[engine]") {
  FakeDockerServer fake;
  fake.server().Get("/v1.41/containers/json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"([
      {"Id":"aaa","Names":["/w-1"],"Image":"warmpool/pi-worker:latest","State":"running",
       "Status":"Up 3 seconds","Labels":{"warmpool.manager":"m1","warmpool.instance":"i1"}},
      {"Id":"bbb","Names":["/w-2"],"Image":"warmpool/pi-worker:latest","State":"exited",
       "Status":"Exited (137) 2 seconds ago","Labels":null}
    ])",
                    "application/json");
  });
  DockerEngine engine(options_for(fake));

  const auto containers = engine.list({{"warmpool.manager", "m1"}, {"warmpool.instance", "i1"}});
  const auto request = fake.last();
  CHECK(request.method == "GET");
  CHECK(request.path == "/v1.41/containers/json");
  CHECK(request.params.find("all")->second == "true");
  CHECK(json::parse(request.params.find("filters")->second) ==
        json{{"label", {"warmpool.instance=i1", "warmpool.manager=m1"}}});

  REQUIRE(containers.size() == 2);
  CHECK(containers[0].id == "aaa");
  CHECK(containers[0].name == "w-1");
  CHECK(containers[0].status == ContainerStatus::Running);
  CHECK(containers[0].labels.at("warmpool.instance") == "i1");
  CHECK(containers[1].status == ContainerStatus::Exited);
  CHECK(containers[1].exit_code == 137);
  CHECK(containers[1].labels.empty());

  SECTION("no labels: every container, no filter") {
    engine.list({});
    CHECK(fake.last().params.count("filters") == 0);
  }
}

TEST_CASE("inspect reads state, labels and exit", "[engine]") {
  FakeDockerServer fake;
  fake.server().Get(R"(/v1\.41/containers/([^/]+)/json)", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"Id":"aaa","Name":"/w-1",
      "State":{"Status":"exited","ExitCode":137,"OOMKilled":true},
      "Config":{"Image":"warmpool/pi-worker:latest","Labels":{"warmpool.manager":"m1"}}})",
                    "application/json");
  });
  DockerEngine engine(options_for(fake));
  const auto info = engine.inspect("aaa");
  CHECK(fake.last().path == "/v1.41/containers/aaa/json");
  CHECK(info.id == "aaa");
  CHECK(info.name == "w-1");
  CHECK(info.image == "warmpool/pi-worker:latest");
  CHECK(info.status == ContainerStatus::Exited);
  CHECK(info.exit_code == 137);
  CHECK(info.oom_killed);
  CHECK(info.labels == warmpool::engine::Labels{{"warmpool.manager", "m1"}});
}

TEST_CASE("image_exists asks for the image by name", "[engine]") {
  FakeDockerServer fake;
  fake.server().Get(R"(/v1\.41/images/(.+)/json)", [](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] == "warmpool/pi-worker:latest") {
      res.set_content(R"({"Id":"sha256:1"})", "application/json");
    } else {
      res.status = 404;
      res.set_content(R"({"message":"No such image: other:latest"})", "application/json");
    }
  });
  DockerEngine engine(options_for(fake));
  CHECK(engine.image_exists("warmpool/pi-worker:latest"));
  CHECK(fake.last().path == "/v1.41/images/warmpool/pi-worker:latest/json");
  CHECK_FALSE(engine.image_exists("other:latest"));
}

TEST_CASE("engine answers map to error kinds with the engine's message", "[engine]") {
  FakeDockerServer fake;
  fake.server().Post(R"(/v1\.41/containers/([^/]+)/(.+))", [](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    const std::string op = req.matches[2];
    if (id == "missing") {
      res.status = 404;
      res.set_content(R"({"message":"No such container: missing"})", "application/json");
    } else if (op == "unpause" && id == "podman") {
      // Podman's Docker-compatible API: 500 where Docker says 409.
      res.status = 500;
      res.set_content(R"({"cause":"container state improper","message":"\"podman\" is not paused, can't unpause: )"
                      R"(container state improper","response":500})",
                      "application/json");
    } else if (op == "unpause") {
      res.status = 409;
      res.set_content(R"({"message":"Container )" + id + R"( is not paused"})", "application/json");
    } else if (op == "pause") {
      res.status = 500;
      res.set_content(R"({"message":"cannot freeze"})", "application/json");
    } else if (op == "kill") {
      res.status = 400;
      res.set_content(R"({"message":"invalid signal: NOPE"})", "application/json");
    } else if (op == "stop") {
      res.status = 502;
      res.set_content("bad gateway\n", "text/plain");
    } else {
      res.status = 304;  // start: already started
    }
  });
  fake.server().Delete(R"(/v1\.41/containers/([^/]+))", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"message":"No such container: gone"})", "application/json");
  });
  DockerEngine engine(options_for(fake));

  const EngineError not_found = error_from([&] { engine.unpause("missing"); });
  CHECK(not_found.kind() == Kind::NotFound);
  CHECK(not_found.http_status() == 404);
  CHECK(not_found.container_id() == "missing");
  CHECK(std::string(not_found.what()) == "unpause missing: No such container: missing");

  const EngineError conflict = error_from([&] { engine.unpause(kId); });
  CHECK(conflict.kind() == Kind::Conflict);
  CHECK(conflict.container_id() == kId);
  CHECK(std::string(conflict.what()) == "unpause 3f2a9c0d1e2b: Container " + kId + " is not paused");

  const EngineError podman = error_from([&] { engine.unpause("podman"); });
  CHECK(podman.kind() == Kind::Conflict);
  CHECK(podman.http_status() == 500);

  const EngineError server = error_from([&] { engine.pause(kId); });
  CHECK(server.kind() == Kind::Server);
  CHECK(server.http_status() == 500);
  CHECK(std::string(server.what()) == "pause 3f2a9c0d1e2b: cannot freeze");

  const EngineError bad_request = error_from([&] { engine.kill(kId, "NOPE"); });
  CHECK(bad_request.kind() == Kind::BadRequest);

  const EngineError not_json = error_from([&] { engine.stop(kId, 1s); });
  CHECK(not_json.kind() == Kind::Server);
  CHECK(std::string(not_json.what()) == "stop 3f2a9c0d1e2b: bad gateway");

  CHECK_NOTHROW(engine.start(kId));   // 304: already started
  CHECK_NOTHROW(engine.remove(kId));  // 404: already gone
}

TEST_CASE("an answer that is not JSON is a protocol error", "[engine]") {
  FakeDockerServer fake;
  answer_containers(fake, 200, "<html>");
  DockerEngine engine(options_for(fake));
  CHECK(error_from([&] { engine.inspect(kId); }).kind() == Kind::Protocol);
}

TEST_CASE("a call that gets no answer times out within its deadline", "[engine]") {
  FakeDockerServer fake;
  fake.server().Post(R"(/v1\.41/containers/.*)", [&fake](const httplib::Request&, httplib::Response& res) {
    fake.hang(10s);
    res.status = 204;
  });
  DockerEngine engine(options_for(fake, 300ms));
  engine.api_version();  // negotiate first: measure the call alone

  const auto begin = Clock::now();
  const EngineError e = error_from([&] { engine.unpause(kId); });
  const auto elapsed = Clock::now() - begin;
  CHECK(e.kind() == Kind::Timeout);
  CHECK(e.container_id() == kId);
  CHECK_THAT(e.what(), Catch::StartsWith("unpause 3f2a9c0d1e2b: ") && Catch::Contains("300 ms"));
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 1000ms);
  fake.release();
}

TEST_CASE("an engine that is not there is unreachable", "[engine]") {
  SECTION("no socket file") {
    DockerEngine::Options options;
    options.endpoint = "unix:///nonexistent/warmpool/docker.sock";
    DockerEngine engine(options);
    const EngineError e = error_from([&] { engine.pause(kId); });
    CHECK(e.kind() == Kind::Unreachable);
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/warmpool/docker.sock"));
  }
  SECTION("nothing listening on the port") {
    std::string endpoint;
    {
      FakeDockerServer gone;
      endpoint = gone.endpoint();
    }
    DockerEngine::Options options;
    options.endpoint = endpoint;
    DockerEngine engine(options);
    const auto begin = Clock::now();
    CHECK(error_from([&] { engine.version(); }).kind() == Kind::Unreachable);
    CHECK(Clock::now() - begin < 1s);
  }
}

TEST_CASE("an engine that does not speak TLS fails the handshake, said so with curl's reason", "[engine]") {
  FakeDockerServer plain;  // plain HTTP where TLS is expected
  DockerEngine::Options options = options_for(plain);
  options.tls.ca = "/etc/ssl/certs/ca-certificates.crt";
  DockerEngine engine(options);
  const auto begin = Clock::now();
  const EngineError e = error_from([&] { engine.version(); });
  CHECK(e.kind() == Kind::Unreachable);
  CHECK_THAT(e.what(), Catch::StartsWith("version: TLS handshake with " + plain.endpoint() + " failed: "));
  CHECK(std::string(e.what()).size() > ("version: TLS handshake with " + plain.endpoint() + " failed: ").size());
  CHECK(Clock::now() - begin < 2s);
}

TEST_CASE("endpoints are parsed and read from the environment", "[engine]") {
  DockerEngine::Options options;
  options.endpoint = "ssh://user@host";
  CHECK_THROWS_AS(DockerEngine(options), std::invalid_argument);
  options.endpoint = "unix://relative.sock";
  CHECK_THROWS_AS(DockerEngine(options), std::invalid_argument);
  options.endpoint = "tcp://127.0.0.1:2375";
  CHECK_NOTHROW(DockerEngine(options));

  ::setenv("DOCKER_HOST", "tcp://10.0.0.1:2376", 1);
  ::setenv("DOCKER_TLS_VERIFY", "1", 1);
  ::setenv("DOCKER_CERT_PATH", "/etc/warmpool/certs", 1);
  const auto from_env = DockerEngine::Options::from_env();
  ::unsetenv("DOCKER_HOST");
  ::unsetenv("DOCKER_TLS_VERIFY");
  ::unsetenv("DOCKER_CERT_PATH");
  CHECK(from_env.endpoint == "tcp://10.0.0.1:2376");
  CHECK(from_env.tls.ca == "/etc/warmpool/certs/ca.pem");
  CHECK(from_env.tls.cert == "/etc/warmpool/certs/cert.pem");
  CHECK(from_env.tls.key == "/etc/warmpool/certs/key.pem");
  CHECK(DockerEngine(from_env).endpoint().base_url() == "https://10.0.0.1:2376");
  CHECK(DockerEngine::Options::from_env().endpoint == "unix:///var/run/docker.sock");

  // DOCKER_TLS_VERIFY is for a TCP engine: a unix socket needs no TLS.
  ::setenv("DOCKER_TLS_VERIFY", "1", 1);
  const auto local = DockerEngine::Options::from_env();
  ::unsetenv("DOCKER_TLS_VERIFY");
  CHECK(local.tls.empty());
  CHECK_NOTHROW(DockerEngine(local));
}

TEST_CASE("many threads share one engine", "[engine]") {
  FakeDockerServer fake;
  answer_containers(fake, 204);
  DockerEngine engine(options_for(fake));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        try {
          engine.pause(kId);
          engine.unpause(kId);
        } catch (const EngineError&) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(fake.requests().size() >= 400);
}

TEST_CASE("events are parsed from the stream and stop promptly", "[engine]") {
  FakeDockerServer fake;
  fake.serve_events("1.41");
  DockerEngine engine(options_for(fake));

  std::mutex mu;
  std::vector<Event> events;
  std::atomic<bool> returned{false};
  std::exception_ptr failure;
  std::jthread watcher([&](std::stop_token stop) {
    try {
      engine.watch_events({{"warmpool.manager", "m1"}},
                          [&](const Event& e) {
                            std::lock_guard lock(mu);
                            events.push_back(e);
                          },
                          stop);
    } catch (...) {
      failure = std::current_exception();
    }
    returned = true;
  });

  const std::string pause =
      R"({"status":"pause","id":"aaa","from":"img","Type":"container","Action":"pause",)"
      R"("Actor":{"ID":"aaa","Attributes":{"image":"img","name":"w-1","warmpool.manager":"m1"}},)"
      R"("scope":"local","time":1700000000,"timeNano":1700000000123456789})";
  const std::string die =
      R"({"Type":"container","Action":"die","Actor":{"ID":"bbb","Attributes":{"exitCode":"137",)"
      R"("warmpool.manager":"m1","warmpool.instance":"i2"}},"time":1700000001})";
  fake.push(pause + "\n" + die.substr(0, 40));  // the second event arrives in two pieces
  fake.push(die.substr(40) + "\n");

  const auto wait_for = [&](std::size_t n) {
    const auto deadline = Clock::now() + 3s;
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (events.size() >= n) return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  };
  REQUIRE(wait_for(2));
  {
    std::lock_guard lock(mu);
    CHECK(events[0].action == "pause");
    CHECK(events[0].container_id == "aaa");
    CHECK(events[0].labels == warmpool::engine::Labels{{"warmpool.manager", "m1"}});
    CHECK(events[0].time_ns == 1700000000123456789);
    CHECK(events[1].action == "die");
    CHECK(events[1].container_id == "bbb");
    CHECK(events[1].labels.size() == 2);
    CHECK(events[1].time_ns == 1700000001000000000);
  }
  const auto request = fake.last();
  CHECK(request.path == "/v1.41/events");
  CHECK(json::parse(request.params.find("filters")->second) ==
        json{{"type", {"container"}}, {"label", {"warmpool.manager=m1"}}});

  // An idle stream must still end promptly on request.
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(returned);
  const auto begin = Clock::now();
  watcher.request_stop();
  watcher.join();
  CHECK(Clock::now() - begin < 200ms);
  CHECK_FALSE(failure);
}

TEST_CASE("a broken event stream throws", "[engine]") {
  FakeDockerServer fake;
  fake.serve_events("1.41");
  DockerEngine engine(options_for(fake));
  std::stop_source never;

  SECTION("closed by the engine") {
    fake.close_events();
    const EngineError e = error_from([&] { engine.watch_events({}, [](const Event&) {}, never.get_token()); });
    CHECK(e.kind() == Kind::Unreachable);
  }
  SECTION("garbage in the stream") {
    fake.push("this is not json\n");
    const EngineError e = error_from([&] { engine.watch_events({}, [](const Event&) {}, never.get_token()); });
    CHECK(e.kind() == Kind::Protocol);
  }
  SECTION("refused by the engine") {
    FakeDockerServer refusing;
    refusing.server().Get("/v1.41/events", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content(R"({"message":"invalid filter 'labelx'"})", "application/json");
    });
    DockerEngine other(options_for(refusing));
    const EngineError e = error_from([&] { other.watch_events({}, [](const Event&) {}, never.get_token()); });
    CHECK(e.kind() == Kind::BadRequest);
    CHECK(std::string(e.what()) == "events: invalid filter 'labelx'");
  }
  SECTION("the callback's own exception reaches the caller") {
    fake.push(R"({"Type":"container","Action":"start","Actor":{"ID":"x","Attributes":{}}})"
              "\n");
    CHECK_THROWS_AS(engine.watch_events({}, [](const Event&) { throw std::runtime_error("boom"); },
                                        never.get_token()),
                    std::runtime_error);
  }
}
