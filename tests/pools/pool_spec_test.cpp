// A pool record and the settings of the Pool that serves it.
#include <catch2/catch.hpp>

#include "pools/pool_spec.hpp"

using namespace warmpool;

namespace {
PoolRecord record(const std::string& name, int first, int last) {
  PoolRecord r;
  r.name = name;
  r.image = "warmpool/busybox-httpd:latest";
  r.port_first = first;
  r.port_last = last;
  r.max_idle = 2;
  r.health = "http";
  r.reset = "restart";
  return r;
}
}  // namespace

TEST_CASE("the default record is the flags' settings, and gives them back") {
  PoolSettings flags;
  flags.image = "warmpool/pi-worker:latest";
  flags.port_first = 20000;
  flags.port_last = 20999;
  flags.policy.min_idle = 3;
  flags.policy.max_idle = 7;
  flags.container.memory_bytes = 256ll << 20;
  flags.container.nano_cpus = 500'000'000;
  flags.client_quota = 4;
  const PoolRecord r = record_of(flags, 42);
  CHECK(r.name == "default");
  CHECK(r.memory_mb == 256);
  CHECK(r.cpus == Approx(0.5));
  CHECK(r.min_idle == 3);
  CHECK(r.max_idle == 7);
  CHECK(r.health == "worker");
  CHECK(r.client_quota == 4);
  CHECK(r.created_ms == 42);
  const PoolSettings back = settings_for(flags, r);
  CHECK(back.image == flags.image);
  CHECK(back.container.memory_bytes == flags.container.memory_bytes);
  CHECK(back.container.nano_cpus == flags.container.nano_cpus);
  CHECK(back.policy.min_idle == 3);
}

TEST_CASE("a record's settings: its own image, limits, ports, policy and protocol; the base's timeouts") {
  PoolSettings base;
  base.policy.max_instances = 12;
  base.reset_timeout = std::chrono::milliseconds(1234);
  base.manager_id = "m1";
  PoolRecord r = record("box", 23100, 23199);
  r.memory_mb = 32;
  r.pids = 16;
  r.min_idle = 1;
  r.health_path = "/cgi-bin/visit";
  const PoolSettings s = settings_for(base, r);
  CHECK(s.name == "box");
  CHECK(s.image == "warmpool/busybox-httpd:latest");
  CHECK(s.container.memory_bytes == 32ll << 20);
  CHECK(s.capacity.instance_memory_bytes == 32ll << 20);
  CHECK(s.container.pids_limit == 16);
  CHECK(s.port_first == 23100);
  CHECK(s.policy.min_idle == 1);
  CHECK(s.policy.max_instances == 12);
  CHECK(s.protocol.health == HealthCheck::Http);
  CHECK(s.protocol.health_path == "/cgi-bin/visit");
  CHECK(s.protocol.reset == ResetMethod::Restart);
  CHECK(s.reset_timeout == std::chrono::milliseconds(1234));
  CHECK(s.manager_id == "m1");
}

TEST_CASE("record_refusal: each bad field is named; names and port ranges are one pool's only") {
  const std::vector<PoolRecord> existing = {record("default", 20000, 20999)};
  CHECK_FALSE(record_refusal(record("box", 23100, 23199), existing));
  auto field_of = [&](const PoolRecord& r) {
    auto refusal = record_refusal(r, existing);
    REQUIRE(refusal);
    return std::make_pair(refusal->status, refusal->field);
  };
  CHECK(field_of(record("Box", 23100, 23199)) == std::make_pair(400, std::string("name")));
  CHECK(field_of(record("box", 23199, 23100)) == std::make_pair(400, std::string("portLast")));
  CHECK(field_of(record("box", 20999, 21100)) == std::make_pair(409, std::string("portFirst")));
  CHECK(field_of(record("default", 23100, 23199)) == std::make_pair(409, std::string("name")));
  PoolRecord r = record("box", 23100, 23199);
  r.image.clear();
  CHECK(field_of(r) == std::make_pair(400, std::string("image")));
  r = record("box", 23100, 23199);
  r.min_idle = 3;  // above max_idle 2
  CHECK(field_of(r) == std::make_pair(400, std::string("maxIdle")));
  r = record("box", 23100, 23199);
  r.health = "smoke";
  CHECK(field_of(r) == std::make_pair(400, std::string("health")));
  r = record("box", 23100, 23199);
  r.reset = "worker";  // needs a worker health check
  CHECK(field_of(r) == std::make_pair(400, std::string("reset")));
  r = record("box", 23100, 23199);
  r.health_path = "no-slash";
  CHECK(field_of(r) == std::make_pair(400, std::string("healthPath")));
  r = record("box", 23100, 23199);
  r.cpus = 0;
  CHECK(field_of(r) == std::make_pair(400, std::string("cpus")));
}

TEST_CASE("what a change replaces: image, limits, ports, health, reset and data volume; not floor, ceiling or quota") {
  const PoolRecord before = record("box", 23100, 23199);
  CHECK_FALSE(changes_instances(before, before));
  auto changed = [&](auto edit) {
    PoolRecord after = before;
    edit(after);
    return changes_instances(before, after);
  };
  CHECK(changed([](PoolRecord& r) { r.image = "warmpool/busybox-httpd:next"; }));
  CHECK(changed([](PoolRecord& r) { r.memory_mb = 64; }));
  CHECK(changed([](PoolRecord& r) { r.cpus = 0.5; }));
  CHECK(changed([](PoolRecord& r) { r.pids = 8; }));
  CHECK(changed([](PoolRecord& r) { r.tmpfs_mb = 4; }));
  CHECK(changed([](PoolRecord& r) { r.port_last = 23150; }));
  CHECK(changed([](PoolRecord& r) { r.health_path = "/ok"; }));
  CHECK(changed([](PoolRecord& r) { r.reset = "recreate"; }));
  CHECK(changed([](PoolRecord& r) { r.data_volume = "box-data"; }));
  CHECK_FALSE(changed([](PoolRecord& r) {
    r.min_idle = 3;
    r.max_idle = 9;
    r.keep_running = 2;
    r.client_quota = 5;
  }));
}

TEST_CASE("a record's instances made before its updated_ms are outdated, as are those outside its ports") {
  PoolRecord r = record("box", 23100, 23199);
  r.updated_ms = 5000;
  const PoolSettings s = settings_for(PoolSettings{}, r);
  CHECK(s.instances_since_ms == 5000);
  Instance i;
  i.port = 23100;
  i.created_ms = 4999;
  CHECK(instance_outdated(i, s.instances_since_ms, s.port_first, s.port_last));
  i.created_ms = 5000;
  CHECK_FALSE(instance_outdated(i, s.instances_since_ms, s.port_first, s.port_last));
  i.port = 23200;
  CHECK(instance_outdated(i, s.instances_since_ms, s.port_first, s.port_last));
}
