#include "scheduler/leadership.hpp"

#include <spdlog/spdlog.h>

namespace warmpool {

bool Leadership::check() {
  bool now = false;
  std::string other;
  std::string error;
  try {
    now = store_.lead();
    if (!now) other = store_.leader();
  } catch (const StoreError& e) {
    error = e.what();
  }
  const bool was = leading_.exchange(now);
  std::lock_guard lock(mu_);
  if (!checked_ || was != now) {
    if (now) spdlog::info("this manager leads: it runs upkeep, reconcile and lease expiry");
    else if (!error.empty()) spdlog::warn("not leading: the database does not answer: {}", error);
    else spdlog::info("following: {} leads", other.empty() ? "another manager" : other);
  }
  checked_ = true;
  leader_ = other;
  return now;
}

std::string Leadership::leader() const {
  std::lock_guard lock(mu_);
  return leader_;
}

}  // namespace warmpool
