// Which manager runs upkeep, reconcile and lease expiry when several share
// one database. The store decides (ManagerRegistry::lead); this asks it
// before each tick's leader work and remembers the answer for /health.
// A store error counts as not leading: a manager that cannot reach the
// database gives up the leadership rather than act on stale records.
//
// Thread-safe: check() from the scheduler's thread, the readers from any.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "store/store.hpp"

namespace warmpool {

class Leadership {
 public:
  explicit Leadership(Store& store) : store_(store) {}

  // Asks the store whether this manager leads (taking the leadership when
  // free); logs each change. Never throws.
  bool check();
  bool leading() const { return leading_; }
  // The leader's name as the last check saw it; empty while this manager
  // leads, or when no name is known.
  std::string leader() const;

 private:
  Store& store_;
  std::atomic<bool> leading_{false};
  mutable std::mutex mu_;
  std::string leader_;  // GUARDED_BY(mu_)
  bool checked_ = false;  // GUARDED_BY(mu_); logs the first answer too
};

}  // namespace warmpool
