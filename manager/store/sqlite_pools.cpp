// SqliteStore: pool records.
#include <string>

#include "store/sqlite_db.hpp"
#include "store/sqlite_store.hpp"

namespace warmpool {

namespace {

const std::string kPoolColumns =
    "name, image, memory_mb, cpus, pids, tmpfs_mb, port_first, port_last, min_idle, max_idle, "
    "keep_running, health, health_path, reset, data_volume, client_quota, state, created_ms, updated_ms";

PoolRecord read_pool(SQLite::Statement& q) {
  PoolRecord p;
  p.name = q.getColumn(0).getString();
  p.image = q.getColumn(1).getString();
  p.memory_mb = q.getColumn(2).getInt64();
  p.cpus = q.getColumn(3).getDouble();
  p.pids = q.getColumn(4).getInt();
  p.tmpfs_mb = q.getColumn(5).getInt64();
  p.port_first = q.getColumn(6).getInt();
  p.port_last = q.getColumn(7).getInt();
  p.min_idle = q.getColumn(8).getInt();
  p.max_idle = q.getColumn(9).getInt();
  p.keep_running = q.getColumn(10).getInt();
  p.health = q.getColumn(11).getString();
  p.health_path = q.getColumn(12).getString();
  p.reset = q.getColumn(13).getString();
  p.data_volume = q.getColumn(14).getString();
  p.client_quota = q.getColumn(15).getInt();
  p.state = pool_state_from(q.getColumn(16).getString()).value_or(PoolState::Active);
  p.created_ms = q.getColumn(17).getInt64();
  p.updated_ms = q.getColumn(18).getInt64();
  return p;
}

}  // namespace

std::optional<PoolRecord> SqliteStore::pool_locked(const std::string& name) {
  return db_->one("SELECT " + kPoolColumns + " FROM pools WHERE name=?", read_pool, name);
}

// replace: an existing row keeps its created_ms.
void SqliteStore::write_pool_locked(const PoolRecord& p, bool replace) {
  db_->exec("INSERT INTO pools(" + kPoolColumns +
                ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)" +
                (replace ? " ON CONFLICT(name) DO UPDATE SET image=?2, memory_mb=?3, cpus=?4, pids=?5, "
                           "tmpfs_mb=?6, port_first=?7, port_last=?8, min_idle=?9, max_idle=?10, "
                           "keep_running=?11, health=?12, health_path=?13, reset=?14, data_volume=?15, "
                           "client_quota=?16, state=?17, updated_ms=?19"
                         : ""),
            p.name, p.image, p.memory_mb, p.cpus, p.pids, p.tmpfs_mb, p.port_first, p.port_last,
            p.min_idle, p.max_idle, p.keep_running, p.health, p.health_path, p.reset, p.data_volume,
            p.client_quota, std::string(to_string(p.state)), p.created_ms, p.updated_ms);
}

PoolRecord SqliteStore::add_pool(const PoolRecord& pool) {
  return db_->write_transaction("add pool", [&] {
    if (pool_locked(pool.name)) throw PoolExists("add pool: a pool named " + pool.name + " exists");
    write_pool_locked(pool, false);
    return *pool_locked(pool.name);
  });
}

PoolRecord SqliteStore::put_pool(const PoolRecord& pool) {
  return db_->write_transaction("write pool", [&] {
    write_pool_locked(pool, true);
    return *pool_locked(pool.name);
  });
}

std::optional<PoolRecord> SqliteStore::pool(const std::string& name) {
  return db_->locked("read pool", [&] { return pool_locked(name); });
}

std::vector<PoolRecord> SqliteStore::pools() {
  return db_->locked("list pools",
                     [&] { return db_->all("SELECT " + kPoolColumns + " FROM pools ORDER BY name", read_pool); });
}

std::optional<PoolRecord> SqliteStore::update_pool(const PoolRecord& pool) {
  return db_->write_transaction("update pool", [&]() -> std::optional<PoolRecord> {
    if (!pool_locked(pool.name)) return std::nullopt;
    write_pool_locked(pool, true);
    return pool_locked(pool.name);
  });
}

bool SqliteStore::remove_pool(const std::string& name) {
  return db_->locked("remove pool", [&] { return db_->exec("DELETE FROM pools WHERE name=?", name) == 1; });
}

}  // namespace warmpool
