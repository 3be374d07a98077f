#include "config/config.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <CLI/CLI.hpp>

namespace warmpool {

namespace {

template <typename T>
CLI::Option* opt(CLI::App& app, const std::string& flag, T& value, const std::string& help) {
  std::string env = "WARMPOOL_";
  for (char c : flag.substr(2)) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return app.add_option(flag, value, help)->envname(env)->capture_default_str();
}

// The HTTP server's bounds against slow and greedy clients.
void add_http_bound_options(CLI::App& app, Config& c) {
  opt(app, "--http-reserved-threads", c.http_reserved_threads, "Of --http-threads, those only /health and hand-outs (POST and DELETE /allocations) may take (at most a quarter of them)")
      ->group("Server")->check(CLI::Range(0, 4096));
  opt(app, "--http-max-connections", c.http_max_connections, "HTTP connections open at once; more are answered 503 and closed")
      ->group("Server")->check(CLI::Range(1, 1'000'000));
  opt(app, "--http-max-connections-per-client", c.http_max_connections_per_client, "HTTP connections open at once from one address; more are answered 429 and closed (0: no cap). 127.0.0.1 and ::1 (a proxy in front, tools on this host) are not capped")
      ->group("Server")->check(CLI::Range(0, 1'000'000));
  opt(app, "--http-request-read-timeout-ms", c.http_request_read_timeout_ms, "Time from a request's first byte (a new connection's accept) to its last; later, 408 and the connection is closed")
      ->group("Server")->check(CLI::Range(100, 600000));
  opt(app, "--http-keep-alive-timeout-ms", c.http_keep_alive_timeout_ms, "An idle keep-alive connection is closed after this")
      ->group("Server")->check(CLI::Range(100, 600000));
  opt(app, "--http-max-header-bytes", c.http_max_header_bytes, "Largest request line and headers together (431 above)")
      ->group("Server")->check(CLI::Range(1024, 1 << 20));
}

}  // namespace

void add_serve_options(CLI::App& app, Config& c) {
  app.set_config("--config", "", "Read options from this TOML/INI file (keys as the long flags)");

  opt(app, "--host", c.listen_host, "Address the HTTP API listens on")->group("Server");
  opt(app, "--port", c.listen_port, "Port the HTTP API listens on")->group("Server")->check(CLI::Range(1, 65535));
  opt(app, "--http-threads", c.http_threads, "HTTP threads serving requests (a connection holds one only while its whole request is being served)")
      ->group("Server")->check(CLI::Range(4, 4096));
  add_http_bound_options(app, c);
  opt(app, "--max-body-bytes", c.max_body_bytes, "Largest request body accepted (413 above)")->group("Server");
  opt(app, "--api-token", c.api_token, "Bearer token required on the public API (allocations, pi jobs) (default: api.token in --token-dir)")->group("Server");
  opt(app, "--admin-token", c.admin_token, "Bearer token required on admin routes (instances, details, metrics) (default: admin.token in --token-dir)")->group("Server");
  app.add_flag("--insecure", c.insecure, "Serve the routes whose token is not given open, on any address (code in any instance reaches the manager on loopback)")
      ->envname("WARMPOOL_INSECURE")->group("Server");
  opt(app, "--docs-dir", c.docs_dir, "Directory of swagger-ui-dist files served at / (default: found next to the binary)")->group("Server");
  opt(app, "--data-dir", c.data_dir, "Directory for the database (warmpool.db) and job results")->group("Server");
  opt(app, "--token-dir", c.token_dir, "Where the tokens not given by flag are kept, api.token and admin.token, made at the first start (default: --data-dir); managers on one --database share them")->group("Server");
  opt(app, "--control-key-file", c.control_key_file, "The key the workers' control secrets derive from, made at the first start (default: --data-dir/control.key); managers on one --database must share it")->group("Server");
  opt(app, "--database", c.database, "Keep the records in PostgreSQL, shared by several managers: postgresql://[user@][host][:port]/dbname[?host=/socket/dir] (default: SQLite in --data-dir)")->group("Server");

  opt(app, "--engine", c.engines, "Docker Engine API endpoint: unix:///path or tcp://host:port, TLS when certificates are given (default: $DOCKER_HOST or unix:///var/run/docker.sock). Several engines: repeat it as NAME=ENDPOINT[,capacity=N][,weight=W][,cert-dir=DIR][,ca=FILE][,cert=FILE][,key=FILE] (a bare endpoint is the engine named default; an engine's own TLS files win over the --engine-ca/-cert/-key/-cert-dir flags)")->group("Engine");
  opt(app, "--placement", c.placement, "Several engines: where new instances go. spread: the engine with the fewest instances for its weight; pack: the first engine given that has room (capacity)")
      ->group("Engine")->check(CLI::IsMember({"spread", "pack"}));
  opt(app, "--engine-grace-s", c.engine_grace_s, "Several engines: instances on an engine that stopped answering keep their allocations this long (their clients may still reach them); then their allocations end and they are replaced on the others")
      ->group("Engine")->check(CLI::Range(0, 86'400));
  opt(app, "--engine-cert-dir", c.engine_cert_dir, "TLS to a tcp:// engine: a directory holding ca.pem, cert.pem and key.pem, as $DOCKER_CERT_PATH (default for a tcp:// engine with $DOCKER_TLS_VERIFY set: $DOCKER_CERT_PATH or ~/.docker)")->group("Engine");
  opt(app, "--engine-ca", c.engine_ca, "TLS to a tcp:// engine: the CA file (PEM) its certificate must be signed by (wins over --engine-cert-dir's ca.pem)")->group("Engine");
  opt(app, "--engine-cert", c.engine_cert, "TLS to a tcp:// engine: our client certificate (PEM), with --engine-key (wins over --engine-cert-dir's cert.pem)")->group("Engine");
  opt(app, "--engine-key", c.engine_key, "TLS to a tcp:// engine: our client certificate's private key (PEM) (wins over --engine-cert-dir's key.pem)")->group("Engine");
  opt(app, "--pause-via", c.pause_via, "How idle instances are paused: freezer (write the container's cgroup freezer: a local engine only), engine (its pause/unpause), or auto (the freezer when the engine is local and its freezer files are writable)")
      ->group("Engine")->check(CLI::IsMember({"auto", "freezer", "engine"}));
  opt(app, "--engine-timeout-ms", c.engine_timeout_ms, "Deadline of each engine call; an engine that does not answer the first one at start stops the manager (exit 1)")->group("Engine")->check(CLI::Range(100, 600000));

  opt(app, "--manager-id", c.manager_id, "Value of the warmpool.manager label on our containers")->group("Pool");
  opt(app, "--image", c.image, "Worker image")->group("Pool");
  opt(app, "--worker-host", c.worker_host, "Loopback address workers listen on (host network)")->group("Pool");
  opt(app, "--port-first", c.port_first, "First port of the workers' port range")->group("Pool")->check(CLI::Range(1, 65535));
  opt(app, "--port-last", c.port_last, "Last port of the workers' port range")->group("Pool")->check(CLI::Range(1, 65535));
  opt(app, "--max-instances", c.max_instances, "Most instances alive at once")->group("Pool")->check(CLI::Range(1, 10000));
  opt(app, "--min-idle", c.min_idle, "Idle instances kept warm (with --pool-policy adaptive: the floor of the demand's target; 0 lets the pool scale to zero)")->group("Pool")->check(CLI::Range(0, 10000));
  opt(app, "--max-idle", c.max_idle, "Idle instances beyond this are removed (adaptive: the ceiling of the demand's target)")->group("Pool")->check(CLI::Range(0, 10000));
  opt(app, "--keep-running", c.keep_running, "Idle instances kept running; the rest are paused (adaptive: the floor; the running count follows the short-term arrival rate)")->group("Pool")->check(CLI::Range(0, 10000));
  opt(app, "--idle-shrink-s", c.idle_shrink_s, "Fixed: idle instances above --min-idle are removed after this long unused; adaptive: nothing arriving this long lets the demand's target fall to the floor (idle above the target goes after --surplus-ttl-s)")->group("Pool");
  opt(app, "--instance-memory-mb", c.instance_memory_mb, "Memory limit per instance")->group("Pool")->check(CLI::Range(16, 1 << 20));
  opt(app, "--instance-cpus", c.instance_cpus, "CPU limit per instance")->group("Pool")->check(CLI::Range(0.01, 1024.0));
  opt(app, "--instance-pids", c.instance_pids, "Process limit per instance")->group("Pool")->check(CLI::Range(8, 1 << 20));
  opt(app, "--instance-tmpfs-mb", c.instance_tmpfs_mb, "Size of each instance's /scratch tmpfs")->group("Pool");
  opt(app, "--memory-budget-mb", c.memory_budget_mb, "Memory for all instances together (0: no budget)")->group("Pool");
  opt(app, "--cpu-budget", c.cpu_budget, "CPUs for all instances together (0: no budget)")->group("Pool");
  opt(app, "--host-limit", c.host_limit, "Refuse to create instances above this host CPU or memory use")->group("Pool")->check(CLI::Range(0.05, 1.0));
  opt(app, "--host-cpu-limit", c.host_cpu_limit, "Refuse to create instances above this host CPU use (0: --host-limit)")->group("Pool")->check(CLI::Range(0.0, 1.0));
  opt(app, "--host-memory-limit", c.host_memory_limit, "Refuse to create instances above this host memory use (0: --host-limit)")->group("Pool")->check(CLI::Range(0.0, 1.0));
  opt(app, "--host-cpu-window-s", c.host_cpu_window_s, "Host CPU use is averaged over this window, so that a momentary spike does not refuse creation")->group("Pool")->check(CLI::Range(1, 3600));
  opt(app, "--max-restarts", c.max_restarts, "Restarts of a faulty instance before it is replaced")->group("Pool");
  opt(app, "--ping-timeout-ms", c.ping_timeout_ms, "Deadline of a health check (--health: a worker ping, an http GET or a tcp connect)")->group("Pool");
  opt(app, "--reset-timeout-ms", c.reset_timeout_ms, "Deadline of a worker reset")->group("Pool");
  opt(app, "--ready-timeout-ms", c.ready_timeout_ms, "How long a new instance may take to answer its first ping")->group("Pool");
  opt(app, "--health", c.health, "How an instance is checked (hand-out, readiness, scheduler), within --ping-timeout-ms: worker (GET /ping of the worker protocol), http (GET --health-path, any 2xx) or tcp (a connect to its port). Other than worker: the image gets no init, token or control secret")
      ->group("Pool")->check(CLI::IsMember({"worker", "http", "tcp"}));
  opt(app, "--health-path", c.health_path, "The path --health http asks for")->group("Pool");
  opt(app, "--reset", c.reset, "How a released instance is made clean: worker (POST /reset of the worker protocol; needs --health worker), restart (the container restarts: fresh processes and /scratch) or recreate (removed, a new instance replaces it: a fresh container)")
      ->group("Pool")->check(CLI::IsMember({"worker", "restart", "recreate"}));
  opt(app, "--quota-per-client", c.quota_per_client, "Most current allocations one client (the `client` field of POST /allocations; none given: the client \"\") may hold in the pool default; more get 429 (0: no quota; other pools have their own clientQuota)")
      ->group("Pool")->check(CLI::Range(0, 1'000'000));
  opt(app, "--quota-overall", c.quota_overall, "Most current allocations one client may hold in all pools together; more get 429 (0: no quota)")
      ->group("Pool")->check(CLI::Range(0, 1'000'000));
  opt(app, "--lease-s", c.lease_s, "Default allocation lease")->group("Pool")->check(CLI::Range(1, 31'536'000));
  opt(app, "--max-lease-s", c.max_lease_s, "Longest lease a client may ask for")->group("Pool")->check(CLI::Range(1, 31'536'000));

  opt(app, "--pool-policy", c.pool_policy, "adaptive: the idle target follows demand (arrival rates and remembered bursts) between --min-idle and --max-idle, the running count follows the short-term rate above --keep-running; fixed: --min-idle idle, --keep-running of them running")
      ->group("Demand")->check(CLI::IsMember({"adaptive", "fixed"}));
  opt(app, "--pause-grace-ms", c.pause_grace_ms, "A released instance stays running this long before upkeep may pause it (0: paused on release beyond --keep-running)")
      ->group("Demand")->check(CLI::Range(0, 3'600'000));
  opt(app, "--surplus-ttl-s", c.surplus_ttl_s, "Adaptive: idle instances above the demand's target are removed after this long unused (a burst's surplus); must not be above --idle-shrink-s")
      ->group("Demand")->check(CLI::Range(0, 86'400));
  opt(app, "--refill-per-s", c.refill_per_s, "Once a burst is served (no hand-out waiting, none arrived for 2 s), refill starts at most this many creates a second; a burst's own creates are never held back (0: never paced)")
      ->group("Demand")->check(CLI::Range(0.0, 10'000.0));
  opt(app, "--remove-per-s", c.remove_per_s, "Idle instances upkeep removes (a burst's surplus, idle above --max-idle) go at most this many a second; the rest stay idle until a later tick (0: never paced; a draining pool is never paced)")
      ->group("Demand")->check(CLI::Range(0.0, 10'000.0));
  opt(app, "--burst-half-life-s", c.burst_half_life_s, "Half-life of a remembered burst: how long a burst that came before is expected again")
      ->group("Demand")->check(CLI::Range(1, 30 * 86'400));

  opt(app, "--high-threads", c.high_threads, "Threads of the high lane (allocation, release)")->group("Queues")->check(CLI::Range(1, 256));
  opt(app, "--normal-threads", c.normal_threads, "Threads of the normal lane (create, delete, recovery): a burst's creates run this many at once")->group("Queues")->check(CLI::Range(1, 256));
  opt(app, "--queue-capacity", c.queue_capacity, "Queued tasks per lane before requests get 429")->group("Queues")->check(CLI::Range(1, 1'000'000));
  opt(app, "--allocate-timeout-ms", c.allocate_timeout_ms, "Default deadline of POST /allocations (503 after)")->group("Queues")->check(CLI::Range(10, 600000));
  opt(app, "--scheduler-period-ms", c.scheduler_period_ms, "Period of the health and upkeep loop")->group("Queues")->check(CLI::Range(50, 3'600'000));
  opt(app, "--keep-finished-hours", c.keep_finished_hours, "Finished allocations and deleted instances older than this are removed (by the leader's upkeep, at most once a minute); fractions allowed (0.25: 15 minutes); 0: kept forever")
      ->group("Queues")->check(CLI::Range(0.0, 100'000.0));
  opt(app, "--max-init-bytes", c.max_init_bytes, "Most bytes of files a POST /allocations init may carry, all files together (413 above)")
      ->group("Sessions")->check(CLI::Range(std::size_t{0}, std::size_t{4} << 20));
  opt(app, "--max-init-files", c.max_init_files, "Most files a POST /allocations init may carry")->group("Sessions")->check(CLI::Range(0, 10000));
  opt(app, "--max-init-path-bytes", c.max_init_path_bytes, "Longest relative path of an init file")->group("Sessions")->check(CLI::Range(1, 4096));
  opt(app, "--init-timeout-ms", c.init_timeout_ms, "Deadline of the worker's POST /init at hand-out")->group("Sessions")->check(CLI::Range(10, 600000));
  opt(app, "--data-volume", c.data_volume, "A Docker named volume mounted read-only in every instance (make one with scripts/data-volume)")->group("Sessions");
  opt(app, "--data-mount", c.data_mount, "Where --data-volume is mounted in the instances; the worker serves it at GET /files/data/...")->group("Sessions");
  opt(app, "--max-digits", c.max_digits, "Most digits a pi job may ask for")->group("Pi jobs")->check(CLI::Range(std::int64_t{1}, std::int64_t{100'000'000}));
  opt(app, "--job-workers", c.job_workers, "Pi jobs running at once, each on one instance (0: --max-instances minus 1, at least 1)")->group("Pi jobs")->check(CLI::Range(0, 10000));
  opt(app, "--job-retries", c.job_retries, "Re-runs of a pi job whose worker was lost before it fails")->group("Pi jobs")->check(CLI::Range(0, 100));
  opt(app, "--job-poll-ms", c.job_poll_ms, "How often a running pi job's progress is read from its worker")->group("Pi jobs")->check(CLI::Range(10, 60000));
  opt(app, "--log-level", c.log_level, "trace, debug, info, warn, error (requests are logged: changes at info, reads at debug)")->group("Server")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  opt(app, "--log-format", c.log_format, "json (one object per line, with request_id) or text")->group("Server")
      ->check(CLI::IsMember({"json", "text"}));
  app.add_flag("--remove-on-exit", c.remove_on_exit,
               "On SIGTERM/SIGINT, remove our containers instead of leaving them for the next start to adopt")
      ->envname("WARMPOOL_REMOVE_ON_EXIT")->group("Server");
}

void Config::validate() const {
  if (port_first > port_last) throw std::invalid_argument("--port-first must not be above --port-last");
  if (min_idle > max_idle) throw std::invalid_argument("--min-idle must not be above --max-idle");
  if (min_idle > max_instances) throw std::invalid_argument("--min-idle must not be above --max-instances");
  if (keep_running > max_instances) throw std::invalid_argument("--keep-running must not be above --max-instances");
  for (auto [flag, value] : {std::pair{"--host-limit", host_limit}, std::pair{"--host-cpu-limit", host_cpu_limit},
                             std::pair{"--host-memory-limit", host_memory_limit}})
    if (value < 0 || value > 1 || (value == 0 && std::string(flag) == "--host-limit"))
      throw std::invalid_argument(std::string(flag) + " must be within (0, 1]");
  if (pause_grace_ms < 0) throw std::invalid_argument("--pause-grace-ms must not be negative");
  if (idle_shrink_s <= 0) throw std::invalid_argument("--idle-shrink-s must be positive");
  if (surplus_ttl_s < 0) throw std::invalid_argument("--surplus-ttl-s must not be negative");
  if (pool_policy == "adaptive" && surplus_ttl_s > idle_shrink_s)
    throw std::invalid_argument("--surplus-ttl-s must not be above --idle-shrink-s (a surplus would outlast the quiet that empties the pool)");
  if (refill_per_s < 0) throw std::invalid_argument("--refill-per-s must not be negative");
  if (remove_per_s < 0) throw std::invalid_argument("--remove-per-s must not be negative");
  if (lease_s > max_lease_s) throw std::invalid_argument("--lease-s must not be above --max-lease-s");
  if (!database.empty() && database.rfind("postgresql://", 0) != 0 && database.rfind("postgres://", 0) != 0)
    throw std::invalid_argument("--database must be a postgresql:// URL (SQLite needs none: it lives in --data-dir)");
  if (data_mount.empty() || data_mount.front() != '/' || data_mount == "/" || data_mount.find("/scratch") == 0)
    throw std::invalid_argument("--data-mount must be an absolute path other than / and /scratch");
}

std::string Config::database_path() const { return data_dir + "/warmpool.db"; }

std::string Config::control_key_path() const {
  return control_key_file.empty() ? data_dir + "/control.key" : control_key_file;
}

std::size_t Config::allocation_body_bytes() const {
  if (max_init_bytes == 0) return max_body_bytes;  // no files: no room to add
  return std::max(max_body_bytes, max_init_bytes / 3 * 4 + 4 + 64 * 1024);
}

}  // namespace warmpool
