// Several engines behind the one Engine interface the pool and scheduler
// speak to. A container call goes to the engine that holds the container
// (learnt at create and at list, else found by asking each); a create goes
// where placement (placement.hpp) says; list merges the engines that answer;
// the event stream merges one watch per engine. Each engine has a state:
// down once a call finds it unreachable or a check fails, up again once a
// check (version) or a listing reaches it.
//
// With one member the set passes every call but the event watch (which
// follows engines added later) straight through: errors,
// states and reachability are exactly that engine's, as without a set.
//
// Thread-safe. No lock is held across an engine call.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/placement.hpp"

namespace warmpool::engine {

class EngineSet final : public Engine {
 public:
  struct Member {
    std::string name;
    Engine* engine = nullptr;  // must outlive the set
    std::string endpoint;      // for display only
    int capacity = 0;          // most containers on it; 0: no limit
    double weight = 1;
  };
  struct Status {
    std::string name;
    std::string endpoint;
    EngineState state = EngineState::Up;
    int containers = 0;  // ours on it, as far as known
    int capacity = 0;
    double weight = 1;
    std::string error;  // why it is down; empty otherwise
  };

  explicit EngineSet(Placement placement = Placement::Spread) : placement_(placement) {}

  // Adds an engine, up until a call says otherwise; a running watch_events
  // watches it from its next round (within a second). Throws
  // std::invalid_argument for a name already in the set or a null engine.
  void add(Member member);
  // Takes the engine out of the set: nothing is placed or routed there any
  // more and its watch ends. Its client must outlive calls already under
  // way. false: no such engine.
  bool remove_engine(const std::string& name);
  // No new containers go to it; its containers stay (draining). It stays
  // draining while down and after it comes back. false: no such engine.
  bool drain(const std::string& name);
  // Takes new containers again (undoes drain). false: no such engine.
  bool resume(const std::string& name);
  std::vector<Status> status() const;
  Placement placement() const { return placement_; }
  std::size_t size() const;

  // --- Engine ---
  // Checks every engine (their states follow); the first answer's version.
  // Throws EngineError Unreachable naming each engine's failure when none answers.
  EngineVersion version() override;
  // Labels the container with warmpool.engine = the engine's name. An engine
  // found unreachable is marked down and the next one placement picks is tried.
  std::string create(const ContainerSpec& spec) override;
  void start(const std::string& id) override;
  void pause(const std::string& id) override;
  void unpause(const std::string& id) override;
  void stop(const std::string& id, std::chrono::seconds grace) override;
  void kill(const std::string& id, const std::string& signal = "KILL") override;
  void remove(const std::string& id) override;
  ContainerInfo inspect(const std::string& id) override;
  // The engines that answer, merged; throws only when none does.
  std::vector<ContainerInfo> list(const Labels& match) override;
  // True when every engine that answers has it.
  bool image_exists(const std::string& image) override;
  // One watch per engine, each reconnecting on its own, until stop; engines
  // added or removed meanwhile are followed. Errors never end it.
  void watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                    std::stop_token stop) override;
  std::string engine_of(const std::string& container_id) override;
  bool engine_up(const std::string& name) override;

 private:
  struct Slot {
    Member member;
    bool down = false;      // its last call or check did not reach it
    bool draining = false;  // drained by the admin: down or not
    std::string error;
    EngineState state() const { return down ? EngineState::Down : draining ? EngineState::Draining : EngineState::Up; }
  };
  // The engine that holds `id` and its name; throws NotFound when every
  // engine answered that it has no such container, Unreachable when one that
  // may hold it is down.
  std::pair<Engine*, std::string> route(const std::string& id);
  std::optional<std::pair<Engine*, std::string>> locate(const std::string& id);
  // Runs call(engine) on the container's engine; an unreachable engine is
  // marked down, and the error names the container.
  template <typename Call>
  auto routed(const std::string& id, Call call) -> decltype(call(std::declval<Engine&>()));
  void mark(const std::string& name, bool answered, const std::string& error = {});
  bool set_draining(const std::string& name, bool draining);
  std::optional<std::string> pick(const std::set<std::string>& tried) const;  // REQUIRES: mu_ held
  Engine* single() const;  // the only member, or null
  void note_single(const std::string& id);  // records id on the only member, if one
  void forget(const std::string& id);
  bool engine_draining() const;  // some engine is
  [[noreturn]] void refuse_create(const std::string& failures);
  void settle_create(const std::string& name, const std::string& id);  // id empty: it failed

  const Placement placement_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;                   // GUARDED_BY(mu_); in the order given
  std::map<std::string, std::string> where_;  // GUARDED_BY(mu_); container id -> engine name
  std::map<std::string, int> pending_;        // GUARDED_BY(mu_); creates under way, by engine
};

}  // namespace warmpool::engine
