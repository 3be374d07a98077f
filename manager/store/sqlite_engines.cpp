// SqliteStore: engines added through the admin API.
#include <string>

#include "store/sqlite_db.hpp"
#include "store/sqlite_store.hpp"

namespace warmpool {

namespace {

const std::string kEngineColumns = "name, endpoint, capacity, weight, tls_ca, tls_cert, tls_key, created_ms";

EngineRecord read_engine(SQLite::Statement& q) {
  return {q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getInt(),
          q.getColumn(3).getDouble(), q.getColumn(4).getString(), q.getColumn(5).getString(),
          q.getColumn(6).getString(), q.getColumn(7).getInt64()};
}

}  // namespace

EngineRecord SqliteStore::add_engine(const EngineRecord& e) {
  return db_->write_transaction("add engine", [&] {
    if (db_->one("SELECT " + kEngineColumns + " FROM engines WHERE name=?", read_engine, e.name))
      throw EngineExists("add engine: an engine named " + e.name + " is recorded");
    db_->exec("INSERT INTO engines(" + kEngineColumns + ") VALUES(?, ?, ?, ?, ?, ?, ?, ?)", e.name, e.endpoint,
              e.capacity, e.weight, e.tls_ca, e.tls_cert, e.tls_key, e.created_ms);
    return *db_->one("SELECT " + kEngineColumns + " FROM engines WHERE name=?", read_engine, e.name);
  });
}

std::vector<EngineRecord> SqliteStore::engines() {
  return db_->locked("list engines", [&] {
    return db_->all("SELECT " + kEngineColumns + " FROM engines ORDER BY created_ms, name", read_engine);
  });
}

bool SqliteStore::remove_engine(const std::string& name) {
  return db_->locked("remove engine", [&] { return db_->exec("DELETE FROM engines WHERE name=?", name) == 1; });
}

}  // namespace warmpool
