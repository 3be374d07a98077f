// An engine added through the admin API (POST /engines), as the store keeps
// it so that it comes back at the next start. Engines given by --engine are
// configured by the flags and never recorded.
#pragma once

#include <cstdint>
#include <string>

namespace warmpool {

struct EngineRecord {
  std::string name;      // unique among the engines, flags' and records'
  std::string endpoint;  // unix:///path or tcp://host:port
  int capacity = 0;      // most instances on it; 0: no limit
  double weight = 1;     // > 0
  // TLS files (tcp:// only); empty strings when not used.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::int64_t created_ms = 0;
};

}  // namespace warmpool
