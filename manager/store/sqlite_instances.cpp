// SqliteStore: instances and allocations.
#include <string>

#include "store/quotas.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_store.hpp"

namespace warmpool {

namespace {

int read_count(SQLite::Statement& q) { return q.getColumn(0).getInt(); }

const std::string kSelectInstance =
    "SELECT id, container_id, host, port, state, created_ms, updated_ms, deleted_ms, failures, "
    "restarts, last_error, pool, engine FROM instances";
const std::string kSelectAllocation =
    "SELECT id, instance_id, endpoint, client, created_ms, expires_ms, deleted_ms, end_reason, "
    "number, init_bytes, init_sha256, metadata, token_sha256, pool FROM allocations";

Instance read_instance(SQLite::Statement& q) {
  Instance i;
  i.id = q.getColumn(0).getInt64();
  i.container_id = q.getColumn(1).getString();
  i.host = q.getColumn(2).getString();
  i.port = q.getColumn(3).getInt();
  i.state = instance_state_from(q.getColumn(4).getString()).value_or(InstanceState::Error);
  i.created_ms = q.getColumn(5).getInt64();
  i.updated_ms = q.getColumn(6).getInt64();
  i.deleted_ms = optional_int(q.getColumn(7));
  i.failures = q.getColumn(8).getInt();
  i.restarts = q.getColumn(9).getInt();
  i.last_error = q.getColumn(10).getString();
  i.pool = q.getColumn(11).getString();
  i.engine = q.getColumn(12).getString();
  return i;
}

Allocation read_allocation(SQLite::Statement& q) {
  Allocation a;
  a.id = q.getColumn(0).getString();
  a.instance_id = q.getColumn(1).getInt64();
  a.endpoint = q.getColumn(2).getString();
  a.client = q.getColumn(3).getString();
  a.created_ms = q.getColumn(4).getInt64();
  a.expires_ms = q.getColumn(5).getInt64();
  a.deleted_ms = optional_int(q.getColumn(6));
  a.end_reason = q.getColumn(7).getString();
  a.number = q.getColumn(8).getInt64();
  a.session.init_bytes = q.getColumn(9).getInt64();
  a.session.init_sha256 = q.getColumn(10).getString();
  a.session.metadata = q.getColumn(11).getString();
  a.session.token_sha256 = q.getColumn(12).getString();
  a.pool = q.getColumn(13).getString();
  return a;
}

// The WHERE clause that selects `show` of a table whose finished rows match `finished`.
std::string where_show(Show show, const std::string& current, const std::string& finished) {
  if (show == Show::Current) return " WHERE " + current;
  if (show == Show::Finished) return " WHERE " + finished;
  return "";
}

}  // namespace

Instance SqliteStore::add_instance(const std::string& host, int port, std::int64_t now_ms,
                                  const std::string& pool) {
  return db_->locked("add instance", [&] {
    if (db_->one("SELECT COUNT(*) FROM instances WHERE host=? AND port=? AND state<>'deleted'", read_count,
                 host, port)
            .value_or(0) > 0)
      throw PortTaken(host, port);
    db_->exec("INSERT INTO instances(host, port, state, created_ms, updated_ms, pool) "
              "VALUES(?, ?, 'starting', ?, ?, ?)",
              host, port, now_ms, now_ms, pool);
    const std::int64_t id = db_->last_insert_id();
    record_event_locked(id, std::nullopt, InstanceState::Starting, now_ms, {});
    return *instance_locked(id);
  });
}

void SqliteStore::set_container(std::int64_t id, const std::string& container_id,
                                const std::string& engine, std::int64_t now_ms) {
  db_->locked("set container", [&] {
    if (db_->exec("UPDATE instances SET container_id=?, engine=?, updated_ms=? WHERE id=?", container_id,
                  engine, now_ms, id) != 1)
      throw StoreError("set container: no instance " + std::to_string(id));
    return 0;
  });
}

Instance SqliteStore::transition_locked(std::int64_t id, InstanceState to, std::int64_t now_ms,
                                        const std::string& error) {
  auto current = instance_locked(id);
  if (!current) throw StoreError("no instance " + std::to_string(id));
  if (!can_transition(current->state, to))
    throw StaleState("instance " + std::to_string(id) + ": cannot go from " +
                     to_string(current->state) + " to " + to_string(to));
  const int healthy = to == InstanceState::Ready || to == InstanceState::Paused ||
                      to == InstanceState::Allocated;
  const std::string state = to_string(to);
  db_->exec("UPDATE instances SET state=?1, updated_ms=?2, "
            "deleted_ms = CASE WHEN ?1='deleted' THEN ?2 ELSE deleted_ms END, "
            "failures = CASE WHEN ?3 THEN 0 WHEN ?4<>'' THEN failures+1 ELSE failures END, "
            "restarts = CASE WHEN ?1='allocated' THEN 0 ELSE restarts END, "
            "last_error = CASE WHEN ?4<>'' THEN ?4 ELSE last_error END "
            "WHERE id=?5",
            state, now_ms, healthy, error, id);
  record_event_locked(id, current->state, to, now_ms, error);
  return *instance_locked(id);
}

void SqliteStore::record_event_locked(std::int64_t instance_id, std::optional<InstanceState> from,
                                      InstanceState to, std::int64_t now_ms, const std::string& detail) {
  const std::optional<std::string> from_name =
      from ? std::optional<std::string>(to_string(*from)) : std::nullopt;
  db_->exec("INSERT INTO instance_events(instance_id, at_ms, from_state, to_state, detail) "
            "VALUES(?, ?, ?, ?, ?)",
            instance_id, now_ms, from_name, std::string(to_string(to)), detail);
  // Bounded: the instance's oldest beyond its share, and the oldest overall.
  db_->exec("DELETE FROM instance_events WHERE instance_id=?1 AND id <= (SELECT id FROM instance_events "
            "WHERE instance_id=?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            instance_id, kEventsPerInstance);
  db_->exec("DELETE FROM instance_events WHERE id <= ?1", db_->last_insert_id() - kEventsKept);
}

namespace {
InstanceEvent read_event(SQLite::Statement& q) {
  InstanceEvent e;
  e.id = q.getColumn(0).getInt64();
  e.instance_id = q.getColumn(1).getInt64();
  e.at_ms = q.getColumn(2).getInt64();
  if (!q.getColumn(3).isNull()) e.from = instance_state_from(q.getColumn(3).getString());
  e.to = instance_state_from(q.getColumn(4).getString()).value_or(InstanceState::Error);
  e.detail = q.getColumn(5).getString();
  return e;
}
}  // namespace

std::vector<InstanceEvent> SqliteStore::events(std::optional<std::int64_t> instance_id,
                                               std::size_t limit) {
  const std::string columns = "SELECT id, instance_id, at_ms, from_state, to_state, detail FROM instance_events";
  const auto n = static_cast<std::int64_t>(limit);
  return db_->locked("list events", [&] {
    if (instance_id)
      return db_->all(columns + " WHERE instance_id=? ORDER BY id DESC LIMIT ?", read_event, *instance_id, n);
    return db_->all(columns + " ORDER BY id DESC LIMIT ?", read_event, n);
  });
}

Instance SqliteStore::transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                                 const std::string& error) {
  return db_->transaction("instance transition",
                          [&] { return transition_locked(id, to, now_ms, error); });
}

Instance SqliteStore::restart(std::int64_t id, std::int64_t now_ms) {
  return db_->transaction("restart instance", [&] {
    transition_locked(id, InstanceState::Starting, now_ms, {});
    db_->exec("UPDATE instances SET restarts=restarts+1 WHERE id=?", id);
    return *instance_locked(id);
  });
}

std::optional<Instance> SqliteStore::instance_locked(std::int64_t id) {
  return db_->one(kSelectInstance + " WHERE id=?", read_instance, id);
}

std::optional<Instance> SqliteStore::instance(std::int64_t id) {
  return db_->locked("read instance", [&] { return instance_locked(id); });
}

std::vector<Instance> SqliteStore::instances(Show show) {
  return db_->locked("list instances", [&] {
    return db_->all(kSelectInstance + where_show(show, "state <> 'deleted'", "state = 'deleted'") +
                        " ORDER BY id",
                    read_instance);
  });
}

Allocation SqliteStore::allocate(std::int64_t instance_id, const std::string& allocation_id,
                                 const std::string& client, std::int64_t now_ms,
                                 std::int64_t expires_ms, const AllocationSession& session,
                                 ClientQuotas quotas) {
  return db_->transaction("allocate", [&] {
    if (quotas.pool > 0 || quotas.overall > 0) {
      if (auto instance = instance_locked(instance_id))  // none: the transition below says so
        check_client_quotas(client, instance->pool, quotas,
                            [&](const std::string& pool) { return count_current_locked(client, pool); });
    }
    Instance instance = transition_locked(instance_id, InstanceState::Allocated, now_ms, {});
    // The number is one above the highest so far, in the same transaction;
    // the unique index refuses a second holder.
    db_->exec("INSERT INTO allocations(id, instance_id, endpoint, client, created_ms, "
              "expires_ms, number, init_bytes, init_sha256, metadata, token_sha256, pool) VALUES(?, ?, ?, ?, ?, ?, "
              "(SELECT COALESCE(MAX(number), 0) + 1 FROM allocations), ?, ?, ?, ?, ?)",
              allocation_id, instance_id, instance.endpoint(), client, now_ms, expires_ms,
              session.init_bytes, session.init_sha256, session.metadata, session.token_sha256,
              instance.pool);
    return *allocation_locked(allocation_id);
  });
}

std::optional<Allocation> SqliteStore::end_allocation(const std::string& id,
                                                      const std::string& reason,
                                                      std::int64_t now_ms, bool* ended_now) {
  if (ended_now) *ended_now = false;
  bool ended = false;
  auto result = db_->transaction("end allocation", [&]() -> std::optional<Allocation> {
    auto current = allocation_locked(id);
    if (!current || !current->current()) return current;
    db_->exec("UPDATE allocations SET deleted_ms=?, end_reason=? WHERE id=?", now_ms, reason, id);
    auto instance = instance_locked(current->instance_id);
    if (instance && instance->state == InstanceState::Allocated)
      transition_locked(instance->id, InstanceState::Resetting, now_ms, {});
    ended = true;
    return allocation_locked(id);
  });
  if (ended_now) *ended_now = ended;
  return result;
}

std::optional<Allocation> SqliteStore::renew(const std::string& id, std::int64_t expires_ms) {
  return db_->locked("renew allocation", [&] {
    db_->exec("UPDATE allocations SET expires_ms=? WHERE id=? AND deleted_ms IS NULL", expires_ms,
              id);
    return allocation_locked(id);
  });
}

std::optional<Allocation> SqliteStore::allocation_locked(const std::string& id) {
  return db_->one(kSelectAllocation + " WHERE id=?", read_allocation, id);
}

std::optional<Allocation> SqliteStore::allocation(const std::string& id) {
  return db_->locked("read allocation", [&] { return allocation_locked(id); });
}

std::optional<Allocation> SqliteStore::allocation_by_number(std::int64_t number) {
  return db_->locked("read allocation",
                     [&] { return db_->one(kSelectAllocation + " WHERE number=?", read_allocation, number); });
}

int SqliteStore::count_current_locked(const std::string& client, const std::string& pool) {
  if (pool.empty())
    return *db_->one(std::string("SELECT COUNT(*) FROM allocations WHERE deleted_ms IS NULL AND client=?"),
                     read_count, client);
  return *db_->one(std::string("SELECT COUNT(*) FROM allocations WHERE deleted_ms IS NULL AND client=? AND pool=?"),
                   read_count, client, pool);
}

int SqliteStore::current_allocations_of_client(const std::string& client, const std::string& pool) {
  return db_->locked("count allocations", [&] { return count_current_locked(client, pool); });
}

std::optional<Allocation> SqliteStore::current_allocation_of(std::int64_t instance_id) {
  return db_->locked("read allocation", [&] {
    return db_->one(kSelectAllocation + " WHERE instance_id=? AND deleted_ms IS NULL",
                    read_allocation, instance_id);
  });
}

std::vector<Allocation> SqliteStore::allocations(const AllocationQuery& q) {
  const std::string show = where_show(q.show, "deleted_ms IS NULL", "deleted_ms IS NOT NULL");
  return db_->locked("list allocations", [&] {
    return db_->all(kSelectAllocation + (show.empty() ? " WHERE " : show + " AND ") +
                        "(?1 IS NULL OR client = ?1) AND (?4 IS NULL OR pool = ?4) AND number > ?2 "
                        "ORDER BY number LIMIT ?3",
                    read_allocation, q.client, q.after_number, q.limit > 0 ? q.limit : std::int64_t{-1},
                    q.pool);
  });
}

std::vector<Allocation> SqliteStore::expired_allocations(std::int64_t now_ms) {
  return db_->locked("list expired allocations", [&] {
    return db_->all(kSelectAllocation + " WHERE deleted_ms IS NULL AND expires_ms <= ?",
                    read_allocation, now_ms);
  });
}

}  // namespace warmpool

namespace warmpool {

namespace {
std::int64_t read_id(SQLite::Statement& q) { return q.getColumn(0).getInt64(); }
}  // namespace

Store::Pruned SqliteStore::prune_finished(std::int64_t before_ms, int batch) {
  Pruned out;
  out.allocations = db_->write_transaction("prune allocations", [&] {
    return db_->exec("DELETE FROM allocations WHERE id IN (SELECT id FROM allocations "
                     "WHERE deleted_ms IS NOT NULL AND deleted_ms < ?1 "
                     "AND number < (SELECT MAX(number) FROM allocations) ORDER BY deleted_ms LIMIT ?2)",
                     before_ms, batch);
  });
  out.instances = db_->write_transaction("prune instances", [&] {
    const auto ids = db_->all(
        "SELECT id FROM instances i WHERE state = 'deleted' AND deleted_ms IS NOT NULL "
        "AND deleted_ms < ?1 AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.instance_id = i.id) "
        "ORDER BY deleted_ms LIMIT ?2",
        read_id, before_ms, batch);
    if (ids.empty()) return 0;
    std::string list;  // integers read from the database: safe to splice
    for (const std::int64_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    db_->exec("DELETE FROM instance_events WHERE instance_id IN (" + list + ")");
    return db_->exec("DELETE FROM instances WHERE id IN (" + list + ")");
  });
  return out;
}

}  // namespace warmpool
