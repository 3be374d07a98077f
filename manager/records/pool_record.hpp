// A pool as a record: which image it runs, with which limits, on which
// ports, how many it keeps warm, and how its instances are checked and
// reset. The pool named `default` is written from the flags at each start;
// the others are made through the admin API and kept in the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warmpool {

// The pool every existing command line and record belongs to.
inline constexpr const char* kDefaultPool = "default";

enum class PoolState {
  Active,    // hands out and keeps its floor
  Draining,  // no new hand-outs; idle instances go, allocated ones as they return
};

const char* to_string(PoolState state);
std::optional<PoolState> pool_state_from(std::string_view name);

struct PoolRecord {
  std::string name;
  std::string image;
  std::int64_t memory_mb = 512;
  double cpus = 1.0;
  int pids = 64;
  std::int64_t tmpfs_mb = 256;
  int port_first = 0;  // the instances' ports, [port_first, port_last]
  int port_last = 0;
  int min_idle = 0;   // the floor: idle or starting instances kept warm
  int max_idle = 0;   // the ceiling: idle instances beyond it are removed
  int keep_running = 0;
  std::string health = "worker";  // worker | http | tcp (pool/image_protocol.hpp)
  std::string health_path = "/";
  std::string reset = "worker";   // worker | restart | recreate
  std::string data_volume;        // empty: none
  int client_quota = 0;           // 0: no limit
  PoolState state = PoolState::Active;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// Why `name` cannot name a pool (it must match [a-z0-9][a-z0-9-]{0,62});
// nullopt when it can.
std::optional<std::string> pool_name_refusal(std::string_view name);

// Whether two port ranges share a port.
inline bool ports_overlap(const PoolRecord& a, const PoolRecord& b) {
  return a.port_first <= b.port_last && b.port_first <= a.port_last;
}

}  // namespace warmpool
