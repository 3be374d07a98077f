#include "store/sqlite_db.hpp"

namespace warmpool {

SqliteDb::SqliteDb(const std::string& path) {
  locked("open database", [&] {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db_->setBusyTimeout(5000);
    db_->exec("PRAGMA journal_mode=WAL");
    // NORMAL in WAL mode survives a crash of the process; FULL would also
    // survive power loss at the price of an fsync per commit.
    db_->exec("PRAGMA synchronous=NORMAL");
    db_->exec("PRAGMA foreign_keys=ON");
    return 0;
  });
}

SQLite::Statement& SqliteDb::statement(const std::string& sql) {
  auto& cached = statements_[sql];
  if (!cached) cached = std::make_unique<SQLite::Statement>(*db_, sql);
  return *cached;
}

}  // namespace warmpool
