// An in-memory Engine for unit tests. It records every call and can fail,
// hang or lose a container on demand. Paired with FakeWorker
// (support/fake_worker.hpp), a worker answers only while its container is
// running, as a real paused one would not.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"

namespace warmpool::test {

class FakeEngine : public engine::Engine {
 public:
  // Container ids are the prefix and a count: fakes side by side in an
  // EngineSet get distinct ones.
  explicit FakeEngine(std::string id_prefix = "c") : id_prefix_(std::move(id_prefix)) {}

  struct Container {
    engine::ContainerSpec spec;
    engine::ContainerStatus status = engine::ContainerStatus::Created;
    std::string endpoint;  // from the worker's --host/--port arguments, else HOST and PORT
    // Frozen through its cgroup (support/fake_freezer.hpp): the worker does
    // not answer, yet the engine, which did not freeze it, reports `status`.
    bool frozen = false;
  };

  // --- fault injection ---
  // The next `times` calls of `op` ("create", "start", "pause", "unpause",
  // "stop", "kill", "remove", "inspect", "list", "version") throw `kind`.
  void fail(const std::string& op, engine::EngineError::Kind kind, int times = 1) {
    std::lock_guard lock(mu_);
    failures_[op] = {kind, times};
  }
  // Every call of `op` sleeps `delay` first (a slow or hung engine).
  void delay(const std::string& op, std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    delays_[op] = d;
  }
  void set_reachable(bool reachable) { reachable_ = reachable; }
  // The container disappears behind the manager's back.
  void lose(const std::string& id) {
    std::lock_guard lock(mu_);
    containers_.erase(id);
  }
  // The container's process exits behind the manager's back.
  void crash(const std::string& id) {
    std::lock_guard lock(mu_);
    containers_.at(id).status = engine::ContainerStatus::Exited;
  }

  // Runs `hook(id)` after each call of `op` took effect, outside the
  // engine's lock, on the caller's thread: a test interleaves other work at
  // that precise point. For "list", after the listing was taken.
  void after(const std::string& op, std::function<void(const std::string& id)> hook) {
    std::lock_guard lock(mu_);
    hooks_[op] = std::move(hook);
  }
  // Delivers `e` to every watch_events caller (the engine's event stream).
  void emit(engine::Event e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
    events_cv_.notify_all();
  }
  // A container the manager did not create (or forgot), e.g. left by a crash.
  std::string add_stray(const engine::Labels& labels,
                        engine::ContainerStatus status = engine::ContainerStatus::Running) {
    std::lock_guard lock(mu_);
    std::string id = id_prefix_ + std::to_string(++next_id_);
    Container c;
    c.spec.labels = labels;
    c.status = status;
    containers_[id] = c;
    return id;
  }

  // The container's cgroup freezer, as FakeFreezer (or a hand) writes it.
  // False when the container has no cgroup (not running, or gone).
  bool set_frozen(const std::string& id, bool frozen) {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end() || (it->second.status != engine::ContainerStatus::Running &&
                                    it->second.status != engine::ContainerStatus::Paused))
      return false;
    it->second.frozen = frozen;
    return true;
  }
  std::optional<bool> frozen(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return std::nullopt;
    return it->second.frozen;
  }

  // --- inspection ---
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int count(const std::string& op) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_)
      if (c.rfind(op + " ", 0) == 0 || c == op) ++n;
    return n;
  }
  std::map<std::string, Container> containers() const {
    std::lock_guard lock(mu_);
    return containers_;
  }
  std::optional<engine::ContainerStatus> status_at(const std::string& endpoint) const {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : containers_)
      if (c.endpoint == endpoint) return c.frozen ? engine::ContainerStatus::Paused : c.status;
    return std::nullopt;
  }

  // --- Engine ---
  engine::EngineVersion version() override {
    enter("version", "");
    return {"20.10.24-fake", "1.41", "linux", "Engine"};
  }
  std::string create(const engine::ContainerSpec& spec) override {
    enter("create", spec.name);
    std::string id;
    {
      std::lock_guard lock(mu_);
      id = id_prefix_ + std::to_string(++next_id_);
    }
    Container c;
    c.spec = spec;
    std::string host, port;
    for (std::size_t i = 0; i + 1 < spec.cmd.size(); ++i) {
      if (spec.cmd[i] == "--host") host = spec.cmd[i + 1];
      if (spec.cmd[i] == "--port") port = spec.cmd[i + 1];
    }
    for (const auto& e : spec.env) {  // an image that listens on $HOST:$PORT
      if (host.empty() && e.rfind("HOST=", 0) == 0) host = e.substr(5);
      if (port.empty() && e.rfind("PORT=", 0) == 0) port = e.substr(5);
    }
    c.endpoint = host + ":" + port;
    {
      std::lock_guard lock(mu_);
      containers_[id] = c;
    }
    run_hook("create", id);
    return id;
  }
  void start(const std::string& id) override {
    enter("start", id);
    set_status(id, engine::ContainerStatus::Running);
    run_hook("start", id);
  }
  // As Docker 20.10: pausing a container that is not running, or unpausing
  // one that is not paused, fails with a 500 (newer engines answer 409).
  void pause(const std::string& id) override {
    enter("pause", id);
    std::lock_guard lock(mu_);
    auto& c = find(id);
    if (c.status != engine::ContainerStatus::Running)
      throw engine::EngineError(engine::EngineError::Kind::Server, "pause " + id + ": is not running", 500, id);
    c.status = engine::ContainerStatus::Paused;
  }
  void unpause(const std::string& id) override {
    enter("unpause", id);
    std::lock_guard lock(mu_);
    auto& c = find(id);
    if (c.status != engine::ContainerStatus::Paused)
      throw engine::EngineError(engine::EngineError::Kind::Server, "unpause " + id + ": is not paused", 500, id);
    c.status = engine::ContainerStatus::Running;
  }
  void stop(const std::string& id, std::chrono::seconds grace) override {
    enter("stop", id);
    last_stop_grace_s = grace.count();
    refuse_if_frozen("stop", id);
    set_status(id, engine::ContainerStatus::Exited);
  }
  std::atomic<std::chrono::seconds::rep> last_stop_grace_s{-1};
  void kill(const std::string& id, const std::string&) override {
    enter("kill", id);
    set_status(id, engine::ContainerStatus::Exited);
  }
  void remove(const std::string& id) override {
    enter("remove", id);
    refuse_if_frozen("remove", id);
    std::lock_guard lock(mu_);
    containers_.erase(id);
  }
  engine::ContainerInfo inspect(const std::string& id) override {
    enter("inspect", id);
    std::lock_guard lock(mu_);
    return info(id, find(id));
  }
  std::vector<engine::ContainerInfo> list(const engine::Labels& match) override {
    enter("list", "");
    std::vector<engine::ContainerInfo> out;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, c] : containers_) {
        bool ok = true;
        for (const auto& [k, v] : match) {
          auto it = c.spec.labels.find(k);
          ok = ok && it != c.spec.labels.end() && it->second == v;
        }
        if (ok) out.push_back(info(id, c));
      }
    }
    run_hook("list", "");
    return out;
  }
  bool image_exists(const std::string& image) override {
    enter("image", "");
    std::lock_guard lock(mu_);
    return !missing_images_.count(image);
  }
  // image_exists() says no for this image from now on.
  void lose_image(const std::string& image) {
    std::lock_guard lock(mu_);
    missing_images_.insert(image);
  }
  // Delivers what emit() queues; every watcher sees each event once.
  void watch_events(const engine::Labels&, const std::function<void(const engine::Event&)>& on_event,
                    std::stop_token stop) override {
    std::unique_lock lock(mu_);
    std::size_t seen = events_.size();
    while (!stop.stop_requested()) {
      events_cv_.wait_for(lock, std::chrono::milliseconds(5), [&] { return events_.size() > seen; });
      while (seen < events_.size()) {
        engine::Event e = events_[seen++];
        lock.unlock();
        on_event(e);
        lock.lock();
      }
    }
  }

 private:
  void enter(const std::string& op, const std::string& id) {
    std::chrono::milliseconds d{0};
    std::optional<engine::EngineError::Kind> failure;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(id.empty() ? op : op + " " + id);
      if (auto it = delays_.find(op); it != delays_.end()) d = it->second;
      if (auto it = failures_.find(op); it != failures_.end() && it->second.second > 0) {
        failure = it->second.first;
        --it->second.second;
      }
    }
    if (d.count() > 0) std::this_thread::sleep_for(d);
    if (!reachable_)
      throw engine::EngineError(engine::EngineError::Kind::Unreachable, op + ": engine unreachable");
    if (failure) throw engine::EngineError(*failure, op + " " + id + ": injected failure", 500, id);
  }
  // A frozen process cannot die: the engine waits for it until its deadline.
  void refuse_if_frozen(const std::string& op, const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it != containers_.end() && it->second.frozen)
      throw engine::EngineError(engine::EngineError::Kind::Timeout, op + " " + id + ": frozen, cannot die", 0, id);
  }
  void run_hook(const std::string& op, const std::string& id) {
    std::function<void(const std::string&)> hook;
    {
      std::lock_guard lock(mu_);
      if (auto it = hooks_.find(op); it != hooks_.end()) hook = it->second;
    }
    if (hook) hook(id);
  }
  Container& find(const std::string& id) {
    auto it = containers_.find(id);
    if (it == containers_.end())
      throw engine::EngineError(engine::EngineError::Kind::NotFound, "no such container: " + id, 404, id);
    return it->second;
  }
  void set_status(const std::string& id, engine::ContainerStatus s) {
    std::lock_guard lock(mu_);
    find(id).status = s;
  }
  static engine::ContainerInfo info(const std::string& id, const Container& c) {
    engine::ContainerInfo i;
    i.id = id;
    i.name = c.spec.name;
    i.image = c.spec.image;
    i.status = c.status;
    i.labels = c.spec.labels;
    return i;
  }

  mutable std::mutex mu_;
  std::map<std::string, Container> containers_;
  std::set<std::string> missing_images_;
  std::vector<std::string> calls_;
  std::map<std::string, std::pair<engine::EngineError::Kind, int>> failures_;
  std::map<std::string, std::chrono::milliseconds> delays_;
  std::map<std::string, std::function<void(const std::string&)>> hooks_;
  std::deque<engine::Event> events_;
  std::condition_variable events_cv_;
  std::atomic<bool> reachable_{true};
  const std::string id_prefix_;
  int next_id_ = 0;
};

}  // namespace warmpool::test
