// The database a store test runs on, fresh for each test: a SQLite file, or,
// when WARMPOOL_STORE_BACKEND=postgresql, a new database on the PostgreSQL
// server that WARMPOOL_TEST_POSTGRES names (libpq key=value pairs without a
// dbname; `scripts/postgres env` prints it). ctest runs the store tests once
// per backend; tests of several managers ask for PostgreSQL outright. A
// PostgreSQL test without a server fails: it is never skipped.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite_store.hpp"
#include "store_pg/pg_conn.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool::test {

inline bool testing_postgres() {
  const char* backend = std::getenv("WARMPOOL_STORE_BACKEND");
  return backend && std::string(backend) == "postgresql";
}

// The server's conninfo, without a database. Fails the test when unset.
inline std::string postgres_server() {
  const char* server = std::getenv("WARMPOOL_TEST_POSTGRES");
  if (!server || !*server)
    FAIL("WARMPOOL_TEST_POSTGRES is not set: start a server with scripts/postgres start, "
         "then eval \"$(scripts/postgres env)\"");
  return server;
}

class TestDatabase {
 public:
  explicit TestDatabase(bool postgres = testing_postgres()) {
    static std::atomic<int> counter{0};
    const std::string name = "warmpool_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    if (postgres) {
      server_ = postgres_server();
      admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      admin("CREATE DATABASE " + name);
      target_ = server_ + " dbname=" + name;
      name_ = name;
    } else {
      target_ = (std::filesystem::temp_directory_path() / (name + ".db")).string();
      remove_files();
    }
  }
  ~TestDatabase() {
    store_.reset();
    if (server_.empty()) {
      remove_files();
      return;
    }
    try {
      admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception&) {
      // left for the next run's cluster to hold; it is throwaway
    }
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  bool postgres() const { return !server_.empty(); }
  // What a store opens: a file path or a conninfo.
  const std::string& target() const { return target_; }
  // PostgreSQL only: the database as `warmpool serve --database` takes it,
  // postgresql:///NAME?host=...&port=...&user=... (the server's pairs).
  std::string url() const {
    std::string query;
    std::istringstream pairs(server_);
    for (std::string pair; pairs >> pair;) query += (query.empty() ? "?" : "&") + pair;
    return "postgresql:///" + name_ + query;
  }

  // The store on this database, opened on first use.
  Store& store() {
    if (!store_) store_ = open();
    return *store_;
  }
  // Closes the store and opens it again, as a restarted manager would.
  Store& reopen() {
    store_.reset();
    return store();
  }
  // A second store on the same database, as a second manager has; `name`
  // is the manager's name (PostgreSQL only).
  std::unique_ptr<Store> open(const std::string& name = {}) const {
    if (postgres()) return std::make_unique<PgStore>(target_, name);
    return std::make_unique<SqliteStore>(target_);
  }
  // Runs SQL on the database itself, beside the store.
  void exec(const std::string& sql) const {
    if (postgres()) {
      PgConn conn(target_);
      conn.locked("test sql", [&] {
        conn.script(sql);
        return 0;
      });
    } else {
      SQLite::Database db(target_, SQLite::OPEN_READWRITE);
      db.exec(sql);
    }
  }

 private:
  void admin(const std::string& sql) const {
    PgConn conn(server_ + " dbname=postgres");
    conn.locked("test database", [&] {
      conn.script(sql);
      return 0;
    });
  }
  void remove_files() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(target_ + suffix);
  }

  std::string server_;
  std::string name_;
  std::string target_;
  std::unique_ptr<Store> store_;
};

}  // namespace warmpool::test
