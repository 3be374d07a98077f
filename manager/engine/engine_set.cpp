#include "engine/engine_set.hpp"

#include <algorithm>
#include <condition_variable>
#include <stdexcept>
#include <thread>

namespace warmpool::engine {

namespace {

constexpr const char* kEngineLabel = "warmpool.engine";

bool unreachable(const EngineError& e) { return e.kind() == EngineError::Kind::Unreachable; }

// Sleeps `d` unless stop is requested first.
void pause_for(std::chrono::milliseconds d, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, d, [] { return false; });
}

}  // namespace

void EngineSet::add(Member member) {
  if (!member.engine) throw std::invalid_argument("engine " + member.name + ": no client");
  std::lock_guard lock(mu_);
  for (const auto& s : slots_)
    if (s.member.name == member.name)
      throw std::invalid_argument("--engine: two engines are named \"" + member.name + "\"");
  Slot slot;
  slot.member = std::move(member);
  slots_.push_back(std::move(slot));
}

bool EngineSet::set_draining(const std::string& name, bool draining) {
  std::lock_guard lock(mu_);
  for (auto& s : slots_)
    if (s.member.name == name) {
      s.draining = draining;
      return true;
    }
  return false;
}

bool EngineSet::remove_engine(const std::string& name) {
  std::lock_guard lock(mu_);
  const auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.member.name == name; });
  if (it == slots_.end()) return false;
  slots_.erase(it);
  std::erase_if(where_, [&](const auto& w) { return w.second == name; });
  pending_.erase(name);
  return true;
}

bool EngineSet::drain(const std::string& name) { return set_draining(name, true); }
bool EngineSet::resume(const std::string& name) { return set_draining(name, false); }

std::vector<EngineSet::Status> EngineSet::status() const {
  std::lock_guard lock(mu_);
  std::vector<Status> out;
  for (const auto& s : slots_) {
    const auto n = std::count_if(where_.begin(), where_.end(), [&](const auto& w) { return w.second == s.member.name; });
    out.push_back({s.member.name, s.member.endpoint, s.state(), static_cast<int>(n), s.member.capacity,
                   s.member.weight, s.error});
  }
  return out;
}

std::size_t EngineSet::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

bool EngineSet::engine_draining() const {
  std::lock_guard lock(mu_);
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.draining; });
}

Engine* EngineSet::single() const {
  std::lock_guard lock(mu_);
  return slots_.size() == 1 ? slots_.front().member.engine : nullptr;
}

// The single-engine paths skip placement and routing, but GET /engines still
// counts the containers of its one engine.
void EngineSet::note_single(const std::string& id) {
  std::lock_guard lock(mu_);
  if (slots_.size() == 1) where_[id] = slots_.front().member.name;
}

void EngineSet::forget(const std::string& id) {
  std::lock_guard lock(mu_);
  where_.erase(id);
}

void EngineSet::mark(const std::string& name, bool answered, const std::string& error) {
  std::lock_guard lock(mu_);
  for (auto& s : slots_) {
    if (s.member.name != name) continue;
    s.down = !answered;
    s.error = answered ? "" : error;
  }
}

EngineVersion EngineSet::version() {
  std::vector<Member> members;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_) members.push_back(s.member);
  }
  if (members.empty()) throw EngineError(EngineError::Kind::Unreachable, "no engine is configured");
  if (members.size() == 1) return members.front().engine->version();
  std::optional<EngineVersion> first;
  std::string failures;
  for (const auto& m : members) {
    try {
      auto v = m.engine->version();
      mark(m.name, true);
      if (!first) first = v;
    } catch (const EngineError& e) {
      mark(m.name, false, e.what());
      failures += (failures.empty() ? "" : "; ") + m.name + ": " + e.what();
    }
  }
  if (!first) throw EngineError(EngineError::Kind::Unreachable, "no engine answers: " + failures);
  return *first;
}

std::optional<std::string> EngineSet::pick(const std::set<std::string>& tried) const {
  std::map<std::string, int> counts = pending_;  // creates under way count too: parallel creates spread
  for (const auto& [id, name] : where_) ++counts[name];
  std::vector<PlacementCandidate> candidates;
  for (const auto& s : slots_) {
    if (tried.count(s.member.name)) continue;
    candidates.push_back({s.member.name, s.state(), s.member.weight, s.member.capacity, counts[s.member.name]});
  }
  return place(candidates, placement_);
}

std::string EngineSet::create(const ContainerSpec& spec) {
  if (Engine* only = single()) {
    if (engine_draining()) throw EngineError(EngineError::Kind::Server, "create: the engine is draining");
    auto id = only->create(spec);
    note_single(id);
    return id;
  }
  std::set<std::string> tried;
  std::string failures;
  for (;;) {
    Engine* engine = nullptr;
    std::optional<std::string> name;
    {
      std::lock_guard lock(mu_);
      name = pick(tried);
      for (const auto& s : slots_)
        if (name && s.member.name == *name) engine = s.member.engine;
      if (name) ++pending_[*name];
    }
    if (!name) refuse_create(failures);
    tried.insert(*name);
    ContainerSpec placed = spec;
    placed.labels[kEngineLabel] = *name;
    std::string id;
    try {
      id = engine->create(placed);
    } catch (const EngineError& e) {
      settle_create(*name, {});
      if (!unreachable(e)) throw;
      mark(*name, false, e.what());
      failures += (failures.empty() ? "" : "; ") + *name + ": " + e.what();
      continue;
    } catch (...) {
      settle_create(*name, {});
      throw;
    }
    settle_create(*name, id);
    return id;
  }
}

void EngineSet::settle_create(const std::string& name, const std::string& id) {
  std::lock_guard lock(mu_);
  --pending_[name];
  if (!id.empty()) where_[id] = name;
}

// Nowhere to place: every engine down is the engine being unreachable, as
// with one engine; engines that answer but are full or draining are not.
void EngineSet::refuse_create(const std::string& failures) {
  bool up = false, draining = false;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_) {
      up |= s.state() == EngineState::Up;
      draining |= s.state() == EngineState::Draining;
    }
  }
  if (up) throw EngineError(EngineError::Kind::Server, "create: every engine that is up is full (its capacity)");
  if (draining) throw EngineError(EngineError::Kind::Server, "create: no engine takes new instances (draining or down)");
  throw EngineError(EngineError::Kind::Unreachable,
                    "create: no engine is up" + (failures.empty() ? std::string() : ": " + failures));
}

std::optional<std::pair<Engine*, std::string>> EngineSet::locate(const std::string& id) {
  std::vector<Member> members;
  {
    std::lock_guard lock(mu_);
    if (auto it = where_.find(id); it != where_.end())
      for (const auto& s : slots_)
        if (s.member.name == it->second) return std::pair{s.member.engine, s.member.name};
    for (const auto& s : slots_)
      if (!s.down) members.push_back(s.member);
  }
  for (const auto& m : members) {
    try {
      m.engine->inspect(id);
      std::lock_guard lock(mu_);
      where_[id] = m.name;
      return std::pair{m.engine, m.name};
    } catch (const EngineError& e) {
      if (unreachable(e)) mark(m.name, false, e.what());
      else if (e.kind() != EngineError::Kind::NotFound) throw;
    }
  }
  return std::nullopt;
}

std::pair<Engine*, std::string> EngineSet::route(const std::string& id) {
  if (auto found = locate(id)) return *found;
  std::string down;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_)
      if (s.down) down += (down.empty() ? "" : ", ") + s.member.name;
  }
  if (!down.empty())
    throw EngineError(EngineError::Kind::Unreachable,
                      "container " + id + ": on no engine that answers (down: " + down + ")", 0, id);
  throw EngineError(EngineError::Kind::NotFound, "no such container: " + id + " (on no engine)", 404, id);
}

template <typename Call>
auto EngineSet::routed(const std::string& id, Call call) -> decltype(call(std::declval<Engine&>())) {
  if (Engine* only = single()) {
    try {
      return call(*only);
    } catch (const EngineError& e) {
      if (e.kind() == EngineError::Kind::NotFound) forget(id);
      throw;
    }
  }
  auto [engine, name] = route(id);
  try {
    return call(*engine);
  } catch (const EngineError& e) {
    if (unreachable(e)) mark(name, false, e.what());
    if (e.kind() == EngineError::Kind::NotFound) forget(id);
    throw EngineError(e.kind(), e.what(), e.http_status(), id);
  }
}

void EngineSet::start(const std::string& id) { routed(id, [&](Engine& e) { e.start(id); }); }
void EngineSet::pause(const std::string& id) { routed(id, [&](Engine& e) { e.pause(id); }); }
void EngineSet::unpause(const std::string& id) { routed(id, [&](Engine& e) { e.unpause(id); }); }
void EngineSet::stop(const std::string& id, std::chrono::seconds grace) {
  routed(id, [&](Engine& e) { e.stop(id, grace); });
}
void EngineSet::kill(const std::string& id, const std::string& signal) {
  routed(id, [&](Engine& e) { e.kill(id, signal); });
}
ContainerInfo EngineSet::inspect(const std::string& id) {
  return routed(id, [&](Engine& e) { return e.inspect(id); });
}

void EngineSet::remove(const std::string& id) {
  if (Engine* only = single()) {
    only->remove(id);
    forget(id);
    return;
  }
  try {
    routed(id, [&](Engine& e) { e.remove(id); });
  } catch (const EngineError& e) {
    if (e.kind() != EngineError::Kind::NotFound) throw;  // gone already: removed
  }
  forget(id);
}

std::vector<ContainerInfo> EngineSet::list(const Labels& match) {
  if (Engine* only = single()) {
    auto listed = only->list(match);
    for (const auto& c : listed) note_single(c.id);
    return listed;
  }
  std::vector<Member> members;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_) members.push_back(s.member);
  }
  std::vector<ContainerInfo> all;
  std::string failures;
  bool answered = false;
  for (const auto& m : members) {
    try {
      auto listed = m.engine->list(match);
      mark(m.name, true);
      answered = true;
      std::lock_guard lock(mu_);
      for (const auto& c : listed) where_[c.id] = m.name;
      all.insert(all.end(), listed.begin(), listed.end());
    } catch (const EngineError& e) {
      if (!unreachable(e) && e.kind() != EngineError::Kind::Timeout) throw;
      mark(m.name, false, e.what());
      failures += (failures.empty() ? "" : "; ") + m.name + ": " + e.what();
    }
  }
  if (!answered) throw EngineError(EngineError::Kind::Unreachable, "list: no engine answers: " + failures);
  return all;
}

bool EngineSet::image_exists(const std::string& image) {
  if (Engine* only = single()) return only->image_exists(image);
  std::vector<Member> members;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_)
      if (!s.down) members.push_back(s.member);
  }
  for (const auto& m : members)
    if (!m.engine->image_exists(image)) return false;
  return true;
}

void EngineSet::watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                             std::stop_token stop) {
  struct Watch {
    std::stop_source own;  // this engine's: requested when it leaves the set
    std::jthread thread;
  };
  std::map<std::string, Watch> watches;
  auto watch_one = [&match, &on_event, stop](Member m, std::stop_token own) {
    std::stop_source either;  // stops on the set's stop or the engine's own
    std::stop_callback on_stop(stop, [&either] { either.request_stop(); });
    std::stop_callback on_removed(own, [&either] { either.request_stop(); });
    while (!either.stop_requested()) {
      try {
        m.engine->watch_events(match, on_event, either.get_token());
      } catch (const EngineError&) {
        // This engine's stream broke; the others go on. Reconnect shortly.
      }
      pause_for(std::chrono::milliseconds(1000), either.get_token());
    }
  };
  while (!stop.stop_requested()) {
    std::vector<Member> members;
    {
      std::lock_guard lock(mu_);
      for (const auto& s : slots_) members.push_back(s.member);
    }
    for (const auto& m : members)
      if (!watches.count(m.name)) {
        Watch& w = watches[m.name];
        w.thread = std::jthread(watch_one, m, w.own.get_token());
      }
    std::erase_if(watches, [&](auto& w) {
      const bool gone = std::none_of(members.begin(), members.end(), [&](const Member& m) { return m.name == w.first; });
      if (gone) w.second.own.request_stop();  // erasing joins its thread
      return gone;
    });
    pause_for(std::chrono::milliseconds(1000), stop);  // engines added meanwhile are watched from the next round
  }
  // The watches end with stop; their destructors join them.
}

std::string EngineSet::engine_of(const std::string& container_id) {
  std::lock_guard lock(mu_);
  if (slots_.size() == 1) return slots_.front().member.name;
  auto it = where_.find(container_id);
  return it == where_.end() ? std::string() : it->second;
}

bool EngineSet::engine_up(const std::string& name) {
  std::lock_guard lock(mu_);
  if (slots_.size() == 1) return true;
  for (const auto& s : slots_)
    if (s.member.name == name) return !s.down;
  return false;
}

}  // namespace warmpool::engine
