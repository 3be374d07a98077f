// Between a pool's record and the Pool that serves it: the settings a record
// gives (the default pool's settings, from the flags, with the record's
// fields in their place), the default record the flags write, and the rules
// a new record must keep. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pool/pool.hpp"
#include "records/pool_record.hpp"

namespace warmpool {

// The record of the pool that `settings` configure (the default pool: the
// flags), made or updated at now_ms.
PoolRecord record_of(const PoolSettings& settings, std::int64_t now_ms);

// The settings of the pool `record` describes: `base` (the default pool's)
// with the record's name, image, limits, ports, floor, ceiling, keep_running,
// health check, reset, data volume and quota; instances recorded before the
// record's updated_ms are outdated (PoolSettings::instances_since_ms).
// Timeouts, lease bounds, the manager id, the overall quota and
// --max-instances stay the base's. An adaptive base policy stays adaptive
// between the record's floor and ceiling.
PoolSettings settings_for(const PoolSettings& base, const PoolRecord& record);

// Whether going from `before` to `after` changes what the pool's containers
// are made with (image, limits, ports, health check, reset, data volume),
// so that the instances made before are replaced. The floor, ceiling,
// keepRunning and quota change none.
bool changes_instances(const PoolRecord& before, const PoolRecord& after);

// Bad input in a pool record: the HTTP status, the field and why.
struct PoolRefusal {
  int status = 400;
  std::string field;
  std::string detail;
};

// Why `record` may not be added beside `existing` (every other pool,
// default included); nullopt when it may. 400: a field out of its range or
// a health check and reset that cannot work together; 409: the name is
// taken, or its port range overlaps another pool's.
std::optional<PoolRefusal> record_refusal(const PoolRecord& record,
                                          const std::vector<PoolRecord>& existing);

}  // namespace warmpool
