// Everything `warmpool serve` can be told, with its defaults. Each field is a
// flag, an environment variable (WARMPOOL_<NAME>) and a key in the optional
// config file (--config, TOML or INI); flags win over the environment, which
// wins over the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>


namespace CLI {
class App;
}

namespace warmpool {

struct Config {
  // HTTP server
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;
  int http_threads = 256;           // requests served at once (a connection holds none while idle or reading)
  std::size_t max_body_bytes = 64 * 1024;
  std::string api_token;            // bearer token for the public API (empty: none)
  std::string admin_token;          // bearer token for admin routes (empty: none)
  bool insecure = false;            // allow a non-loopback listen address without tokens
  std::string docs_dir;             // swagger-ui-dist files; empty: next to the binary

  // HTTP bounds against slow and greedy clients (api/connection_guard.hpp)
  int http_reserved_threads = 32;         // of --http-threads, only for /health and hand-outs
  int http_max_connections = 2048;        // open at once, in all (503 above)
  int http_max_connections_per_client = 256;  // open at once from one address but this host's (429 above; 0: no cap)
  int http_request_read_timeout_ms = 5000;    // a request's first byte to its last (408 after)
  int http_keep_alive_timeout_ms = 5000;      // an idle connection is closed after this
  int http_max_header_bytes = 32 * 1024;      // request line and headers (431 above)

  // Records
  std::string data_dir = "warmpool-data";  // holds warmpool.db and job results
  // The key the workers' control secrets derive from; empty: data_dir/control.key.
  // Managers sharing one database must share it.
  std::string control_key_file;
  std::string token_dir;  // api.token and admin.token; empty: data_dir
  // Several managers: postgresql://... keeps the records there instead of in
  // data_dir/warmpool.db. Empty: SQLite.
  std::string database;

  // Engine
  std::string engine;               // unix:///..., tcp://...; empty: DOCKER_HOST or the default socket
  // Every --engine as given: NAME=ENDPOINT[,capacity=N][,weight=W], or a bare
  // ENDPOINT (the engine named `default`). Empty: the one engine `engine` names.
  std::vector<std::string> engines;
  std::string placement = "spread";  // several engines: spread (least loaded by weight) or pack (first with room)
  int engine_grace_s = 30;           // several engines: a down engine's instances are kept this long
  std::string engine_cert_dir;      // TLS: ca.pem, cert.pem and key.pem in one directory
  std::string engine_ca;            // TLS files one by one (each wins over --engine-cert-dir's)
  std::string engine_cert;
  std::string engine_key;
  int engine_timeout_ms = 5000;
  std::string pause_via = "auto";   // auto, freezer (the cgroup's) or engine (its pause/unpause)

  // Pool
  std::string manager_id = "warmpool";
  std::string image = "warmpool/pi-worker:latest";
  std::string worker_host = "127.0.0.1";
  int port_first = 20000;
  int port_last = 20999;
  int max_instances = 8;
  int min_idle = 2;
  int max_idle = 8;
  int keep_running = 1;
  int idle_shrink_s = 600;
  std::int64_t instance_memory_mb = 512;
  double instance_cpus = 1.0;
  int instance_pids = 64;
  std::int64_t instance_tmpfs_mb = 256;
  std::int64_t memory_budget_mb = 0;
  double cpu_budget = 0;
  double host_limit = 0.9;
  double host_cpu_limit = 0;        // 0: --host-limit
  double host_memory_limit = 0;     // 0: --host-limit
  int host_cpu_window_s = 10;       // CPU use is averaged over this window
  int max_restarts = 2;
  int ping_timeout_ms = 500;
  int reset_timeout_ms = 2000;
  int ready_timeout_ms = 30000;
  int lease_s = 300;
  int max_lease_s = 86400;
  // The image's protocol (pool/image_protocol.hpp)
  std::string health = "worker";    // worker (/ping), http (GET health_path, 2xx) or tcp (a connect)
  std::string health_path = "/";
  std::string reset = "worker";     // worker (/reset), restart or recreate
  // Quotas: most current allocations one client (the `client` field) may
  // hold in the pool default, and in all pools together; 0: none
  int quota_per_client = 0;
  int quota_overall = 0;

  // Demand (the pool's shape between --min-idle and --max-idle)
  std::string pool_policy = "adaptive";  // or "fixed": min_idle idle, keep_running of them running
  int pause_grace_ms = 2000;        // a released instance stays running this long before it may be paused
  int burst_half_life_s = 7200;     // how slowly a remembered burst is forgotten
  int surplus_ttl_s = 2;            // adaptive: idle above the target this long unused is removed
  double refill_per_s = 4;          // once a burst is served, refill creates at most this many a second (0: unpaced)
  double remove_per_s = 2;          // surplus idle instances are removed at most this many a second (0: unpaced)

  // Queues and deadlines
  int high_threads = 4;
  int normal_threads = 8;          // creates of a burst run this many at once
  int queue_capacity = 1024;
  int allocate_timeout_ms = 5000;   // default deadline of POST /allocations

  // Scheduler
  int scheduler_period_ms = 2000;
  double keep_finished_hours = 168;    // finished allocations, deleted instances; 0: kept forever

  // Sessions: the `init` of POST /allocations, delivered to the worker
  std::size_t max_init_bytes = 1 << 20;  // the files' decoded bytes together (413 above)
  int max_init_files = 100;
  int max_init_path_bytes = 255;
  int init_timeout_ms = 2000;            // deadline of the worker's POST /init
  std::string data_volume;               // a Docker named volume every instance mounts read-only; empty: none
  std::string data_mount = "/data";      // where it is mounted

  // Pi jobs
  std::int64_t max_digits = 10'000'000;  // POST /pi_job refuses more
  int job_workers = 0;              // jobs running at once; 0: max_instances - 1 (at least 1)
  int job_retries = 2;              // re-runs after a lost worker before a job fails
  int job_poll_ms = 200;            // how often a running job's progress is read

  std::string log_level = "info";
  std::string log_format = "json";  // or "text"
  bool remove_on_exit = false;      // at stop, remove our containers instead of leaving them

  std::string database_path() const;  // the SQLite file
  std::string control_key_path() const;
  // Where the tokens not given are kept (made at the first start).
  std::string api_token_path() const { return (token_dir.empty() ? data_dir : token_dir) + "/api.token"; }
  std::string admin_token_path() const { return (token_dir.empty() ? data_dir : token_dir) + "/admin.token"; }
  bool uses_postgres() const { return !database.empty(); }
  // The largest POST /allocations body: room for --max-init-bytes of files
  // in base64, beside the other fields (--max-body-bytes when that is 0).
  std::size_t allocation_body_bytes() const;
  // Throws std::invalid_argument with a clear message for inconsistent values.
  void validate() const;
};

// Adds the options of `serve` to `app`, bound to `config`.
void add_serve_options(CLI::App& app, Config& config);

}  // namespace warmpool
