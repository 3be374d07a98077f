#include "app/app.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <tuple>

#include <spdlog/spdlog.h>

#include "api/compat_ptanywhere.hpp"
#include "api/dashboard.hpp"
#include "api/docs.hpp"
#include "api/engine_routes.hpp"
#include "api/pi_job_routes.hpp"
#include "api/pools_routes.hpp"
#include "base/text.hpp"
#include "store/sqlite_store.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool {

namespace {
Config prepared(Config config) {
  config.validate();  // before anything is written
  const auto specs = engine_specs(config);
  for (const auto& spec : specs) {
    try {
      check_engine_options(engine_options(config, spec));
    } catch (const std::invalid_argument& e) {
      if (specs.size() == 1) throw;
      throw std::invalid_argument("engine " + spec.name + ": " + e.what());
    }
  }
  return with_tokens(std::move(config), std::cerr);
}
PoolSettings with_control_key(PoolSettings settings, const std::string& key) {
  settings.control_key = key;
  return settings;
}
}  // namespace

std::string load_secret(const std::string& path, bool* made) {
  if (made) *made = false;
  std::string key;
  if (std::ifstream in(path); in && std::getline(in, key) && key.size() >= 32) return key;
  unsigned char bytes[32];
  for (std::size_t got = 0; got < sizeof bytes;) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  key = to_hex(bytes, sizeof bytes);
  // Written aside, then linked into place: a crash never leaves half a key,
  // and of managers starting at once on a shared file, the first one's wins.
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string line = key + "\n";
  const bool written = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) ::close(fd);
  const bool linked = written && ::link(temp.c_str(), path.c_str()) == 0;
  if (written && !linked) err = errno;
  ::unlink(temp.c_str());
  if (linked) {
    if (made) *made = true;
    return key;
  }
  if (err == EEXIST) {
    if (std::ifstream in(path); in && std::getline(in, key) && key.size() >= 32) return key;
  }
  throw std::runtime_error("write " + path + ": " + std::strerror(err));
}

Config with_tokens(Config config, std::ostream& out) {
  std::filesystem::create_directories(config.data_dir);
  if (config.insecure) return config;
  if (!config.token_dir.empty()) std::filesystem::create_directories(config.token_dir);
  for (auto [token, path, what] : {std::tuple{&config.api_token, config.api_token_path(), "API"},
                                   std::tuple{&config.admin_token, config.admin_token_path(), "admin"}}) {
    if (!token->empty()) continue;
    bool made = false;
    *token = load_secret(path, &made);
    if (made)
      out << "warmpool: made the " << what << " token (kept in " << path << ", mode 0600; shown only now): "
          << *token << "\n";
  }
  return config;
}

void require_data_volume(engine::DockerEngine& engine, const Config& config) {
  if (config.data_volume.empty() || engine.volume_exists(config.data_volume)) return;
  throw std::runtime_error("--data-volume " + config.data_volume + ": the engine has no such volume; make it from a "
                           "directory with `scripts/data-volume DIR " + config.data_volume +
                           "` (or `docker volume create " + config.data_volume + "` and fill it)");
}

jobs::JobSettings job_settings(const Config& c) {
  jobs::JobSettings s;
  s.results_dir = std::filesystem::path(c.data_dir) / "results";
  s.max_digits = c.max_digits;
  s.workers = c.job_workers > 0 ? c.job_workers : std::max(1, c.max_instances - 1);
  s.retries = c.job_retries;
  s.poll_interval = std::chrono::milliseconds(c.job_poll_ms);
  return s;
}

PoolSettings pool_settings(const Config& c) {
  PoolSettings s;
  s.policy.max_instances = c.max_instances;
  s.policy.min_idle = c.min_idle;
  s.policy.max_idle = c.max_idle;
  s.policy.keep_running = c.keep_running;
  s.policy.idle_shrink_ms = static_cast<std::int64_t>(c.idle_shrink_s) * 1000;
  s.policy.adaptive = c.pool_policy == "adaptive";
  s.policy.pause_grace_ms = c.pause_grace_ms;
  s.policy.surplus_ttl_ms = static_cast<std::int64_t>(c.surplus_ttl_s) * 1000;
  s.demand.peak_half_life_ms = static_cast<std::int64_t>(c.burst_half_life_s) * 1000;
  s.capacity.instance_memory_bytes = c.instance_memory_mb << 20;
  s.capacity.memory_budget_bytes = c.memory_budget_mb << 20;
  s.capacity.instance_cpus = c.instance_cpus;
  s.capacity.cpu_budget = c.cpu_budget;
  s.capacity.host_limit = c.host_limit;
  s.capacity.host_cpu_limit = c.host_cpu_limit;
  s.capacity.host_memory_limit = c.host_memory_limit;
  s.manager_id = c.manager_id;
  s.image = c.image;
  s.worker_host = c.worker_host;
  s.port_first = c.port_first;
  s.port_last = c.port_last;
  s.container.memory_bytes = c.instance_memory_mb << 20;
  s.container.nano_cpus = static_cast<std::int64_t>(c.instance_cpus * 1e9);
  s.container.pids_limit = c.instance_pids;
  s.container.tmpfs_bytes = c.instance_tmpfs_mb << 20;
  s.protocol.health = health_check_from(c.health).value_or(HealthCheck::Worker);
  s.protocol.health_path = c.health_path;
  s.protocol.reset = reset_method_from(c.reset).value_or(ResetMethod::Worker);
  if (auto refusal = protocol_refusal(s.protocol))
    throw std::invalid_argument("--health " + c.health + " --reset " + c.reset + ": " + *refusal);
  s.client_quota = c.quota_per_client;
  s.overall_quota = c.quota_overall;
  s.max_restarts = c.max_restarts;
  s.ping_timeout = std::chrono::milliseconds(c.ping_timeout_ms);
  s.reset_timeout = std::chrono::milliseconds(c.reset_timeout_ms);
  s.init_timeout = std::chrono::milliseconds(c.init_timeout_ms);
  if (!c.data_volume.empty()) {
    s.container.volume = c.data_volume;
    s.container.volume_target = c.data_mount;
    s.worker_args = {"--data", c.data_mount};
  }
  s.ready_timeout = std::chrono::milliseconds(c.ready_timeout_ms);
  s.default_lease_ms = static_cast<std::int64_t>(c.lease_s) * 1000;
  s.max_lease_ms = static_cast<std::int64_t>(c.max_lease_s) * 1000;
  if (c.uses_postgres()) s.shared_store_poll = std::chrono::milliseconds(100);
  return s;
}


Scheduler::Settings scheduler_settings(const Config& config) {
  return {.period = std::chrono::milliseconds(config.scheduler_period_ms),
          .retention = {.keep_ms = static_cast<std::int64_t>(config.keep_finished_hours * 3'600'000)},
          .refill_pace = {.per_s = config.refill_per_s},
          .remove_pace = {.per_s = config.remove_per_s},
          .engine_grace = std::chrono::milliseconds(static_cast<std::int64_t>(config.engine_grace_s) * 1000)};
}

namespace {
// The engine in /health, as the scheduler's ticks see it.
std::optional<nlohmann::json> engine_health(const Scheduler& scheduler, const engine::EngineSet& engines) {
  const auto version = scheduler.engine_version();
  if (!version) return std::nullopt;  // not checked yet: the server asks itself
  nlohmann::json health = {{"reachable", scheduler.engine_reachable()}};
  if (!scheduler.engine_reachable()) health["error"] = scheduler.last_error();
  else health.update({{"version", version->version}, {"apiVersion", version->api_version}});
  if (engines.size() > 1) health["engines"] = api::engines_json(engines);
  return health;
}

// Several managers: who this one is, and who leads.
nlohmann::json managers_json(const Config& config, const Scheduler& scheduler) {
  const bool leading = scheduler.leadership().leading();
  const std::string other = scheduler.leadership().leader();
  const std::string self = manager_name(config);
  nlohmann::json leader = nullptr;
  if (leading) leader = self;
  else if (!other.empty()) leader = other;
  return {{"self", self},
          {"leading", leading},
          {"leader", leader},
          {"database", config.uses_postgres() ? "postgresql" : "sqlite"}};
}
}  // namespace

std::string manager_name(const Config& config) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(config.listen_port) + "/" + std::to_string(getpid());
}

std::unique_ptr<Store> open_store(const Config& config) {
  if (config.uses_postgres()) return std::make_unique<PgStore>(config.database, manager_name(config));
  return std::make_unique<SqliteStore>(config.database_path());
}

namespace {
engine::TlsFiles engine_tls_files(const Config& config) {
  engine::TlsFiles tls;
  if (!config.engine_cert_dir.empty()) tls = engine::TlsFiles::in_directory(config.engine_cert_dir);
  if (!config.engine_ca.empty()) tls.ca = config.engine_ca;
  if (!config.engine_cert.empty()) tls.cert = config.engine_cert;
  if (!config.engine_key.empty()) tls.key = config.engine_key;
  return tls;
}
}  // namespace

std::vector<engine::EngineSpec> engine_specs(const Config& config) {
  if (config.engines.empty()) return {engine::EngineSpec{engine::kDefaultEngine, config.engine}};
  std::vector<engine::EngineSpec> specs;
  for (const auto& text : config.engines) specs.push_back(engine::parse_engine_spec(text));
  engine::check_engine_names(specs);
  return specs;
}

engine::DockerEngine::Options engine_options(const Config& config) {
  return engine_options(config, engine_specs(config).front());
}

engine::DockerEngine::Options engine_options(const Config& config, const engine::EngineSpec& spec) {
  auto options = engine_options(config, spec.endpoint);
  if (!spec.tls.empty()) options.tls = spec.tls;
  return options;
}

engine::DockerEngine::Options engine_options(const Config& config, const std::string& endpoint) {
  auto options = engine::DockerEngine::Options::from_env();
  if (!endpoint.empty()) {
    options.endpoint = endpoint;
    options.tls = {};
    if (endpoint.rfind("tcp://", 0) == 0) options.tls = engine::DockerEngine::Options::tls_from_env();
  }
  if (const auto tls = engine_tls_files(config); !tls.empty()) options.tls = tls;
  options.timeout = std::chrono::milliseconds(config.engine_timeout_ms);
  return options;
}


namespace {
// The freezer reaches one local engine's cgroups; several engines (the
// flags' and those recorded through the API) pause their own containers.
engine::PauseChoice pause_choice_for(const Config& config, engine::DockerEngine& first, std::size_t engines) {
  if (engines > 1) return {nullptr, "several engines: each pauses its own containers"};
  return engine::choose_pause_path(engine::pause_via_from(config.pause_via), first);
}

EngineAdmin::Settings engine_admin_settings(const Config& config, const engine::PauseChoice& pausing) {
  EngineAdmin::Settings s;
  for (const auto& spec : engine_specs(config)) s.flag_engines.insert(spec.name);
  if (pausing.freezer)
    s.no_more_engines = "this manager pauses through the cgroup freezer of its one engine; start it with "
                        "--pause-via engine to add engines";
  return s;
}
}  // namespace

void check_engine_options(const engine::DockerEngine::Options& options) {
  engine::parse_engine_endpoint(options.endpoint, options.tls);
  if (const std::string problem = engine::tls_file_problem(options.tls); !problem.empty())
    throw std::invalid_argument("engine " + options.endpoint + ": cannot read TLS " + problem);
}

void add_module_routes(api::Server& server, const Config& config, Store& store, Pool& pool,
                       Lanes& lanes, jobs::JobRunner& pi_jobs, const Clock& clock) {
  api::add_docs_routes(server, config);
  jobs::add_pi_job_routes(server, pi_jobs, store, clock);
  api::add_ptanywhere_routes(server, config, store, pool);
  api::add_dashboard_routes(server, config, store, pool, lanes, clock,
                            {.pi_jobs = [&store, &clock] { return jobs::recent_jobs_json(store, clock, 20); }});
}

namespace {
// The pools as pi jobs see them, `default` first (ties go to it).
std::vector<jobs::JobPool> job_pools(Pools& pools) {
  std::vector<jobs::JobPool> out;
  for (const PoolRecord& r : pools.list()) {
    jobs::JobPool pool{r.name, r.memory_mb << 20, r.health == "worker", r.state == PoolState::Active};
    if (r.name == kDefaultPool) out.insert(out.begin(), pool);
    else out.push_back(pool);
  }
  return out;
}
}  // namespace

App::App(Config c)
    : config(prepared(std::move(c))),
      control_key(load_secret(config.control_key_path())),
      engine(engine_options(config)),
      timed_engine(engine,
                   [this](const std::string& operation, bool ok, double seconds) {
                     metrics.observe_engine_call(operation, ok, seconds);
                   }),
      host(static_cast<std::int64_t>(config.host_cpu_window_s) * 1000),
      worker(control_key),
      owned_store(open_store(config)),
      store(*owned_store),
      lanes({.high_threads = config.high_threads,
             .normal_threads = config.normal_threads,
             .high_capacity = static_cast<std::size_t>(config.queue_capacity),
             .normal_capacity = static_cast<std::size_t>(config.queue_capacity)},
            [this](Lane lane, std::chrono::nanoseconds waited) {
              metrics.observe_queue_wait(lane, std::chrono::duration<double>(waited).count());
            }),
      engines(config, timed_engine,
              [this](const std::string& operation, bool ok, double seconds) {
                metrics.observe_engine_call(operation, ok, seconds);
              },
              store),
      pause_choice(pause_choice_for(config, engine, engines.set.size())),
      pauser(engines.set, pause_choice.freezer.get(), pause_choice.why),
      pool(with_control_key(pool_settings(config), control_key), store, engines.set, worker, lanes, clock, &host, &metrics,
           SteadyClock::real(), &pauser),
      pi_jobs(job_settings(config), store, pool, worker, clock, &metrics),
      scheduler(default_scheduler_settings(), pool, store, engines.set, clock, host, &metrics),
      pools({store, engines.set, worker, lanes, clock, host, &metrics, &pauser}, scheduler_settings(config), pool,
            scheduler),
      engine_admin(engines.set, store, pool, clock,
                   [this](const engine::EngineSpec& spec) -> engine::Engine& { return engines.connect(spec); },
                   engine_admin_settings(config, pause_choice)),
      server(config, pool, store, engines.set, lanes,
             {[this] { return scheduler.engine_reachable(); },
              [this] { return scheduler.last_error(); },
              [this] { return engine_health(scheduler, engines.set); },
              [this] { return managers_json(config, scheduler); },
              [this] { return api::engines_json(engines.set); }},
             &metrics) {
  host.sample();
  spdlog::info("pausing through {}: {}", pause_choice.freezer ? "the cgroup freezer" : "the engine",
               pause_choice.why);
  add_module_routes(server, config, store, pool, lanes, pi_jobs, clock);
  pools.load();
  pi_jobs.use_pools({[this] { return job_pools(pools); },
                     [this](const std::string& name) { return pools.find(name); }});
  server.serve_pools(pools);
  api::add_pools_routes(server, pools, store);
  api::add_engine_routes(server, engines.set, engine_admin);
  metrics.engine_states = [this] {
    std::vector<std::pair<std::string, std::string>> states;
    for (const auto& e : engines.set.status()) states.emplace_back(e.name, engine::to_string(e.state));
    return states;
  };
  metrics.pool_names = [this] {
    std::vector<std::string> names;
    for (const auto& p : pools.list()) names.push_back(p.name);
    return names;
  };
  pi_jobs.start();
}

// The default pool's reconcile also takes the leftovers of pools that are gone.
Scheduler::Settings App::default_scheduler_settings() {
  Scheduler::Settings s = scheduler_settings(config);
  s.reconciles = [this](const std::string& label) { return pools.reconciled_by_default(label); };
  return s;
}

void App::start_scheduling() {
  scheduler.start();
  pools.start();
  engine_admin.start(std::chrono::milliseconds(config.scheduler_period_ms));
}

App::~App() { stop(); }

int App::serve_in_background(const std::string& listen_host, int listen_port) {
  if (listen_port > 0 && !server.bind(listen_host, listen_port))
    throw std::runtime_error("cannot listen on " + listen_host + ":" + std::to_string(listen_port));
  const int port = listen_port > 0 ? listen_port : server.bind_any_port(listen_host);
  serving_ = std::thread([this] { server.listen_after_bind(); });
  return port;
}


void App::stop() noexcept {
  server.stop();
  if (serving_.joinable()) serving_.join();
  pi_jobs.stop();
  engine_admin.stop();
  pools.stop();
  scheduler.stop();
  lanes.stop();
  if (config.remove_on_exit && !removed_) {
    removed_ = true;
    pools.remove_all("the manager stopped with --remove-on-exit");
  }
}

}  // namespace warmpool
