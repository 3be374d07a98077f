#include "pool/pauser.hpp"

#include <spdlog/spdlog.h>

namespace warmpool {

using engine::ContainerStatus;
using engine::EngineError;
using engine::FreezerError;

Pauser::Pauser(engine::Engine& engine, engine::Freezer* freezer, std::string why,
               std::chrono::milliseconds deadline)
    : engine_(engine), freezer_(freezer), deadline_(deadline), why_(std::move(why)) {}

void Pauser::pause(const std::string& id) {
  if (!use_freezer()) return engine_.pause(id);
  try {
    freezer_->freeze(id, deadline_);
  } catch (const FreezerError& e) {
    freezer_failed(id, e.what());
    throw EngineError(EngineError::Kind::Server, e.what(), 0, id);
  }
  freezer_worked();
}

void Pauser::unpause(const std::string& id) {
  if (!use_freezer()) {
    try {
      return engine_.unpause(id);
    } catch (const EngineError& e) {
      // Switched back from the freezer: this one may be frozen in its cgroup.
      if (freezer_ == nullptr || e.kind() == EngineError::Kind::Unreachable ||
          e.kind() == EngineError::Kind::Timeout)
        throw;
      thaw_before_stop(id);
      throw;
    }
  }
  try {
    freezer_->thaw(id, deadline_);
  } catch (const FreezerError& e) {
    freezer_failed(id, e.what());
    throw EngineError(EngineError::Kind::Server, e.what(), 0, id);
  }
  freezer_worked();
}

engine::ContainerInfo Pauser::inspect(const std::string& id) { return overlay(engine_.inspect(id)); }

engine::ContainerInfo Pauser::overlay(engine::ContainerInfo info) {
  if (freezer_ == nullptr) return info;
  if (info.status != ContainerStatus::Running && info.status != ContainerStatus::Paused) return info;
  try {
    info.status = freezer_->state(info.id) == engine::FreezeState::Thawed ? ContainerStatus::Running
                                                                     : ContainerStatus::Paused;
  } catch (const FreezerError&) {
    // Unreadable: the engine's word stands.
  }
  return info;
}

void Pauser::thaw_before_stop(const std::string& id) noexcept {
  if (freezer_ == nullptr || id.empty()) return;
  try {
    freezer_->thaw(id, deadline_);
  } catch (const std::exception&) {
    // Not running (no cgroup), or not ours to write: the stop says the rest.
  }
}

void Pauser::forget(const std::string& id) noexcept {
  if (freezer_ != nullptr) freezer_->forget(id);
}

Pauser::Status Pauser::status() const {
  std::lock_guard lock(mu_);
  return {use_freezer(), why_};
}

void Pauser::freezer_failed(const std::string& id, const std::string& error) {
  std::lock_guard lock(mu_);
  failing_.insert(id);
  if (static_cast<int>(failing_.size()) < kSwitchAfter || switched_) return;
  switched_ = true;
  why_ = "the freezer failed on " + std::to_string(failing_.size()) +
         " containers in a row; using the engine's pause (last: " + error + ")";
  spdlog::warn("pause: {}", why_);
}

void Pauser::freezer_worked() {
  std::lock_guard lock(mu_);
  failing_.clear();
}

}  // namespace warmpool
