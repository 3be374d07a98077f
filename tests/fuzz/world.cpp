#include "fuzz/world.hpp"

#include <random>
#include <tuple>

#include "api/problem.hpp"
#include "app/app.hpp"

namespace warmpool::fuzz {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir() {
  std::random_device r;
  const auto dir = fs::temp_directory_path() / ("warmpool-fuzz-" + std::to_string(r()) + std::to_string(r()));
  fs::create_directories(dir);
  return dir;
}

Config make_config(const fs::path& dir, const std::string& docs_dir, bool tokens) {
  Config c;
  c.data_dir = dir.string();
  c.docs_dir = docs_dir;
  c.manager_id = "fuzz";
  c.http_threads = 24;  // the concurrent bursts' keep-alive clients each hold one
  c.max_instances = 4;
  c.min_idle = 0;
  c.max_idle = 4;
  c.keep_running = 1;
  c.port_first = 41000;
  c.port_last = 41063;
  c.host_limit = 1.0;
  c.allocate_timeout_ms = 300;  // a full pool answers 503 soon
  c.max_init_bytes = 0;  // no init files: every route's body limit is --max-body-bytes, as the generator assumes
  c.max_digits = 1000;
  c.job_workers = 1;
  c.job_poll_ms = 5;
  c.reset_timeout_ms = 200;
  c.ping_timeout_ms = 200;
  c.ready_timeout_ms = 2000;
  if (tokens) {
    c.api_token = kApiToken;
    c.admin_token = kAdminToken;
  }
  return c;
}

jobs::JobSettings fast_job_settings(const Config& c) {
  jobs::JobSettings s = job_settings(c);
  s.progress_every = std::chrono::milliseconds(0);
  s.call_timeout = std::chrono::milliseconds(200);
  s.lost_after = std::chrono::milliseconds(500);
  s.allocate_attempt = std::chrono::milliseconds(200);
  return s;
}

json job_json(const Job& j) {
  json r = nullptr;
  if (j.result) r = {{"name", j.result->name}, {"sha256", j.result->sha256}, {"bytes", j.result->bytes}};
  auto opt = [](const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); };
  return {{"id", j.id}, {"digits", j.digits}, {"state", to_string(j.state)}, {"progress", j.progress},
          {"created", j.created_ms}, {"updated", j.updated_ms}, {"started", opt(j.started_ms)},
          {"finished", opt(j.finished_ms)}, {"attempts", j.attempts}, {"allocation", j.allocation_id},
          {"error", j.error}, {"result", r}, {"source", opt(j.source_job)}};
}

auto fields(const Instance& i) {
  return std::tie(i.id, i.container_id, i.host, i.port, i.state, i.created_ms, i.updated_ms, i.deleted_ms,
                  i.failures, i.restarts, i.last_error);
}
auto fields(const Allocation& a) {
  return std::tie(a.id, a.instance_id, a.endpoint, a.client, a.created_ms, a.expires_ms, a.deleted_ms,
                  a.end_reason);
}
bool same(const std::optional<ResultFile>& a, const std::optional<ResultFile>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  return std::tie(a->name, a->sha256, a->bytes) == std::tie(b->name, b->sha256, b->bytes);
}
bool same(const Job& a, const Job& b) {
  return std::tie(a.id, a.digits, a.state, a.progress, a.created_ms, a.updated_ms, a.started_ms, a.finished_ms,
                  a.attempts, a.allocation_id, a.error, a.source_job) ==
             std::tie(b.id, b.digits, b.state, b.progress, b.created_ms, b.updated_ms, b.started_ms, b.finished_ms,
                      b.attempts, b.allocation_id, b.error, b.source_job) &&
         same(a.result, b.result);
}
template <typename T, typename Same>
bool all_same(const std::vector<T>& a, const std::vector<T>& b, Same same_one) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (!same_one(a[k], b[k])) return false;
  return true;
}

}  // namespace

bool Snapshot::operator==(const Snapshot& o) const {
  return all_same(instances, o.instances, [](const auto& x, const auto& y) { return fields(x) == fields(y); }) &&
         all_same(allocations, o.allocations, [](const auto& x, const auto& y) { return fields(x) == fields(y); }) &&
         all_same(jobs, o.jobs, [](const auto& x, const auto& y) { return same(x, y); }) &&
         containers == o.containers && result_files == o.result_files;
}

json Snapshot::to_json() const {
  json out = {{"instances", json::array()}, {"allocations", json::array()}, {"jobs", json::array()},
              {"containers", json::object()}, {"resultFiles", result_files}};
  for (const auto& i : instances) out["instances"].push_back(api::to_json(i));
  for (const auto& a : allocations) out["allocations"].push_back(api::to_json(a));
  for (const auto& j : jobs) out["jobs"].push_back(job_json(j));
  for (const auto& [id, c] : containers)
    out["containers"][id] = {{"status", engine::to_string(c.first)}, {"endpoint", c.second}};
  return out;
}

World::World(const std::string& docs_dir)
    : dir(fresh_dir()),
      open_config(make_config(dir, docs_dir, false)),
      token_config(make_config(dir, docs_dir, true)),
      store(open_config.database_path()),
      lanes({.high_threads = 2, .normal_threads = 2, .high_capacity = 256, .normal_capacity = 256}),
      // No host monitor: the build shares this machine, and headroom is not under test.
      pool(pool_settings(open_config), store, engine, worker, lanes, clock),
      runner(fast_job_settings(open_config), store, pool, compute, clock),
      scheduler({.period = std::chrono::milliseconds(1000), .watch_events = false}, pool, store, engine,
                clock, host),
      open_server(open_config, pool, store, engine, lanes,
                  {[this] { return scheduler.engine_reachable(); }, [this] { return scheduler.last_error(); }, {}, {}}),
      token_server(token_config, pool, store, engine, lanes,
                   {[this] { return scheduler.engine_reachable(); }, [this] { return scheduler.last_error(); }, {}, {}}) {
  compute.polls_to_finish = 2;
  add_module_routes(open_server, open_config, store, pool, lanes, runner, clock);
  add_module_routes(token_server, token_config, store, pool, lanes, runner, clock);
  runner.start();
  for (int i = 0; i < 2; ++i) {
    ports_[i] = server(i).bind_any_port("127.0.0.1");
    serving_.emplace_back([this, i] { server(i).listen_after_bind(); });
  }
}

World::~World() {
  open_server.stop();
  token_server.stop();
  for (auto& t : serving_) t.join();
  runner.stop();
  scheduler.stop();
  lanes.stop();
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

Snapshot World::snapshot() {
  Snapshot snap;
  snap.instances = store.instances(Show::All);
  snap.allocations = store.allocations(Show::All);
  snap.jobs = store.recent_jobs(1'000'000);
  for (const auto& [id, c] : engine.containers()) snap.containers[id] = {c.status, c.endpoint};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir / "results", ec))
    snap.result_files.push_back(entry.path().filename().string());
  std::sort(snap.result_files.begin(), snap.result_files.end());
  return snap;
}

bool World::in_flight(std::string& what) {
  if (!pool.claimed().empty()) return what = "instances claimed by an operation", true;
  for (Lane lane : {Lane::High, Lane::Normal}) {
    const auto s = lanes.stats(lane);
    if (s.queued || s.running) return what = std::string(to_string(lane)) + " lane busy", true;
  }
  if (const auto queued = store.jobs_in_state(JobState::Queued, 100); !queued.empty()) {
    if (jobs_can_start()) return what = "a pi job queued", true;
    // No instance can come before a request frees one (the engine is down,
    // or the pool is full): the job would wait past this request and start
    // in the middle of the next. Cancel it; its answer has been judged.
    for (const auto& job : queued) runner.cancel(job.id);
    return what = "cancelling pi jobs that cannot start", true;
  }
  if (pool.counts().waiting) return what = "allocations waiting", true;
  if (!store.jobs_in_state(JobState::Running, 1).empty()) return what = "a pi job running", true;
  for (const auto& a : store.allocations(Show::Current))
    if (a.client.rfind("pi job ", 0) == 0) return what = "the job runner holds " + a.id, true;
  return false;
}

bool World::jobs_can_start() {
  const auto claimed = pool.claimed();
  const auto instances = store.instances(Show::Current);
  for (const auto& i : instances) {
    if (claimed.count(i.id)) continue;
    if (i.state == InstanceState::Ready) return true;
    if (i.state == InstanceState::Paused && engine_reachable_) return true;
  }
  return engine_reachable_ && static_cast<int>(instances.size()) < open_config.max_instances;
}

std::string World::settle(std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  std::string what;
  // Twice in a row, a moment apart: a thread between two steps (a task
  // just finished, its follow-up not yet posted) is not missed.
  int quiet = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (in_flight(what)) quiet = 0;
    else if (++quiet == 2) return {};
    std::this_thread::sleep_for(std::chrono::microseconds(quiet ? 200 : 1000));
  }
  return "still in flight after " + std::to_string(limit.count()) + " ms: " + what;
}

std::vector<std::string> World::invariants(const Snapshot& snap) {
  std::vector<std::string> broken;
  std::map<std::int64_t, int> holders;
  for (const auto& a : snap.allocations)
    if (a.current()) ++holders[a.instance_id];
  for (const auto& i : snap.instances) {
    const std::string state = to_string(i.state);
    const std::string name = "instance " + std::to_string(i.id) + " (" + state + ")";
    using S = InstanceState;
    if (i.state == S::Starting || i.state == S::Resetting || i.state == S::Deleting)
      broken.push_back(name + ": left in a passing state");
    if ((i.state == S::Allocated) != (holders[i.id] == 1) || holders[i.id] > 1)
      broken.push_back(name + ": " + std::to_string(holders[i.id]) + " current allocations");
    const auto c = snap.containers.find(i.container_id);
    if (i.state == S::Deleted && c != snap.containers.end()) broken.push_back(name + ": its container still exists");
    if (i.state == S::Ready || i.state == S::Allocated || i.state == S::Paused) {
      const auto want = i.state == S::Paused ? engine::ContainerStatus::Paused : engine::ContainerStatus::Running;
      if (c == snap.containers.end()) broken.push_back(name + ": no container " + i.container_id);
      else if (c->second.first != want)
        broken.push_back(name + ": container " + i.container_id + " is " + engine::to_string(c->second.first));
    }
  }
  return broken;
}

void World::set_engine_reachable(bool reachable) {
  engine.set_reachable(reachable);
  engine_reachable_ = reachable;
}

std::string World::recover(std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  std::string why;
  while (std::chrono::steady_clock::now() < end) {
    if (auto moving = settle(limit); !moving.empty()) return moving;
    bool healthy = true;
    for (const auto& i : store.instances(Show::Current))
      healthy = healthy && (i.state == InstanceState::Ready || i.state == InstanceState::Paused ||
                            i.state == InstanceState::Allocated);
    if (healthy && scheduler.engine_reachable()) return {};
    try {
      scheduler.tick();
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  return "the pool did not recover" + (why.empty() ? std::string() : ": " + why);
}

}  // namespace warmpool::fuzz
