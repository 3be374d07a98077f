// PostgreSQL connections (libpq) and the one way the store talks to it:
// run a query with its arguments as text parameters and read the rows back.
// Internal to store_pg/.
//
// A few connections (PgStore: one per thread that calls it at once, so that
// a hand-out's statements do not queue behind a listing's), and a few
// session connections, each the home of the advisory locks whose keys map to
// it. Thread-safe through locked()/transaction()/session(), which lease one
// connection to the calling thread for their body; exec/one/all/script
// REQUIRE being called inside one of them. A connection found broken is
// re-opened at the start of its next lease.
// Errors: PgError inside; they leave locked()/transaction() as
// StoreError("what: server message"); a StoreError thrown inside passes as is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/store.hpp"

struct pg_conn;
struct pg_result;

namespace warmpool {

// A failed statement: the server's message and its SQLSTATE ("23505"...).
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// One row of a result, read by column index. Text format: numbers are parsed.
class PgRow {
 public:
  PgRow(pg_result* result, int row) : result_(result), row_(row) {}
  bool null(int column) const;
  std::string text(int column) const;
  std::int64_t int64(int column) const;
  double real(int column) const;
  std::optional<std::int64_t> optional_int(int column) const;
  int columns() const;

 private:
  pg_result* result_;
  int row_;
};

// A parameter: text, or NULL.
using PgParam = std::optional<std::string>;

inline PgParam pg_param(const std::string& v) { return v; }
inline PgParam pg_param(const char* v) { return std::string(v); }
inline PgParam pg_param(std::int64_t v) { return std::to_string(v); }
inline PgParam pg_param(int v) { return std::to_string(v); }
inline PgParam pg_param(bool v) { return std::string(v ? "true" : "false"); }
PgParam pg_param(double v);
template <typename T>
PgParam pg_param(const std::optional<T>& v) {
  return v ? pg_param(*v) : std::nullopt;
}

class PgConn {
 public:
  // Opens `connections` connections with `conninfo` (a postgresql:// URL or
  // key=value pairs), as application_name `name` when given (other sessions
  // see it). The first `sessions` are session connections (session()); the
  // others serve locked() and transaction(), or the first too when it is the
  // only one. Throws StoreError("connect to PostgreSQL: ...").
  // REQUIRES: 1 <= sessions <= connections, or connections <= 1.
  explicit PgConn(std::string conninfo, std::string name = {}, int connections = 1, int sessions = 1);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Round trips to any server so far, by every PgConn of the process: what a
  // hand-out's cost is counted in.
  static std::uint64_t round_trips();

  // Runs body() on a free connection, waiting for one.
  template <typename F>
  auto locked(const char* what, F&& body) {
    return on(std::nullopt, what, std::forward<F>(body));
  }

  // Runs body() on the session connection of `key`, always the same one for
  // one key: an advisory lock lives in the session that took it, and taken
  // twice there it is held twice. Locks of other keys may live elsewhere, so
  // that hand-outs holding different instances do not queue for one
  // connection.
  template <typename F>
  auto session(std::int64_t key, const char* what, F&& body) {
    return on(session_of(key), what, std::forward<F>(body));
  }

  // locked(), with body() in one transaction; rolled back if it throws.
  template <typename F>
  auto transaction(const char* what, F&& body) {
    return locked(what, [&] {
      script("BEGIN");
      try {
        auto result = body();
        script("COMMIT");
        return result;
      } catch (...) {
        rollback();
        throw;
      }
    });
  }

  // REQUIRES: inside locked() or session(). Runs `sql` with `args` as $1,
  // $2, ...; returns the number of rows changed.
  template <typename... A>
  int exec(const std::string& sql, const A&... args) {
    return changed(run(sql, {pg_param(args)...}));
  }

  // REQUIRES: inside locked() or session(). The first row, read by `read`;
  // nullopt if none.
  template <typename T, typename... A>
  std::optional<T> one(const std::string& sql, T (*read)(const PgRow&), const A&... args) {
    auto rows = all(sql, read, args...);
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
  }

  // one(), with the arguments given as parameters already.
  template <typename T>
  std::optional<T> one_with(const std::string& sql, T (*read)(const PgRow&), const std::vector<PgParam>& params) {
    Result r(run(sql, params));
    if (rows(r.get()) == 0) return std::nullopt;
    return read(PgRow(r.get(), 0));
  }

  // REQUIRES: inside locked() or session(). Every row, read by `read`.
  template <typename T, typename... A>
  std::vector<T> all(const std::string& sql, T (*read)(const PgRow&), const A&... args) {
    Result r(run(sql, {pg_param(args)...}));
    std::vector<T> out;
    for (int i = 0, n = rows(r.get()); i < n; ++i) out.push_back(read(PgRow(r.get(), i)));
    return out;
  }

  // REQUIRES: inside locked() or session(). Runs `sql`, commits it, then
  // runs `after` in a transaction of its own, which sees what `sql`
  // committed: in one round trip (libpq's pipeline mode). The first row of
  // each, read by `read` and `read_after`. Throws the first one's error.
  template <typename T, typename U>
  std::pair<std::optional<T>, std::optional<U>> one_then_one(const std::string& sql, T (*read)(const PgRow&),
                                                             const std::vector<PgParam>& params,
                                                             const std::string& after,
                                                             U (*read_after)(const PgRow&),
                                                             const std::vector<PgParam>& after_params) {
    auto [first, second] = run_two(sql, params, after, after_params);
    Result a(first), b(second);
    std::pair<std::optional<T>, std::optional<U>> out;
    if (rows(first) > 0) out.first = read(PgRow(first, 0));
    if (rows(second) > 0) out.second = read_after(PgRow(second, 0));
    return out;
  }

  // REQUIRES: inside locked() or session(). Runs statements without
  // parameters, unprepared.
  void script(const std::string& sql);

 private:
  // One connection and the statements prepared on it.
  struct Link {
    pg_conn* conn = nullptr;
    std::map<std::string, std::string> prepared;  // sql -> statement name
    std::uint64_t epoch = 0;                      // epoch_ when it connected
  };

  // Owns a pg_result.
  class Result {
   public:
    explicit Result(pg_result* r) : r_(r) {}
    ~Result();
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    pg_result* get() const { return r_; }

   private:
    pg_result* r_;
  };

  // A link leased to the calling thread; given back when destroyed.
  class Lease {
   public:
    Lease(PgConn& owner, std::size_t index);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    PgConn& owner_;
    std::size_t index_;
    Link* outer_;  // the thread's link before this lease (another PgConn's)
  };

  template <typename F>
  auto on(std::optional<std::size_t> session_link, const char* what, F&& body) {
    const std::size_t index = lease(session_link);
    Lease lease(*this, index);
    try {
      ensure_connected();
      return body();
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      throw StoreError(std::string(what) + ": " + e.what());
    }
  }

  // Waits for a free link: session link `session`, or any other; its index.
  std::size_t lease(std::optional<std::size_t> session);
  std::size_t session_of(std::int64_t key) const;
  Link& current();  // the calling thread's leased link

  // REQUIRES: a lease. Prepares sql once per connection, runs it; the
  // result is the caller's to free. Throws PgError.
  pg_result* run(const std::string& sql, const std::vector<PgParam>& params);
  // REQUIRES: a lease. one_then_one()'s round trip; both results are the
  // caller's to free. Throws PgError.
  std::pair<pg_result*, pg_result*> run_two(const std::string& sql, const std::vector<PgParam>& params,
                                            const std::string& after, const std::vector<PgParam>& after_params);
  const std::string& prepared(Link& link, const std::string& sql);  // its statement name
  static int changed(pg_result* r);  // frees r
  static int rows(pg_result* r);
  void ensure_connected();  // REQUIRES: a lease
  void rollback() noexcept;  // REQUIRES: a lease

  const std::string conninfo_;
  const std::string name_;
  std::vector<Link> links_;  // each used only by the thread that leased it
  const std::size_t sessions_;  // links_[0, sessions_) are the session links
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<bool> busy_;  // GUARDED_BY(mu_)
  // After a failed connect, calls fail at once with its reason until
  // retry_at_: while the server is away they must not queue behind each
  // other's connect attempts.
  std::chrono::steady_clock::time_point retry_at_;  // GUARDED_BY(mu_)
  std::string unreachable_;                         // GUARDED_BY(mu_): the last failed connect's reason
  std::uint64_t epoch_ = 0;                         // GUARDED_BY(mu_): connections found broken
};

}  // namespace warmpool
