#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <sstream>

#include <CLI/CLI.hpp>

#include <filesystem>

#include "app/app.hpp"
#include "store/sqlite_store.hpp"

using warmpool::Config;

TEST_CASE("serve options come from flags, then environment, with defaults") {
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  setenv("WARMPOOL_MIN_IDLE", "3", 1);
  const char* argv[] = {"serve", "--max-instances", "12", "--keep-running", "0"};
  app.parse(5, const_cast<char**>(argv));
  unsetenv("WARMPOOL_MIN_IDLE");
  CHECK(c.max_instances == 12);
  CHECK(c.keep_running == 0);
  CHECK(c.min_idle == 3);
  CHECK(c.listen_port == 8080);
  auto settings = pool_settings(c);
  CHECK(settings.policy.max_instances == 12);
  CHECK(settings.container.memory_bytes == 512ll << 20);
}

TEST_CASE("bad option values are refused with a message") {
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  const char* argv[] = {"serve", "--port", "70000"};
  CHECK_THROWS_AS(app.parse(3, const_cast<char**>(argv)), CLI::ValidationError);
}

TEST_CASE("retention takes fractions of an hour, never a negative one") {
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  const char* quarter[] = {"serve", "--keep-finished-hours", "0.25"};
  app.parse(3, const_cast<char**>(quarter));
  CHECK(c.keep_finished_hours == 0.25);
  const char* negative[] = {"serve", "--keep-finished-hours", "-1"};
  CHECK_THROWS_AS(app.parse(3, const_cast<char**>(negative)), CLI::ValidationError);
}

TEST_CASE("tokens not given are made at the first start, kept 0600 in the data directory, printed once") {
  const auto dir = std::filesystem::temp_directory_path() / ("warmpool-tokens-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Config c;
  c.data_dir = dir.string();
  c.listen_host = "0.0.0.0";  // any address: the tokens guard it
  std::ostringstream first;
  const Config made = warmpool::with_tokens(c, first);
  CHECK(made.api_token.size() == 64);
  CHECK(made.admin_token.size() == 64);
  CHECK(made.api_token != made.admin_token);
  CHECK(first.str().find(made.api_token) != std::string::npos);
  CHECK(first.str().find(c.api_token_path()) != std::string::npos);
  CHECK(first.str().find(made.admin_token) != std::string::npos);
  const auto perms = std::filesystem::status(c.admin_token_path()).permissions();
  CHECK((perms & std::filesystem::perms::all) == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  std::ostringstream second;
  const Config again = warmpool::with_tokens(c, second);
  CHECK(again.api_token == made.api_token);  // read back, not made again
  CHECK(again.admin_token == made.admin_token);
  CHECK(second.str().empty());

  c.api_token = "given-by-flag";  // a flag or the environment wins
  CHECK(warmpool::with_tokens(c, second).api_token == "given-by-flag");

  Config open;
  open.data_dir = (dir / "open").string();
  open.insecure = true;
  const Config insecure = warmpool::with_tokens(open, second);
  CHECK(insecure.api_token.empty());
  CHECK(insecure.admin_token.empty());
  CHECK_FALSE(std::filesystem::exists(open.api_token_path()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("inconsistent ranges are refused") {
  Config c;
  c.port_first = 30000;
  c.port_last = 20000;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--port-first"));
  c = Config{};
  c.min_idle = 9;
  c.max_idle = 8;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--min-idle"));
  c = Config{};
  c.pause_grace_ms = -1;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--pause-grace-ms"));
  c = Config{};
  c.keep_running = 9;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--keep-running"));
  c = Config{};
  c.host_cpu_limit = 1.5;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--host-cpu-limit"));
  c = Config{};
  c.host_memory_limit = -0.1;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--host-memory-limit"));
  c = Config{};
  c.idle_shrink_s = 60;
  c.surplus_ttl_s = 120;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--surplus-ttl-s") && Catch::Contains("--idle-shrink-s"));
  c = Config{};
  c.refill_per_s = -1;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--refill-per-s"));
  c = Config{};
  c.remove_per_s = -1;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--remove-per-s"));
}

namespace {
// `serve FLAG=VALUE` is refused at parse with a message naming the flag.
void check_refused_at_parse(const char* bad) {
  INFO(bad);
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  const char* argv[] = {"serve", bad};
  CHECK_THROWS_WITH(app.parse(2, const_cast<char**>(argv)),
                    Catch::Contains(std::string(bad).substr(0, std::string(bad).find('='))));
}
}  // namespace

TEST_CASE("a negative grace or an unknown pool policy is refused at parse, naming the flag") {
  for (const char* bad : {"--pause-grace-ms=-5", "--pool-policy=learned", "--surplus-ttl-s=-1", "--refill-per-s=-2",
                          "--remove-per-s=-2"})
    check_refused_at_parse(bad);
}

TEST_CASE("the demand flags reach the pool's policy") {
  Config c;
  CHECK(pool_settings(c).policy.adaptive);
  CHECK(pool_settings(c).policy.pause_grace_ms == 2000);
  c.surplus_ttl_s = 45;
  CHECK(pool_settings(c).policy.surplus_ttl_ms == 45'000);
  c.pool_policy = "fixed";
  c.burst_half_life_s = 60;
  CHECK_FALSE(pool_settings(c).policy.adaptive);
  CHECK(pool_settings(c).demand.peak_half_life_ms == 60'000);
}

TEST_CASE("a quota that is not a non-negative integer, or an unknown health or reset, is refused at parse") {
  for (const char* bad : {"--quota-per-client=-1", "--quota-per-client=2.5", "--quota-per-client=three",
                          "--quota-overall=-1", "--quota-overall=x", "--health=ping", "--reset=reboot"})
    check_refused_at_parse(bad);
}

TEST_CASE("health, reset and quota reach the pool's settings; a worker reset of a non-worker is refused") {
  Config c;
  CHECK(pool_settings(c).protocol.health == warmpool::HealthCheck::Worker);
  CHECK(pool_settings(c).protocol.reset == warmpool::ResetMethod::Worker);
  CHECK(pool_settings(c).client_quota == 0);
  c.health = "http";
  c.health_path = "/healthz";
  c.reset = "recreate";
  c.quota_per_client = 3;
  c.quota_overall = 5;
  const auto s = pool_settings(c);
  CHECK(s.protocol.health == warmpool::HealthCheck::Http);
  CHECK(s.protocol.health_path == "/healthz");
  CHECK(s.protocol.reset == warmpool::ResetMethod::Recreate);
  CHECK(s.client_quota == 3);
  CHECK(s.overall_quota == 5);
  c.reset = "worker";
  CHECK_THROWS_WITH(pool_settings(c), Catch::Contains("--health http --reset worker"));
  c.reset = "restart";
  c.health_path = "healthz";
  CHECK_THROWS_WITH(pool_settings(c), Catch::Contains("must start with /"));
}

#include "api/server.hpp"

TEST_CASE("token comparison is exact") {
  using warmpool::api::same_token;
  CHECK(same_token("secret", "secret"));
  CHECK_FALSE(same_token("secret", "secreT"));
  CHECK_FALSE(same_token("secret", "secret2"));
  CHECK_FALSE(same_token("", "secret"));
  CHECK(same_token("", ""));
}

TEST_CASE("--database takes a postgresql:// URL; without it the records stay in SQLite") {
  Config c;
  CHECK_FALSE(c.uses_postgres());
  c.database = "postgresql://warmpool@/warmpool?host=/run/postgresql";
  CHECK_NOTHROW(c.validate());
  CHECK(c.uses_postgres());
  c.database = "/var/lib/warmpool/warmpool.db";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--database must be a postgresql:// URL"));
  c.database = "postgresql://warmpool@/warmpool?host=/nonexistent";
  CHECK_THROWS_WITH(warmpool::open_store(c), Catch::Contains("connect to PostgreSQL"));
}

TEST_CASE("the engine's TLS files come from --engine-cert-dir, each overridden by its own flag") {
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  const char* argv[] = {"serve", "--engine", "tcp://127.0.0.1:17376", "--engine-cert-dir", "/certs",
                        "--engine-ca", "/other/ca.pem"};
  app.parse(7, const_cast<char**>(argv));
  const auto options = warmpool::engine_options(c);
  CHECK(options.endpoint == "tcp://127.0.0.1:17376");
  CHECK(options.tls.ca == "/other/ca.pem");
  CHECK(options.tls.cert == "/certs/cert.pem");
  CHECK(options.tls.key == "/certs/key.pem");

  // As the docker CLI with -H: DOCKER_TLS_VERIFY's files serve any tcp:// engine, no unix socket.
  setenv("DOCKER_HOST", "tcp://10.0.0.1:2376", 1);
  setenv("DOCKER_TLS_VERIFY", "1", 1);
  setenv("DOCKER_CERT_PATH", "/env-certs", 1);
  Config other_tcp, local;
  other_tcp.engine = "tcp://127.0.0.1:2376";
  local.engine = "unix:///run/docker.sock";
  const auto from_env = warmpool::engine_options(Config{});
  const auto tcp = warmpool::engine_options(other_tcp);
  const auto unix_socket = warmpool::engine_options(local);
  unsetenv("DOCKER_HOST");
  unsetenv("DOCKER_TLS_VERIFY");
  unsetenv("DOCKER_CERT_PATH");
  CHECK(from_env.endpoint == "tcp://10.0.0.1:2376");
  CHECK(from_env.tls.key == "/env-certs/key.pem");
  CHECK(tcp.endpoint == "tcp://127.0.0.1:2376");
  CHECK(tcp.tls.cert == "/env-certs/cert.pem");
  CHECK(unix_socket.tls.empty());
}

TEST_CASE("an engine endpoint or TLS file that cannot work is refused before anything starts") {
  Config c;
  c.engine = "ssh://engine.example";
  CHECK_THROWS_WITH(warmpool::check_engine_options(warmpool::engine_options(c)),
                    Catch::Contains("expected unix:///path/to/socket or tcp://host:port"));
  c.engine = "tcp://127.0.0.1:17376";
  c.engine_cert_dir = "/nonexistent/warmpool-certs";
  CHECK_THROWS_WITH(warmpool::check_engine_options(warmpool::engine_options(c)),
                    "engine tcp://127.0.0.1:17376: cannot read TLS CA file /nonexistent/warmpool-certs/ca.pem: "
                    "No such file or directory");
  c.data_dir = "/nonexistent/warmpool-data";  // never made: the check comes first
  CHECK_THROWS_WITH(warmpool::App(c), Catch::Contains("/nonexistent/warmpool-certs/ca.pem"));
  CHECK_FALSE(std::filesystem::exists(c.data_dir));
}

TEST_CASE("--engine may be given several times, NAME=ENDPOINT with options; a bare endpoint is `default`") {
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  const char* argv[] = {"serve", "--engine", "unix:///run/a.sock", "--engine", "b=tcp://127.0.0.1:11376,capacity=8,weight=2",
                        "--placement", "pack", "--engine-grace-s", "5"};
  app.parse(9, const_cast<char**>(argv));
  const auto specs = warmpool::engine_specs(c);
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].name == "default");
  CHECK(specs[0].endpoint == "unix:///run/a.sock");
  CHECK(specs[1].name == "b");
  CHECK(specs[1].capacity == 8);
  CHECK(specs[1].weight == 2);
  CHECK(c.placement == "pack");
  CHECK(c.engine_grace_s == 5);
  CHECK(warmpool::engine_options(c).endpoint == "unix:///run/a.sock");  // the first engine's
  CHECK(warmpool::engine_options(c, specs[1].endpoint).endpoint == "tcp://127.0.0.1:11376");

  Config one;
  one.engine = "unix:///run/docker.sock";  // no --engine list: the one engine, `default`
  REQUIRE(warmpool::engine_specs(one).size() == 1);
  CHECK(warmpool::engine_specs(one)[0].name == "default");
  CHECK(warmpool::engine_specs(one)[0].endpoint == "unix:///run/docker.sock");

  Config bad;
  CLI::App bad_app;
  warmpool::add_serve_options(bad_app, bad);
  const char* bad_argv[] = {"serve", "--placement", "random"};
  CHECK_THROWS(bad_app.parse(3, const_cast<char**>(bad_argv)));
}


TEST_CASE("an --engine may carry its own TLS files, which win over the TLS flags; unreadable ones stop the start") {
  Config c;
  CLI::App app;
  warmpool::add_serve_options(app, c);
  const char* argv[] = {"serve", "--engine", "a=unix:///run/a.sock",
                        "--engine", "b=tcp://127.0.0.1:11376,cert-dir=/b-certs,ca=/b-ca/ca.pem",
                        "--engine", "c=tcp://127.0.0.1:11377",
                        "--engine-cert-dir", "/flag-certs"};
  app.parse(9, const_cast<char**>(argv));
  const auto specs = warmpool::engine_specs(c);
  REQUIRE(specs.size() == 3);
  const auto b = warmpool::engine_options(c, specs[1]);
  CHECK(b.endpoint == "tcp://127.0.0.1:11376");
  CHECK(b.tls.ca == "/b-ca/ca.pem");
  CHECK(b.tls.cert == "/b-certs/cert.pem");
  CHECK(b.tls.key == "/b-certs/key.pem");
  CHECK(warmpool::engine_options(c, specs[2]).tls.cert == "/flag-certs/cert.pem");  // no files of its own

  Config own;
  own.engines = {"a=unix:///run/a.sock", "b=tcp://127.0.0.1:11376,cert-dir=/nonexistent/b-certs"};
  own.data_dir = "/nonexistent/warmpool-data";
  CHECK_THROWS_WITH(warmpool::App(own), "engine b: engine tcp://127.0.0.1:11376: cannot read TLS CA file "
                                        "/nonexistent/b-certs/ca.pem: No such file or directory");
  CHECK_FALSE(std::filesystem::exists(own.data_dir));
}

TEST_CASE("an engine recorded through the API joins the engines at the next start; a flag's name wins") {
  const auto dir = std::filesystem::temp_directory_path() / ("warmpool-recorded-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  Config c;
  c.data_dir = dir.string();
  c.insecure = true;
  c.pause_via = "engine";
  c.engines = {"a=unix:///nonexistent/a.sock"};
  {
    warmpool::SqliteStore store(c.database_path());
    store.add_engine({"b", "unix:///nonexistent/b.sock", 4, 1, "", "", "", 1});
    store.add_engine({"a", "unix:///nonexistent/other.sock", 0, 1, "", "", "", 2});
  }
  {
    warmpool::App app(c);
    const auto engines = app.engines.set.status();
    REQUIRE(engines.size() == 2);
    CHECK(engines[0].name == "a");
    CHECK(engines[0].endpoint == "unix:///nonexistent/a.sock");  // the flag's, not the record's
    CHECK(engines[1].name == "b");
    CHECK(engines[1].capacity == 4);
  }
  std::filesystem::remove_all(dir);
}
