#include "pools/pool_spec.hpp"

namespace warmpool {

PoolRecord record_of(const PoolSettings& s, std::int64_t now_ms) {
  PoolRecord r;
  r.name = s.name;
  r.image = s.image;
  r.memory_mb = s.container.memory_bytes >> 20;
  r.cpus = static_cast<double>(s.container.nano_cpus) / 1e9;
  r.pids = static_cast<int>(s.container.pids_limit);
  r.tmpfs_mb = s.container.tmpfs_bytes >> 20;
  r.port_first = s.port_first;
  r.port_last = s.port_last;
  r.min_idle = s.policy.min_idle;
  r.max_idle = s.policy.max_idle;
  r.keep_running = s.policy.keep_running;
  r.health = to_string(s.protocol.health);
  r.health_path = s.protocol.health_path;
  r.reset = to_string(s.protocol.reset);
  r.data_volume = s.container.volume;
  r.client_quota = s.client_quota;
  r.created_ms = now_ms;
  r.updated_ms = now_ms;
  return r;
}

PoolSettings settings_for(const PoolSettings& base, const PoolRecord& r) {
  PoolSettings s = base;
  s.name = r.name;
  s.image = r.image;
  s.container.memory_bytes = r.memory_mb << 20;
  s.container.nano_cpus = static_cast<std::int64_t>(r.cpus * 1e9);
  s.container.pids_limit = r.pids;
  s.container.tmpfs_bytes = r.tmpfs_mb << 20;
  s.capacity.instance_memory_bytes = r.memory_mb << 20;
  s.capacity.instance_cpus = r.cpus;
  s.port_first = r.port_first;
  s.port_last = r.port_last;
  s.policy.min_idle = r.min_idle;
  s.policy.max_idle = r.max_idle;
  s.policy.keep_running = r.keep_running;
  s.protocol.health = health_check_from(r.health).value_or(HealthCheck::Worker);
  s.protocol.health_path = r.health_path;
  s.protocol.reset = reset_method_from(r.reset).value_or(ResetMethod::Worker);
  s.container.volume = r.data_volume;
  s.worker_args.clear();
  if (!r.data_volume.empty()) s.worker_args = {"--data", s.container.volume_target};
  s.client_quota = r.client_quota;
  s.instances_since_ms = r.updated_ms;
  return s;
}

bool changes_instances(const PoolRecord& a, const PoolRecord& b) {
  return a.image != b.image || a.memory_mb != b.memory_mb || a.cpus != b.cpus || a.pids != b.pids ||
         a.tmpfs_mb != b.tmpfs_mb || a.port_first != b.port_first || a.port_last != b.port_last ||
         a.health != b.health || a.health_path != b.health_path || a.reset != b.reset ||
         a.data_volume != b.data_volume;
}

namespace {

std::optional<PoolRefusal> field_refusal(const PoolRecord& r) {
  auto bad = [](std::string field, std::string detail) {
    return std::optional<PoolRefusal>(PoolRefusal{400, std::move(field), std::move(detail)});
  };
  if (auto why = pool_name_refusal(r.name)) return bad("name", *why);
  if (r.image.empty()) return bad("image", "an image is required");
  if (r.memory_mb < 16 || r.memory_mb > 1'048'576) return bad("memoryMb", "must be 16 to 1048576");
  if (!(r.cpus >= 0.01 && r.cpus <= 1024)) return bad("cpus", "must be 0.01 to 1024");
  if (r.pids < 1 || r.pids > 65536) return bad("pids", "must be 1 to 65536");
  if (r.tmpfs_mb < 1 || r.tmpfs_mb > 1'048'576) return bad("tmpfsMb", "must be 1 to 1048576");
  if (r.port_first < 1 || r.port_first > 65535) return bad("portFirst", "must be 1 to 65535");
  if (r.port_last < r.port_first || r.port_last > 65535)
    return bad("portLast", "must be portFirst to 65535");
  if (r.min_idle < 0 || r.min_idle > 10000) return bad("minIdle", "must be 0 to 10000");
  if (r.max_idle < r.min_idle || r.max_idle > 10000) return bad("maxIdle", "must be minIdle to 10000");
  if (r.keep_running < 0 || r.keep_running > 10000) return bad("keepRunning", "must be 0 to 10000");
  if (r.client_quota < 0 || r.client_quota > 100000) return bad("clientQuota", "must be 0 to 100000");
  ImageProtocol protocol;
  const auto health = health_check_from(r.health);
  if (!health) return bad("health", "must be worker, http or tcp");
  const auto reset = reset_method_from(r.reset);
  if (!reset) return bad("reset", "must be worker, restart or recreate");
  protocol.health = *health;
  protocol.health_path = r.health_path;
  protocol.reset = *reset;
  if (auto why = protocol_refusal(protocol))
    return bad(protocol.reset == ResetMethod::Worker && !protocol.speaks_worker() ? "reset" : "healthPath", *why);
  return std::nullopt;
}

}  // namespace

std::optional<PoolRefusal> record_refusal(const PoolRecord& record,
                                          const std::vector<PoolRecord>& existing) {
  if (auto refusal = field_refusal(record)) return refusal;
  for (const auto& other : existing) {
    if (other.name == record.name)
      return PoolRefusal{409, "name", "a pool named " + record.name + " exists"};
    if (ports_overlap(record, other))
      return PoolRefusal{409, "portFirst",
                         "ports " + std::to_string(record.port_first) + "-" + std::to_string(record.port_last) +
                             " overlap pool " + other.name + "'s (" + std::to_string(other.port_first) + "-" +
                             std::to_string(other.port_last) + ")"};
  }
  return std::nullopt;
}

}  // namespace warmpool
