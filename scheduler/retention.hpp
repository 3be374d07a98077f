// Retention of finished records: allocations that ended, and deleted
// instances no kept allocation names (with their events), are removed once
// older than keep_ms, so that the database and GET ?show=all answers stop
// growing with every hand-out. Pi jobs are kept (clients script their ids).
// Upkeep runs it, so with several managers only the leader does.
#pragma once

#include <cstdint>
#include <optional>

#include "store/store.hpp"

namespace warmpool {

struct Retention {
  std::int64_t keep_ms = 0;       // 0: keep forever
  std::int64_t every_ms = 60'000;  // at most one prune this often
  int batch = 1000;               // rows a statement: one step never holds the database long
  int max_batches = 100;          // steps a prune: a backlog is worked off over several minutes
};

// Whether a prune is due at now_ms: retention is on and none ran in the last
// every_ms (last_ms: when the last one ran; nullopt before the first).
bool prune_due(const Retention& r, std::optional<std::int64_t> last_ms, std::int64_t now_ms);

// One prune: steps of r.batch until a step comes back short, at most
// r.max_batches of them. Returns what was removed. Throws StoreError.
Store::Pruned prune_finished(Store& store, const Retention& r, std::int64_t now_ms);

}  // namespace warmpool
