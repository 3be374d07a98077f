// PgStore: instances and allocations. Every change reads the rows it changes
// FOR UPDATE, so a second manager's change of the same instance or
// allocation waits for this one and then sees its result.
#include <string>

#include "store/quotas.hpp"
#include "store_pg/pg_conn.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool {

namespace {

const std::string kSelectInstance =
    "SELECT id, container_id, host, port, state, created_ms, updated_ms, deleted_ms, failures, "
    "restarts, last_error, pool, engine FROM instances";
const std::string kAllocationColumns =
    "id, instance_id, endpoint, client, created_ms, expires_ms, deleted_ms, end_reason, number, "
    "init_bytes, init_sha256, metadata, token_sha256, pool";
const std::string kSelectAllocation = "SELECT " + kAllocationColumns + " FROM allocations";

Instance read_instance(const PgRow& r) {
  Instance i;
  i.id = r.int64(0);
  i.container_id = r.text(1);
  i.host = r.text(2);
  i.port = static_cast<int>(r.int64(3));
  i.state = instance_state_from(r.text(4)).value_or(InstanceState::Error);
  i.created_ms = r.int64(5);
  i.updated_ms = r.int64(6);
  i.deleted_ms = r.optional_int(7);
  i.failures = static_cast<int>(r.int64(8));
  i.restarts = static_cast<int>(r.int64(9));
  i.last_error = r.text(10);
  i.pool = r.text(11);
  i.engine = r.text(12);
  return i;
}

Allocation read_allocation(const PgRow& r) {
  Allocation a;
  a.id = r.text(0);
  a.instance_id = r.int64(1);
  a.endpoint = r.text(2);
  a.client = r.text(3);
  a.created_ms = r.int64(4);
  a.expires_ms = r.int64(5);
  a.deleted_ms = r.optional_int(6);
  a.end_reason = r.text(7);
  a.number = r.int64(8);
  a.session.init_bytes = r.int64(9);
  a.session.init_sha256 = r.text(10);
  a.session.metadata = r.text(11);
  a.session.token_sha256 = r.text(12);
  a.pool = r.text(13);
  return a;
}

InstanceEvent read_event(const PgRow& r) {
  InstanceEvent e;
  e.id = r.int64(0);
  e.instance_id = r.int64(1);
  e.at_ms = r.int64(2);
  if (!r.null(3)) e.from = instance_state_from(r.text(3));
  e.to = instance_state_from(r.text(4)).value_or(InstanceState::Error);
  e.detail = r.text(5);
  return e;
}

std::int64_t read_id(const PgRow& r) { return r.int64(0); }

// The states the state machine allows `to` from, as a PostgreSQL text array.
std::string states_before(InstanceState to) {
  std::string out;
  for (int k = 0; k <= static_cast<int>(InstanceState::Deleted); ++k) {
    const auto from = static_cast<InstanceState>(k);
    if (can_transition(from, to)) out += (out.empty() ? "" : ",") + std::string(to_string(from));
  }
  return "{" + out + "}";
}

// A state change in one round trip (the hot path's largest cost was round
// trips): lock the row, check the move, apply it, record the event, trim the
// old events. The trim cannot see the new event, hence OFFSET kept - 1. The
// instance's share and the overall bound are two deletes, each a range of
// one index: as one OR'd condition they scanned the whole table.
// $1 to, $2 now, $3 healthy, $4 error, $5 id, $6 states allowed before,
// $7 events kept per instance - 1, $8 events kept.
const std::string kTransitionSteps =
    "WITH old AS (SELECT id, state FROM instances WHERE id=$5::bigint FOR UPDATE), "
    "moved AS (UPDATE instances i SET state=$1::text, updated_ms=$2::bigint, "
    "deleted_ms = CASE WHEN $1::text='deleted' THEN $2::bigint ELSE i.deleted_ms END, "
    "failures = CASE WHEN $3::boolean THEN 0 WHEN $4::text<>'' THEN i.failures+1 ELSE i.failures END, "
    "restarts = CASE WHEN $1::text='allocated' THEN 0 ELSE i.restarts END, "
    "last_error = CASE WHEN $4::text<>'' THEN $4::text ELSE i.last_error END "
    "FROM old WHERE i.id=old.id AND old.state = ANY($6::text[]) "
    "RETURNING i.id, i.container_id, i.host, i.port, i.state, i.created_ms, i.updated_ms, i.deleted_ms, "
    "i.failures, i.restarts, i.last_error, i.pool, i.engine, old.state AS was), "
    "event AS (INSERT INTO instance_events(instance_id, at_ms, from_state, to_state, detail) "
    "SELECT id, $2::bigint, was, $1::text, $4::text FROM moved RETURNING id), "
    "trimmed AS (DELETE FROM instance_events e WHERE EXISTS (SELECT 1 FROM event) AND "
    "e.instance_id=$5::bigint AND e.id <= (SELECT id FROM instance_events WHERE instance_id=$5::bigint "
    "ORDER BY id DESC LIMIT 1 OFFSET $7::bigint)), "
    "aged AS (DELETE FROM instance_events e WHERE e.id <= (SELECT id FROM event) - $8::bigint) ";
const std::string kTransition = kTransitionSteps + "SELECT * FROM moved";

// An allocation in one statement: the state change above ($1 'allocated'),
// then the allocation's row; none when the move was refused. The endpoint
// as Instance::endpoint() makes it. $9 id, $10 client, $11 expires, $12
// init bytes, $13 init SHA-256, $14 metadata, $15 token SHA-256.
const std::string kAllocate =
    kTransitionSteps +
    ", made AS (INSERT INTO allocations(id, instance_id, endpoint, client, created_ms, expires_ms, "
    "init_bytes, init_sha256, metadata, token_sha256, pool) SELECT $9::text, id, host || ':' || port, $10::text, "
    "$2::bigint, $11::bigint, $12::bigint, $13::text, $14::text, $15::text, pool FROM moved RETURNING " +
    kAllocationColumns + ") SELECT * FROM made";

// After an allocation's commit: lets go of the instance's hold if the
// allocation was made. $1 the hold's key, $2 the allocation's id.
const std::string kLetGoIfAllocated =
    "SELECT pg_advisory_unlock($1::bigint) FROM allocations WHERE id=$2::text AND deleted_ms IS NULL";

// Holds an instance and reads it under the hold: the lock is taken first
// (the CTE, not inlined: it is volatile), then the row is read FOR SHARE,
// which waits for a change in flight and returns the newest committed
// version, not the statement's snapshot. The instance's columns, then
// whether it is held. $1 the hold's key, $2 the id.
const std::string kHoldInstance =
    "WITH held AS (SELECT pg_try_advisory_lock($1::bigint) AS ok) SELECT i.*, held.ok FROM held "
    "LEFT JOIN LATERAL (" + kSelectInstance + " WHERE id=$2::bigint AND held.ok FOR SHARE) i ON true";

std::string where_show(Show show, const std::string& current, const std::string& finished) {
  if (show == Show::Current) return " WHERE " + current;
  if (show == Show::Finished) return " WHERE " + finished;
  return "";
}

}  // namespace

Instance PgStore::add_instance(const std::string& host, int port, std::int64_t now_ms,
                               const std::string& pool) {
  return db_->transaction("add instance", [&] {
    // Two managers may pick the same free port at once: the unique index
    // turns the second away, as a conflict rather than a failed statement.
    const auto id = db_->one("INSERT INTO instances(host, port, state, created_ms, updated_ms, pool) "
                             "VALUES($1::text, $2::integer, 'starting', $3::bigint, $3::bigint, $4::text) "
                             "ON CONFLICT (host, port) WHERE state <> 'deleted' DO NOTHING RETURNING id",
                             read_id, host, port, now_ms, pool);
    if (!id) throw PortTaken(host, port);
    record_event_locked(*id, std::nullopt, InstanceState::Starting, now_ms, {});
    return *instance_locked(*id);
  });
}

void PgStore::set_container(std::int64_t id, const std::string& container_id, const std::string& engine,
                            std::int64_t now_ms) {
  db_->locked("set container", [&] {
    if (db_->exec("UPDATE instances SET container_id=$1::text, engine=$2::text, updated_ms=$3::bigint "
                  "WHERE id=$4::bigint",
                  container_id, engine, now_ms, id) != 1)
      throw StoreError("set container: no instance " + std::to_string(id));
    return 0;
  });
}

Instance PgStore::transition_locked(std::int64_t id, InstanceState to, std::int64_t now_ms,
                                    const std::string& error) {
  const bool healthy = to == InstanceState::Ready || to == InstanceState::Paused ||
                       to == InstanceState::Allocated;
  auto moved = db_->one(kTransition, read_instance, std::string(to_string(to)), now_ms, healthy, error, id,
                        states_before(to), std::int64_t{kEventsPerInstance - 1}, std::int64_t{kEventsKept});
  if (moved) return *moved;
  auto current = instance_locked(id);
  if (!current) throw StoreError("no instance " + std::to_string(id));
  throw StaleState("instance " + std::to_string(id) + ": cannot go from " + to_string(current->state) +
                   " to " + to_string(to));
}

void PgStore::record_event_locked(std::int64_t instance_id, std::optional<InstanceState> from,
                                  InstanceState to, std::int64_t now_ms, const std::string& detail) {
  const std::optional<std::string> from_name =
      from ? std::optional<std::string>(to_string(*from)) : std::nullopt;
  const auto id = db_->one("INSERT INTO instance_events(instance_id, at_ms, from_state, to_state, detail) "
                           "VALUES($1::bigint, $2::bigint, $3::text, $4::text, $5::text) RETURNING id",
                           read_id, instance_id, now_ms, from_name, std::string(to_string(to)), detail);
  // Bounded: the instance's oldest beyond its share, and the oldest overall.
  db_->exec("DELETE FROM instance_events WHERE instance_id=$1::bigint AND id <= (SELECT id FROM "
            "instance_events WHERE instance_id=$1::bigint ORDER BY id DESC LIMIT 1 OFFSET $2::bigint)",
            instance_id, kEventsPerInstance);
  db_->exec("DELETE FROM instance_events WHERE id <= $1::bigint", *id - kEventsKept);
}

std::vector<InstanceEvent> PgStore::events(std::optional<std::int64_t> instance_id, std::size_t limit) {
  const std::string columns =
      "SELECT id, instance_id, at_ms, from_state, to_state, detail FROM instance_events";
  const auto n = static_cast<std::int64_t>(limit);
  return db_->locked("list events", [&] {
    if (instance_id)
      return db_->all(columns + " WHERE instance_id=$1::bigint ORDER BY id DESC LIMIT $2::bigint",
                      read_event, *instance_id, n);
    return db_->all(columns + " ORDER BY id DESC LIMIT $1::bigint", read_event, n);
  });
}

Instance PgStore::transition(std::int64_t id, InstanceState to, std::int64_t now_ms,
                             const std::string& error) {
  return db_->transaction("instance transition", [&] { return transition_locked(id, to, now_ms, error); });
}

Instance PgStore::restart(std::int64_t id, std::int64_t now_ms) {
  return db_->transaction("restart instance", [&] {
    transition_locked(id, InstanceState::Starting, now_ms, {});
    db_->exec("UPDATE instances SET restarts=restarts+1 WHERE id=$1::bigint", id);
    return *instance_locked(id);
  });
}

std::optional<Instance> PgStore::instance_locked(std::int64_t id) {
  return db_->one(kSelectInstance + " WHERE id=$1::bigint", read_instance, id);
}

std::optional<Instance> PgStore::instance_for_update(std::int64_t id) {
  return db_->one(kSelectInstance + " WHERE id=$1::bigint FOR UPDATE", read_instance, id);
}

std::optional<Instance> PgStore::instance(std::int64_t id) {
  return db_->locked("read instance", [&] { return instance_locked(id); });
}

std::vector<Instance> PgStore::instances(Show show) {
  return db_->locked("list instances", [&] {
    return db_->all(kSelectInstance + where_show(show, "state <> 'deleted'", "state = 'deleted'") +
                        " ORDER BY id",
                    read_instance);
  });
}

namespace {
// The advisory locks of quotas: (class, hash of the client), apart from the
// one-bigint keys of holds and leadership.
constexpr int kQuotaLockClass = 16;
bool read_lock_taken(const PgRow&) { return true; }
std::int64_t read_count(const PgRow& row) { return row.int64(0); }
}  // namespace

int PgStore::count_current(const std::string& client, const std::string& pool) {
  if (pool.empty())
    return static_cast<int>(*db_->one(
        std::string("SELECT COUNT(*) FROM allocations WHERE deleted_ms IS NULL AND client=$1::text"), read_count,
        client));
  return static_cast<int>(*db_->one(
      std::string("SELECT COUNT(*) FROM allocations WHERE deleted_ms IS NULL AND client=$1::text AND pool=$2::text"),
      read_count, client, pool));
}

int PgStore::current_allocations_of_client(const std::string& client, const std::string& pool) {
  return db_->locked("count allocations", [&] { return count_current(client, pool); });
}

Allocation PgStore::allocate(std::int64_t instance_id, const std::string& allocation_id,
                             const std::string& client, std::int64_t now_ms, std::int64_t expires_ms,
                             const AllocationSession& session, ClientQuotas quotas) {
  if (quotas.pool <= 0 && quotas.overall <= 0)
    return allocate_at_once(instance_id, allocation_id, client, now_ms, expires_ms, session);
  return db_->transaction("allocate", [&] {
    // Of two managers allocating for one client at once, the second waits
    // here until the first commits, then counts its allocation.
    db_->one("SELECT pg_advisory_xact_lock(" + std::to_string(kQuotaLockClass) + ", hashtext($1::text))",
             read_lock_taken, client);
    if (auto instance = instance_locked(instance_id))  // none: the transition below says so
      check_client_quotas(client, instance->pool, quotas,
                          [&](const std::string& pool) { return count_current(client, pool); });
    // The instance row is locked first: of two managers allocating it at
    // once, the second waits, then finds it allocated (StaleState).
    Instance instance = transition_locked(instance_id, InstanceState::Allocated, now_ms, {});
    return *db_->one("INSERT INTO allocations(id, instance_id, endpoint, client, created_ms, expires_ms, "
                     "init_bytes, init_sha256, metadata, token_sha256, pool) "
                     "VALUES($1::text, $2::bigint, $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint, "
                     "$8::text, $9::text, $10::text, $11::text) RETURNING " +
                         kAllocationColumns,
                     read_allocation, allocation_id, instance_id, instance.endpoint(), client, now_ms,
                     expires_ms, session.init_bytes, session.init_sha256, session.metadata,
                     session.token_sha256, instance.pool);
  });
}

// On the hold's session connection when this manager holds the instance: the hold
// is let go right after the commit, in the same round trip.
Allocation PgStore::allocate_at_once(std::int64_t instance_id, const std::string& allocation_id,
                                     const std::string& client, std::int64_t now_ms, std::int64_t expires_ms,
                                     const AllocationSession& session) {
  const std::string to(to_string(InstanceState::Allocated));
  const std::vector<PgParam> params{pg_param(to), pg_param(now_ms), pg_param(true), pg_param(""),
                                    pg_param(instance_id), pg_param(states_before(InstanceState::Allocated)),
                                    pg_param(std::int64_t{kEventsPerInstance - 1}), pg_param(std::int64_t{kEventsKept}),
                                    pg_param(allocation_id), pg_param(client), pg_param(expires_ms),
                                    pg_param(session.init_bytes), pg_param(session.init_sha256),
                                    pg_param(session.metadata), pg_param(session.token_sha256)};
  bool held = false;
  {
    std::lock_guard lock(holds_mu_);
    held = instance_holds_.count(instance_id) > 0;
  }
  auto refused = [&]() -> Allocation {
    auto current = instance_locked(instance_id);
    if (!current) throw StoreError("allocate: no instance " + std::to_string(instance_id));
    throw StaleState("instance " + std::to_string(instance_id) + ": cannot go from " +
                     to_string(current->state) + " to " + to);
  };
  if (!held)
    return db_->locked("allocate", [&] {
      auto made = db_->one_with(kAllocate, read_allocation, params);
      return made ? *made : refused();
    });
  return db_->session(hold_key(Hold::Instance, instance_id), "allocate", [&] {
    auto [made, let_go] = db_->one_then_one(kAllocate, read_allocation, params, kLetGoIfAllocated,
                                             +[](const PgRow& r) { return r.text(0) == "t"; },
                                             {pg_param(hold_key(Hold::Instance, instance_id)), pg_param(allocation_id)});
    if (let_go && *let_go) uncount_hold(instance_id);
    return made ? *made : refused();
  });
}

std::optional<Instance> PgStore::hold_instance(std::int64_t id) {
  return db_->session(hold_key(Hold::Instance, id), "hold instance", [&]() -> std::optional<Instance> {
    struct Held {
      bool ok;
      std::optional<Instance> instance;
    };
    auto held = *db_->one(kHoldInstance, +[](const PgRow& r) {
      return Held{r.text(r.columns() - 1) == "t", r.null(0) ? std::nullopt : std::optional(read_instance(r))};
    }, hold_key(Hold::Instance, id), id);
    if (!held.ok) return std::nullopt;
    if (held.instance) {
      count_hold(id, +1);
      return held.instance;
    }
    db_->one("SELECT pg_advisory_unlock($1::bigint)", +[](const PgRow&) { return 0; }, hold_key(Hold::Instance, id));
    throw StoreError("hold instance: no instance " + std::to_string(id));
  });
}

std::optional<Allocation> PgStore::end_allocation(const std::string& id, const std::string& reason,
                                                  std::int64_t now_ms, bool* ended_now) {
  if (ended_now) *ended_now = false;
  bool ended = false;
  auto result = db_->transaction("end allocation", [&]() -> std::optional<Allocation> {
    auto current = allocation_for_update(id);
    if (!current || !current->current()) return current;
    db_->exec("UPDATE allocations SET deleted_ms=$1::bigint, end_reason=$2::text WHERE id=$3::text",
              now_ms, reason, id);
    auto instance = instance_for_update(current->instance_id);
    if (instance && instance->state == InstanceState::Allocated)
      transition_locked(instance->id, InstanceState::Resetting, now_ms, {});
    ended = true;
    return allocation_locked(id);
  });
  if (ended_now) *ended_now = ended;
  return result;
}

std::optional<Allocation> PgStore::renew(const std::string& id, std::int64_t expires_ms) {
  return db_->locked("renew allocation", [&] {
    db_->exec("UPDATE allocations SET expires_ms=$1::bigint WHERE id=$2::text AND deleted_ms IS NULL",
              expires_ms, id);
    return allocation_locked(id);
  });
}

std::optional<Allocation> PgStore::allocation_locked(const std::string& id) {
  return db_->one(kSelectAllocation + " WHERE id=$1::text", read_allocation, id);
}

std::optional<Allocation> PgStore::allocation_for_update(const std::string& id) {
  return db_->one(kSelectAllocation + " WHERE id=$1::text FOR UPDATE", read_allocation, id);
}

std::optional<Allocation> PgStore::allocation(const std::string& id) {
  return db_->locked("read allocation", [&] { return allocation_locked(id); });
}

std::optional<Allocation> PgStore::allocation_by_number(std::int64_t number) {
  return db_->locked("read allocation", [&] {
    return db_->one(kSelectAllocation + " WHERE number=$1::bigint", read_allocation, number);
  });
}

std::optional<Allocation> PgStore::current_allocation_of(std::int64_t instance_id) {
  return db_->locked("read allocation", [&] {
    return db_->one(kSelectAllocation + " WHERE instance_id=$1::bigint AND deleted_ms IS NULL",
                    read_allocation, instance_id);
  });
}

std::vector<Allocation> PgStore::allocations(const AllocationQuery& q) {
  const std::string show = where_show(q.show, "deleted_ms IS NULL", "deleted_ms IS NOT NULL");
  const std::optional<std::int64_t> limit = q.limit > 0 ? std::optional(q.limit) : std::nullopt;  // NULL: all
  return db_->locked("list allocations", [&] {
    return db_->all(kSelectAllocation + (show.empty() ? " WHERE " : show + " AND ") +
                        "($1::text IS NULL OR client = $1::text) AND ($4::text IS NULL OR pool = $4::text) "
                        "AND number > $2::bigint ORDER BY number LIMIT $3::bigint",
                    read_allocation, q.client, q.after_number, limit, q.pool);
  });
}

std::vector<Allocation> PgStore::expired_allocations(std::int64_t now_ms) {
  return db_->locked("list expired allocations", [&] {
    return db_->all(kSelectAllocation + " WHERE deleted_ms IS NULL AND expires_ms <= $1::bigint",
                    read_allocation, now_ms);
  });
}

}  // namespace warmpool

namespace warmpool {

Store::Pruned PgStore::prune_finished(std::int64_t before_ms, int batch) {
  Pruned out;
  out.allocations = db_->transaction("prune allocations", [&] {
    return db_->exec("DELETE FROM allocations WHERE id IN (SELECT id FROM allocations "
                     "WHERE deleted_ms IS NOT NULL AND deleted_ms < $1::bigint "
                     "AND number < (SELECT MAX(number) FROM allocations) "
                     "ORDER BY deleted_ms LIMIT $2::integer)",
                     before_ms, batch);
  });
  out.instances = db_->transaction("prune instances", [&] {
    return db_->exec(
        "WITH gone AS (SELECT id FROM instances i WHERE state = 'deleted' AND deleted_ms IS NOT NULL "
        "AND deleted_ms < $1::bigint AND NOT EXISTS (SELECT 1 FROM allocations a "
        "WHERE a.instance_id = i.id) ORDER BY deleted_ms LIMIT $2::integer FOR UPDATE SKIP LOCKED), "
        "events AS (DELETE FROM instance_events WHERE instance_id IN (SELECT id FROM gone)) "
        "DELETE FROM instances WHERE id IN (SELECT id FROM gone)",
        before_ms, batch);
  });
  return out;
}

}  // namespace warmpool
