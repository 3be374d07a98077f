// PgStore: holds and leadership through PostgreSQL's session advisory locks,
// all taken on the session connection.
// The server releases a session's locks when its connection ends, so a
// manager that dies (or loses the database) lets go of everything at once,
// and another manager can take over at its next try.
#include <string>

#include "store_pg/pg_conn.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool {

namespace {

// One bigint key per lock: the kind in the top 16 bits, the id below. Apart
// from the migration lock's key ("warm..." in the top bits).
constexpr std::int64_t kLeaderKind = 3;

std::int64_t key(std::int64_t kind, std::int64_t id) {
  return (kind << 48) | (id & ((std::int64_t{1} << 48) - 1));
}

bool read_bool(const PgRow& r) { return r.text(0) == "t"; }
std::string read_text(const PgRow& r) { return r.text(0); }

// pg_locks shows a bigint advisory key as classid (high half), objid (low
// half), objsubid 1, in the current database.
const std::string kLockRow =
    "FROM pg_locks l WHERE l.locktype='advisory' AND l.granted AND l.objsubid=1 "
    "AND l.classid=($1::bigint >> 32)::oid AND l.objid=($1::bigint & 4294967295)::oid "
    "AND l.database=(SELECT oid FROM pg_database WHERE datname=current_database())";

}  // namespace

std::int64_t PgStore::hold_key(Hold what, std::int64_t id) { return key(static_cast<std::int64_t>(what), id); }

bool PgStore::hold(Hold what, std::int64_t id) {
  const bool held = db_->session(hold_key(what, id), "hold", [&] {
    return *db_->one("SELECT pg_try_advisory_lock($1::bigint)", read_bool, hold_key(what, id));
  });
  if (held && what == Hold::Instance) count_hold(id, +1);
  return held;
}

void PgStore::let_go(Hold what, std::int64_t id) {
  if (what == Hold::Instance && !uncount_hold(id)) return;
  db_->session(hold_key(what, id), "let go", [&] {
    db_->one("SELECT pg_advisory_unlock($1::bigint)", read_bool, hold_key(what, id));
    return 0;
  });
}

void PgStore::count_hold(std::int64_t id, int change) {
  std::lock_guard lock(holds_mu_);
  if ((instance_holds_[id] += change) <= 0) instance_holds_.erase(id);
}

bool PgStore::uncount_hold(std::int64_t id) {
  std::lock_guard lock(holds_mu_);
  auto it = instance_holds_.find(id);
  if (it == instance_holds_.end()) return false;
  if (--it->second == 0) instance_holds_.erase(it);
  return true;
}

bool PgStore::lead() {
  // Held already (counted once), else try: one round trip either way.
  return db_->session(key(kLeaderKind, 0), "lead", [&] {
    return *db_->one("SELECT CASE WHEN EXISTS(SELECT 1 " + kLockRow +
                         " AND l.pid=pg_backend_pid()) THEN true ELSE pg_try_advisory_lock($1::bigint) END",
                     read_bool, key(kLeaderKind, 0));
  });
}

std::string PgStore::leader() {
  return db_->locked("read leader", [&] {
    return db_->one("SELECT a.application_name FROM pg_stat_activity a WHERE a.pid IN (SELECT l.pid " +
                        kLockRow + ")",
                    read_text, key(kLeaderKind, 0))
        .value_or("");
  });
}

}  // namespace warmpool
