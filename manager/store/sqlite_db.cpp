#include "store/sqlite_db.hpp"

#include <chrono>
#include <thread>

#include <sqlite3.h>

namespace warmpool {

namespace {

constexpr auto kOpenPatience = std::chrono::seconds(5);

// Switching a new file to WAL needs its exclusive lock. Two connections
// doing it at once can deadlock on the upgrade, and SQLite then answers the
// loser "database is locked" at once instead of calling the busy handler, so
// the loser asks again, as the busy handler would have.
void use_wal(SQLite::Database& db) {
  const auto deadline = std::chrono::steady_clock::now() + kOpenPatience;
  for (;;) {
    try {
      db.exec("PRAGMA journal_mode=WAL");
      return;
    } catch (const SQLite::Exception& e) {
      if ((e.getErrorCode() & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline)
        throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

SqliteDb::SqliteDb(const std::string& path) {
  locked("open database", [&] {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db_->setBusyTimeout(5000);
    use_wal(*db_);
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
