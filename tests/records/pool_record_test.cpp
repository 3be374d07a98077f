#include <catch2/catch.hpp>

#include "records/pool_record.hpp"

using namespace warmpool;

TEST_CASE("pool names: lower-case letters, digits and '-', 1 to 63, not starting with '-'") {
  for (const char* good : {"default", "a", "0", "pi-large", "busybox-2", "a-"})
    CHECK_FALSE(pool_name_refusal(good));
  CHECK_FALSE(pool_name_refusal(std::string(63, 'x')));
  for (const char* bad : {"", "-a", "Pi", "pi_large", "pi.large", "pi large", "pi/x", "é"})
    CHECK(pool_name_refusal(bad));
  CHECK(pool_name_refusal(std::string(64, 'x')));
}

TEST_CASE("port ranges overlap when they share a port") {
  PoolRecord a, b;
  a.port_first = 100; a.port_last = 199;
  b.port_first = 200; b.port_last = 299;
  CHECK_FALSE(ports_overlap(a, b));
  b.port_first = 199;
  CHECK(ports_overlap(a, b));
  CHECK(ports_overlap(b, a));
  b.port_first = 50; b.port_last = 500;  // one inside the other
  CHECK(ports_overlap(a, b));
}

TEST_CASE("pool states round-trip through their names") {
  CHECK(pool_state_from("active") == PoolState::Active);
  CHECK(pool_state_from("draining") == PoolState::Draining);
  CHECK_FALSE(pool_state_from("gone"));
}
