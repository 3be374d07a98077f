// One SQLite connection and the one way the store talks to it: run a query
// with its arguments bound and read the rows back. Internal to store/.
//
// Thread-safe through locked()/transaction(), which serialise on one mutex;
// exec/one/all/script REQUIRE being called inside one of them.
// Errors: SQLite's exceptions leave locked()/transaction() as
// StoreError("what: sqlite message"); a StoreError thrown inside passes as is.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "store/store.hpp"

namespace warmpool {

// A column that may be NULL.
inline std::optional<std::int64_t> optional_int(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

class SqliteDb {
 public:
  // Opens or creates the database at `path` (WAL, foreign keys on).
  // Throws StoreError("open database: ...").
  explicit SqliteDb(const std::string& path);
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs body() under the lock; errors mapped as above.
  template <typename F>
  auto locked(const char* what, F&& body) {
    std::lock_guard lock(mu_);
    try {
      return body();
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      throw StoreError(std::string(what) + ": " + e.what());
    }
  }

  // locked(), with body() in one transaction; rolled back if it throws.
  template <typename F>
  auto transaction(const char* what, F&& body) {
    return locked(what, [&] {
      SQLite::Transaction tx(*db_);
      auto result = body();
      tx.commit();
      return result;
    });
  }

  // transaction(), begun IMMEDIATE: it takes the write lock at once, so a
  // second connection doing the same waits (busy timeout) and then reads
  // what the first wrote, instead of failing to upgrade a read lock.
  template <typename F>
  auto write_transaction(const char* what, F&& body) {
    return locked(what, [&] {
      SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      auto result = body();
      tx.commit();
      return result;
    });
  }

  // REQUIRES: inside locked(). Runs `sql` with `args` bound to ?1, ?2, ...;
  // returns the number of rows changed.
  template <typename... A>
  int exec(const std::string& sql, const A&... args) {
    Bound q(statement(sql), args...);
    return q.get().exec();
  }

  // REQUIRES: inside locked(). The first row, read by `read`; nullopt if none.
  template <typename T, typename... A>
  std::optional<T> one(const std::string& sql, T (*read)(SQLite::Statement&),
                       const A&... args) {
    Bound q(statement(sql), args...);
    if (!q.get().executeStep()) return std::nullopt;
    return read(q.get());
  }

  // REQUIRES: inside locked(). Every row, read by `read`.
  template <typename T, typename... A>
  std::vector<T> all(const std::string& sql, T (*read)(SQLite::Statement&), const A&... args) {
    Bound q(statement(sql), args...);
    std::vector<T> out;
    while (q.get().executeStep()) out.push_back(read(q.get()));
    return out;
  }

  // REQUIRES: inside locked(). Runs several statements, uncached, unbound.
  void script(const std::string& sql) { db_->exec(sql); }

  // REQUIRES: inside locked(). The rowid of the last insert.
  std::int64_t last_insert_id() const { return db_->getLastInsertRowid(); }

 private:
  // A cached statement with arguments bound, reset on scope exit so that it
  // never holds a read snapshot open.
  class Bound {
   public:
    template <typename... A>
    Bound(SQLite::Statement& q, const A&... args) : q_(q) {
      int i = 0;
      (bind(++i, args), ...);
    }
    ~Bound() {
      q_.tryReset();  // the step's own error, if any, was thrown already
      q_.clearBindings();
    }
    Bound(const Bound&) = delete;
    Bound& operator=(const Bound&) = delete;
    SQLite::Statement& get() { return q_; }

   private:
    template <typename T>
    void bind(int i, const T& v) { q_.bind(i, v); }
    template <typename T>
    void bind(int i, const std::optional<T>& v) {
      if (v) q_.bind(i, *v);  // unbound is NULL
    }
    SQLite::Statement& q_;
  };

  // REQUIRES: mu_ held. The prepared statement for sql, cached: parsing SQL
  // was the largest cost of a read route.
  SQLite::Statement& statement(const std::string& sql);

  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
