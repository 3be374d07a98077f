// `warmpool alloc|release|allocations|instances|engines|describe|top|health|pi`: a small client
// for the API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace warmpool::client {

struct Options {
  std::string server = "http://127.0.0.1:8080";
  std::string token;     // --token: for every route
  std::string data_dir = "warmpool-data";  // else the tokens kept here, per route
  std::string api_token;    // resolved: --token, else data_dir/api.token
  std::string admin_token;  // resolved: --token, else data_dir/admin.token
  int lease_seconds = 0;
  std::string label;
  std::string allocation_id;
  std::string show = "current";
  std::string client_filter;  // allocations --client
  std::string state_filter;   // instances --state
  std::string output;         // -o: table (default), wide, json, yaml
  std::int64_t instance_id = 0;  // describe instance ID
  double top_interval_s = 2;     // top --interval
  bool top_once = false;         // top --once
  int timeout_ms = 30000;
  std::int64_t digits = 0;  // pi
  std::string out;          // pi: where the digits go (default pi_<job id>.txt)
  std::vector<std::string> files;  // alloc --file LOCAL=REMOTE
  std::vector<std::string> env;    // alloc --env NAME=VALUE
  std::string meta;                // alloc --meta '{...}'
};

// The body of `warmpool alloc`: lease, client, and init from --file (each
// local file read and sent as base64), --env and --meta. Throws
// std::invalid_argument for a malformed option or an unreadable file.
nlohmann::json allocation_body(const Options& options);

void add_commands(CLI::App& app, Options& options);
// Runs the parsed subcommand; returns the exit code.
int run(const CLI::App& app, Options options);

}  // namespace warmpool::client
