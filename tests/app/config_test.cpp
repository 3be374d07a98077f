#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include "app/app.hpp"

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

TEST_CASE("a non-loopback listen address needs both tokens or --insecure") {
  Config c;
  CHECK_NOTHROW(c.validate());
  c.listen_host = "0.0.0.0";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("refusing to listen on 0.0.0.0"));
  c.api_token = "a";
  CHECK_THROWS(c.validate());
  c.admin_token = "b";
  CHECK_NOTHROW(c.validate());
  c.api_token.clear();
  c.insecure = true;
  CHECK_NOTHROW(c.validate());
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
}

TEST_CASE("a negative grace or an unknown pool policy is refused at parse, naming the flag") {
  for (const char* bad : {"--pause-grace-ms=-5", "--pool-policy=learned"}) {
    Config c;
    CLI::App app;
    warmpool::add_serve_options(app, c);
    const char* argv[] = {"serve", bad};
    CHECK_THROWS_WITH(app.parse(2, const_cast<char**>(argv)),
                      Catch::Contains(std::string(bad).substr(0, std::string(bad).find('='))));
  }
}

TEST_CASE("the demand flags reach the pool's policy") {
  Config c;
  CHECK(pool_settings(c).policy.adaptive);
  CHECK(pool_settings(c).policy.pause_grace_ms == 2000);
  c.pool_policy = "fixed";
  c.burst_half_life_s = 60;
  CHECK_FALSE(pool_settings(c).policy.adaptive);
  CHECK(pool_settings(c).demand.peak_half_life_ms == 60'000);
}

TEST_CASE("a quota that is not a non-negative integer, or an unknown health or reset, is refused at parse") {
  for (const char* bad : {"--quota-per-client=-1", "--quota-per-client=2.5", "--quota-per-client=three",
                          "--health=ping", "--reset=reboot"}) {
    INFO(bad);
    Config c;
    CLI::App app;
    warmpool::add_serve_options(app, c);
    const char* argv[] = {"serve", bad};
    CHECK_THROWS_WITH(app.parse(2, const_cast<char**>(argv)),
                      Catch::Contains(std::string(bad).substr(0, std::string(bad).find('='))));
  }
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
  const auto s = pool_settings(c);
  CHECK(s.protocol.health == warmpool::HealthCheck::Http);
  CHECK(s.protocol.health_path == "/healthz");
  CHECK(s.protocol.reset == warmpool::ResetMethod::Recreate);
  CHECK(s.client_quota == 3);
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
