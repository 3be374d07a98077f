// PgStore: pool records. A name is taken once: of two managers adding the
// same pool at once, the second finds the row (PoolExists).
#include <string>

#include "store_pg/pg_conn.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool {

namespace {

const std::string kPoolColumns =
    "name, image, memory_mb, cpus, pids, tmpfs_mb, port_first, port_last, min_idle, max_idle, "
    "keep_running, health, health_path, reset, data_volume, client_quota, state, created_ms, updated_ms";

// $1..$19 in kPoolColumns' order.
const std::string kPoolValues =
    "($1::text, $2::text, $3::bigint, $4::double precision, $5::integer, $6::bigint, $7::integer, "
    "$8::integer, $9::integer, $10::integer, $11::integer, $12::text, $13::text, $14::text, $15::text, "
    "$16::integer, $17::text, $18::bigint, $19::bigint)";

const std::string kPoolUpdate =
    "image=EXCLUDED.image, memory_mb=EXCLUDED.memory_mb, cpus=EXCLUDED.cpus, pids=EXCLUDED.pids, "
    "tmpfs_mb=EXCLUDED.tmpfs_mb, port_first=EXCLUDED.port_first, port_last=EXCLUDED.port_last, "
    "min_idle=EXCLUDED.min_idle, max_idle=EXCLUDED.max_idle, keep_running=EXCLUDED.keep_running, "
    "health=EXCLUDED.health, health_path=EXCLUDED.health_path, reset=EXCLUDED.reset, "
    "data_volume=EXCLUDED.data_volume, client_quota=EXCLUDED.client_quota, state=EXCLUDED.state, "
    "updated_ms=EXCLUDED.updated_ms";

PoolRecord read_pool(const PgRow& r) {
  PoolRecord p;
  p.name = r.text(0);
  p.image = r.text(1);
  p.memory_mb = r.int64(2);
  p.cpus = r.real(3);
  p.pids = static_cast<int>(r.int64(4));
  p.tmpfs_mb = r.int64(5);
  p.port_first = static_cast<int>(r.int64(6));
  p.port_last = static_cast<int>(r.int64(7));
  p.min_idle = static_cast<int>(r.int64(8));
  p.max_idle = static_cast<int>(r.int64(9));
  p.keep_running = static_cast<int>(r.int64(10));
  p.health = r.text(11);
  p.health_path = r.text(12);
  p.reset = r.text(13);
  p.data_volume = r.text(14);
  p.client_quota = static_cast<int>(r.int64(15));
  p.state = pool_state_from(r.text(16)).value_or(PoolState::Active);
  p.created_ms = r.int64(17);
  p.updated_ms = r.int64(18);
  return p;
}

// Writes p; `on_conflict` says what a row of that name does.
template <typename Db>
std::optional<PoolRecord> write_pool(Db& db, const PoolRecord& p, const std::string& on_conflict) {
  return db.one("INSERT INTO pools(" + kPoolColumns + ") VALUES " + kPoolValues + " ON CONFLICT (name) " +
                    on_conflict + " RETURNING " + kPoolColumns,
                read_pool, p.name, p.image, p.memory_mb, p.cpus, p.pids, p.tmpfs_mb, p.port_first,
                p.port_last, p.min_idle, p.max_idle, p.keep_running, p.health, p.health_path, p.reset,
                p.data_volume, p.client_quota, std::string(to_string(p.state)), p.created_ms,
                p.updated_ms);
}

}  // namespace

PoolRecord PgStore::add_pool(const PoolRecord& pool) {
  auto added = db_->locked("add pool", [&] { return write_pool(*db_, pool, "DO NOTHING"); });
  if (!added) throw PoolExists("add pool: a pool named " + pool.name + " exists");
  return *added;
}

PoolRecord PgStore::put_pool(const PoolRecord& pool) {
  return *db_->locked("write pool", [&] { return write_pool(*db_, pool, "DO UPDATE SET " + kPoolUpdate); });
}

std::optional<PoolRecord> PgStore::pool(const std::string& name) {
  return db_->locked("read pool", [&] {
    return db_->one("SELECT " + kPoolColumns + " FROM pools WHERE name=$1::text", read_pool, name);
  });
}

std::vector<PoolRecord> PgStore::pools() {
  return db_->locked("list pools",
                     [&] { return db_->all("SELECT " + kPoolColumns + " FROM pools ORDER BY name", read_pool); });
}

std::optional<PoolRecord> PgStore::update_pool(const PoolRecord& p) {
  return db_->locked("update pool", [&] {
    return db_->one("UPDATE pools SET image=$2::text, memory_mb=$3::bigint, cpus=$4::double precision, "
                    "pids=$5::integer, tmpfs_mb=$6::bigint, port_first=$7::integer, port_last=$8::integer, "
                    "min_idle=$9::integer, max_idle=$10::integer, keep_running=$11::integer, health=$12::text, "
                    "health_path=$13::text, reset=$14::text, data_volume=$15::text, client_quota=$16::integer, "
                    "state=$17::text, updated_ms=$18::bigint WHERE name=$1::text RETURNING " + kPoolColumns,
                    read_pool, p.name, p.image, p.memory_mb, p.cpus, p.pids, p.tmpfs_mb, p.port_first,
                    p.port_last, p.min_idle, p.max_idle, p.keep_running, p.health, p.health_path, p.reset,
                    p.data_volume, p.client_quota, std::string(to_string(p.state)), p.updated_ms);
  });
}

bool PgStore::remove_pool(const std::string& name) {
  return db_->locked("remove pool", [&] { return db_->exec("DELETE FROM pools WHERE name=$1::text", name) == 1; });
}

}  // namespace warmpool
