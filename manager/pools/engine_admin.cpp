#include "pools/engine_admin.hpp"

#include <condition_variable>

#include <spdlog/spdlog.h>

#include "engine/endpoint.hpp"

namespace warmpool {

using engine::EngineSet;

namespace {

// The name must be free in the set, the endpoint must parse with its TLS
// files, and the files must be readable.
void check_spec(const engine::EngineSpec& spec, const EngineSet& engines) {
  if (!engine::valid_engine_name(spec.name))
    throw EngineRefused(400, "\"name\": an engine's name is 1 to 63 letters, digits, '-', '_' or '.'");
  if (spec.capacity < 0) throw EngineRefused(400, "\"capacity\": must be a whole number >= 0 (0: no limit)");
  if (!(spec.weight > 0)) throw EngineRefused(400, "\"weight\": must be a number above 0");
  for (const auto& e : engines.status())
    if (e.name == spec.name) throw EngineRefused(409, "an engine named \"" + spec.name + "\" exists");
  try {
    engine::parse_engine_endpoint(spec.endpoint, spec.tls);
  } catch (const std::invalid_argument& e) {
    throw EngineRefused(400, std::string("\"endpoint\": ") + e.what());
  }
  if (const std::string problem = engine::tls_file_problem(spec.tls); !problem.empty())
    throw EngineRefused(400, "engine " + spec.name + ": cannot read TLS " + problem);
}

EngineRecord record_of(const engine::EngineSpec& spec, std::int64_t now_ms) {
  return {spec.name, spec.endpoint, spec.capacity, spec.weight, spec.tls.ca, spec.tls.cert, spec.tls.key, now_ms};
}

}  // namespace

EngineAdmin::EngineAdmin(EngineSet& engines, Store& store, Pool& pool, const Clock& clock, Connect connect,
                         Settings settings)
    : engines_(engines), store_(store), pool_(pool), clock_(clock), connect_(std::move(connect)),
      settings_(std::move(settings)) {}

EngineAdmin::~EngineAdmin() { stop(); }

EngineSet::Status EngineAdmin::add(const engine::EngineSpec& spec) {
  if (!settings_.no_more_engines.empty()) throw EngineRefused(409, settings_.no_more_engines);
  check_spec(spec, engines_);
  engine::Engine& client = connect_(spec);
  try {
    client.version();
  } catch (const engine::EngineError& e) {
    throw EngineRefused(400, "engine " + spec.name + " does not answer: " + e.what());
  }
  try {
    store_.add_engine(record_of(spec, clock_.now_ms()));
  } catch (const EngineExists&) {
    throw EngineRefused(409, "an engine named \"" + spec.name + "\" is recorded (added by another manager?)");
  }
  try {
    engines_.add({spec.name, &client, spec.endpoint, spec.capacity, spec.weight});
  } catch (const std::invalid_argument&) {  // added meanwhile by another request
    throw EngineRefused(409, "an engine named \"" + spec.name + "\" exists");
  }
  spdlog::info("engine {} added at {}", spec.name, spec.endpoint);
  return status(spec.name);
}

bool EngineAdmin::remove(const std::string& name) {
  const auto state = status(name).state;  // 404 when unknown
  if (settings_.flag_engines.count(name))
    throw EngineRefused(409, "engine " + name + " is configured by --engine: remove the flag and restart");
  int allocated = 0;
  live_instances_on(name, &allocated);
  if (allocated > 0 && state != engine::EngineState::Draining)
    throw EngineRefused(409, "engine " + name + " holds " + std::to_string(allocated) +
                                 " allocated instances: drain it first (POST /engines/" + name + "/drain)");
  engines_.drain(name);
  {
    std::lock_guard lock(mu_);
    leaving_.insert(name);
  }
  remove_idle_on(name);
  settle();
  std::lock_guard lock(mu_);
  return !leaving_.count(name);
}

EngineSet::Status EngineAdmin::drain(const std::string& name) {
  if (!engines_.drain(name)) throw EngineRefused(404, "no engine named \"" + name + "\"");
  const int removed = remove_idle_on(name);
  spdlog::info("engine {} draining: {} idle instances removed", name, removed);
  return status(name);
}

EngineSet::Status EngineAdmin::resume(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (leaving_.count(name)) throw EngineRefused(409, "engine " + name + " is being removed");
  }
  if (!engines_.resume(name)) throw EngineRefused(404, "no engine named \"" + name + "\"");
  spdlog::info("engine {} resumed: it takes new instances again", name);
  return status(name);
}

void EngineAdmin::settle() {
  for (const auto& e : engines_.status())
    if (e.state == engine::EngineState::Draining) remove_idle_on(e.name);
  std::set<std::string> leaving;
  {
    std::lock_guard lock(mu_);
    leaving = leaving_;
  }
  for (const auto& name : leaving) {
    if (live_instances_on(name) > 0) continue;
    store_.remove_engine(name);
    engines_.remove_engine(name);
    std::lock_guard lock(mu_);
    leaving_.erase(name);
    spdlog::info("engine {} removed", name);
  }
}

void EngineAdmin::start(std::chrono::milliseconds period) {
  upkeep_ = std::jthread([this, period](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    while (!stop.stop_requested()) {
      try {
        settle();
      } catch (const std::exception& e) {
        spdlog::warn("engines: {}", e.what());  // tried again next period
      }
      std::unique_lock lock(m);
      cv.wait_for(lock, stop, period, [] { return false; });
    }
  });
}

void EngineAdmin::stop() noexcept {
  upkeep_.request_stop();
  if (upkeep_.joinable()) upkeep_.join();
}

EngineSet::Status EngineAdmin::status(const std::string& name) const {
  for (const auto& e : engines_.status())
    if (e.name == name) return e;
  throw EngineRefused(404, "no engine named \"" + name + "\"");
}

// Idle instances on the engine go now; a busy one (claimed by a check or a
// hand-out) is left for the next settle.
int EngineAdmin::remove_idle_on(const std::string& name) {
  int removed = 0;
  for (const auto& i : store_.instances(Show::Current)) {
    if (i.engine != name || !is_idle(i.state)) continue;
    try {
      removed += pool_.delete_instance(i.id, "engine " + name + " drained").has_value();
    } catch (const PoolConflict& e) {
      spdlog::debug("drain {}: {}", name, e.what());
    }
  }
  return removed;
}

int EngineAdmin::live_instances_on(const std::string& name, int* allocated) {
  int live = 0;
  for (const auto& i : store_.instances(Show::Current)) {
    if (i.engine != name || i.state == InstanceState::Deleted) continue;
    ++live;
    if (allocated) *allocated += i.state == InstanceState::Allocated;
  }
  return live;
}

}  // namespace warmpool
