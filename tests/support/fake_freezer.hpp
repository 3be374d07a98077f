// A Freezer over FakeEngine's containers: freezing one stops its FakeWorker
// from answering while the engine goes on reporting it running, as with the
// real cgroup freezer. It records calls and can fail on demand.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/freezer.hpp"
#include "support/fake_engine.hpp"

namespace warmpool::test {

class FakeFreezer : public engine::Freezer {
 public:
  explicit FakeFreezer(FakeEngine& engine) : engine_(engine) {}

  // The next `times` calls of `op` ("freeze", "thaw", "state") throw `kind`;
  // times < 0: every call.
  void fail(const std::string& op, engine::FreezerError::Kind kind, int times = 1) {
    std::lock_guard lock(mu_);
    failures_[op] = {kind, times};
  }
  int count(const std::string& op) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_) n += c.rfind(op + " ", 0) == 0;
    return n;
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  void freeze(const std::string& id, std::chrono::milliseconds) override { set("freeze", id, true); }
  void thaw(const std::string& id, std::chrono::milliseconds) override { set("thaw", id, false); }
  engine::FreezeState state(const std::string& id) override {
    enter("state", id);
    auto frozen = engine_.frozen(id);
    if (!frozen) throw missing("state", id);
    return *frozen ? engine::FreezeState::Frozen : engine::FreezeState::Thawed;
  }

 private:
  static engine::FreezerError missing(const std::string& op, const std::string& id) {
    return engine::FreezerError(engine::FreezerError::Kind::Missing,
                                op + " " + id + ": /fake/docker/" + id + "/freezer.state: No such file or directory");
  }
  void set(const std::string& op, const std::string& id, bool frozen) {
    enter(op, id);
    if (!engine_.set_frozen(id, frozen)) throw missing(op, id);
  }
  void enter(const std::string& op, const std::string& id) {
    std::lock_guard lock(mu_);
    calls_.push_back(op + " " + id);
    auto it = failures_.find(op);
    if (it == failures_.end() || it->second.second == 0) return;
    if (it->second.second > 0) --it->second.second;
    const char* why = it->second.first == engine::FreezerError::Kind::Denied ? "Permission denied"
                      : it->second.first == engine::FreezerError::Kind::Timeout ? "still freezing after 1000 ms"
                                                                                : "injected failure";
    throw engine::FreezerError(it->second.first, op + " " + id + ": /fake/docker/" + id + "/freezer.state: " + why);
  }

  FakeEngine& engine_;
  mutable std::mutex mu_;
  std::vector<std::string> calls_;
  std::map<std::string, std::pair<engine::FreezerError::Kind, int>> failures_;
};

}  // namespace warmpool::test
