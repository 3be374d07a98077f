#include "scheduler/retention.hpp"

namespace warmpool {

bool prune_due(const Retention& r, std::optional<std::int64_t> last_ms, std::int64_t now_ms) {
  if (r.keep_ms <= 0) return false;
  return !last_ms || now_ms - *last_ms >= r.every_ms;
}

Store::Pruned prune_finished(Store& store, const Retention& r, std::int64_t now_ms) {
  Store::Pruned total;
  for (int i = 0; i < r.max_batches; ++i) {
    const Store::Pruned step = store.prune_finished(now_ms - r.keep_ms, r.batch);
    total.allocations += step.allocations;
    total.instances += step.instances;
    if (step.allocations < r.batch && step.instances < r.batch) break;
  }
  return total;
}

}  // namespace warmpool
