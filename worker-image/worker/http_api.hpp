// pi-worker's HTTP API. Handlers only parse, call ComputeJob and serialise.
//
//   GET  /ping     200 {"ok":true,"state":"<compute state>"}
//   POST /reset    cancel, wait, wipe results, scratch and the session; 200 {"ok":true}
//   POST /init     install a session (files, env, metadata, token); 200;
//                  400 bad payload; 409 one is installed; 413 too large
//   GET  /init     200 {"env","metadata","files"}
//   GET  /files/P  200 the session file P's bytes (data/...: the data
//                  volume's, with --data); 404 missing
//   POST /compute  {"digits": N} -> 202 status; 409 busy; 400 bad input;
//                  413 body too large
//   GET  /compute  200 {"state","digits","progress","elapsed_ms"[,"error"]}
//   DELETE /compute  cancel without wiping; 200 status (state "cancelled"
//                  once stopped); 409 if nothing runs
//   GET  /result   200 text/plain digits, streamed; 409 unless done
//
// Errors are application/problem+json {"status","title","detail"}; a caller
// without the right bearer token gets 401 (worker/session.hpp says who may
// call what). The contract: swagger/worker.yaml.
#ifndef WARMPOOL_WORKER_HTTP_API_HPP_
#define WARMPOOL_WORKER_HTTP_API_HPP_

#include <httplib.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "worker/job.hpp"

namespace warmpool::worker {

struct ServerSettings {
  // Connections served at once; an idle keep-alive connection holds one.
  std::size_t http_threads = 8;
  std::size_t keep_alive_max_requests = 1000;
  time_t keep_alive_timeout_s = 2;
  // Request bodies above this get 413, but for POST /init's.
  std::size_t max_body_bytes = 4096;
  std::size_t max_init_body_bytes = 8 << 20;
  // Emptied on reset. The session's files live in its "files" folder.
  std::filesystem::path scratch_dir = "/scratch";
  // The manager's secret for this worker; empty: the control routes are open.
  std::string control_secret;
  // A read-only directory (the data volume) served at GET /files/data/...; empty: none.
  std::filesystem::path data_dir;
};

// Reads the digit count from a POST /compute body such as {"digits": 1000}.
// Returns true and sets *digits, or returns false and sets *problem to a
// message for the client. Accepts only a JSON integer in [1, max_digits].
bool parse_compute_body(std::string_view body, std::size_t max_digits, std::size_t* digits, std::string* problem);

// Applies the settings (thread pool, keep-alive, TCP_NODELAY, body limit)
// and installs the routes. `job` must outlive the server.
void configure_server(httplib::Server& server, ComputeJob& job, const ServerSettings& settings);

}  // namespace warmpool::worker

#endif  // WARMPOOL_WORKER_HTTP_API_HPP_
