#include "store_pg/pg_conn.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>

namespace warmpool {

namespace {

// libpq's shortest connect timeout (seconds); a server that is down on a
// unix socket or a closed port refuses at once anyway.
constexpr const char* kConnectTimeout = "2";
// How long calls fail fast after a failed connect before one tries again.
constexpr auto kRetryPause = std::chrono::milliseconds(500);
// Every statement here is prepared once per connection and looks rows up by
// key, so one plan serves every parameter: planned again for each call (the
// server's first five, and then whenever it judges so), the state change that
// records an allocation spent more time planning than running.
constexpr const char* kSessionOptions = "-c plan_cache_mode=force_generic_plan";

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Throws PgError unless r is a success; frees r then.
void check(PGresult* r, PGconn* conn) {
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
  std::string message = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (message.empty()) message = trimmed(PQerrorMessage(conn));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  PQclear(r);
  throw PgError(message.empty() ? "the PostgreSQL server did not answer" : message, sqlstate);
}

}  // namespace

PgParam pg_param(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return std::string(buf);
}

bool PgRow::null(int column) const { return PQgetisnull(result_, row_, column) != 0; }

std::string PgRow::text(int column) const {
  return std::string(PQgetvalue(result_, row_, column),
                     static_cast<std::size_t>(PQgetlength(result_, row_, column)));
}

std::int64_t PgRow::int64(int column) const {
  const char* v = PQgetvalue(result_, row_, column);
  std::int64_t out = 0;
  std::from_chars(v, v + PQgetlength(result_, row_, column), out);
  return out;
}

double PgRow::real(int column) const { return std::strtod(PQgetvalue(result_, row_, column), nullptr); }

std::optional<std::int64_t> PgRow::optional_int(int column) const {
  if (null(column)) return std::nullopt;
  return int64(column);
}

int PgRow::columns() const { return PQnfields(result_); }

PgConn::Result::~Result() { PQclear(r_); }

namespace {
// The link the calling thread leased (of whichever PgConn).
thread_local void* t_link = nullptr;
std::atomic<std::uint64_t> g_round_trips{0};
}  // namespace

std::uint64_t PgConn::round_trips() { return g_round_trips.load(); }

PgConn::Lease::Lease(PgConn& owner, std::size_t index)
    : owner_(owner), index_(index), outer_(static_cast<Link*>(t_link)) {
  t_link = &owner_.links_[index_];
}

PgConn::Lease::~Lease() {
  t_link = outer_;
  {
    std::lock_guard lock(owner_.mu_);
    owner_.busy_[index_] = false;
  }
  owner_.freed_.notify_all();
}

PgConn::PgConn(std::string conninfo, std::string name, int connections, int sessions)
    : conninfo_(std::move(conninfo)),
      name_(std::move(name)),
      links_(static_cast<std::size_t>(std::max(connections, 1))),
      sessions_(std::clamp<std::size_t>(static_cast<std::size_t>(std::max(sessions, 1)), 1, links_.size())),
      busy_(links_.size(), false) {
  // The first one now, so that a server that does not answer is refused
  // here; the others when first leased.
  try {
    Lease lease(*this, this->lease(std::size_t{0}));
    ensure_connected();
  } catch (const std::exception& e) {
    throw StoreError(std::string("connect to PostgreSQL: ") + e.what());
  }
}

PgConn::~PgConn() {
  for (auto& link : links_)
    if (link.conn) PQfinish(link.conn);
}

std::size_t PgConn::lease(std::optional<std::size_t> session) {
  std::unique_lock lock(mu_);
  // The session links serve everyone only when there is no other.
  const std::size_t first = session ? *session : sessions_ == links_.size() ? 0 : sessions_;
  const std::size_t last = session ? *session + 1 : links_.size();
  std::size_t index = 0;
  freed_.wait(lock, [&] {
    for (index = first; index < last; ++index)
      if (!busy_[index]) return true;
    return false;
  });
  busy_[index] = true;
  return index;
}

std::size_t PgConn::session_of(std::int64_t key) const {
  return static_cast<std::size_t>(static_cast<std::uint64_t>(key) % sessions_);
}

PgConn::Link& PgConn::current() { return *static_cast<Link*>(t_link); }

// A connection the server closed while it sat idle (a restart, a terminated
// backend) is found by reading what is pending, without a round trip. One
// found broken makes the others (not the session links, whose locks would
// go) connect again at their next lease: they went the same way, most likely.
void PgConn::ensure_connected() {
  Link& link = current();
  const bool session = static_cast<std::size_t>(&link - links_.data()) < sessions_;
  std::uint64_t epoch = 0;
  {
    std::lock_guard lock(mu_);
    epoch = epoch_;
  }
  const bool alive = link.conn && PQstatus(link.conn) == CONNECTION_OK && PQconsumeInput(link.conn) == 1 &&
                     PQstatus(link.conn) == CONNECTION_OK;
  if (alive && (session || link.epoch == epoch)) return;
  if (link.conn) {
    PQfinish(link.conn);
    if (!alive) {
      std::lock_guard lock(mu_);
      epoch = ++epoch_;
    }
  }
  link.conn = nullptr;
  link.prepared.clear();  // statements belong to the session that prepared them
  link.epoch = epoch;
  {
    std::lock_guard lock(mu_);
    if (std::chrono::steady_clock::now() < retry_at_) throw PgError(unreachable_, "08006");
  }
  // Later entries win: the URL may set its own connect_timeout and options;
  // the application name, when given, is ours.
  std::vector<const char*> keys{"connect_timeout", "options", "dbname"};
  std::vector<const char*> values{kConnectTimeout, kSessionOptions, conninfo_.c_str()};
  if (!name_.empty()) {
    keys.push_back("application_name");
    values.push_back(name_.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = "PostgreSQL unreachable: " + trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    std::lock_guard lock(mu_);
    unreachable_ = why;
    retry_at_ = std::chrono::steady_clock::now() + kRetryPause;
    throw PgError(why, "08006");
  }
  // Quiet NOTICEs ("relation already exists, skipping") stay off stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  link.conn = conn;
}

void PgConn::script(const std::string& sql) {
  PGconn* conn = current().conn;
  ++g_round_trips;
  check(PQexec(conn, sql.c_str()), conn);
}

void PgConn::rollback() noexcept {
  PGconn* conn = current().conn;
  if (!conn || PQstatus(conn) != CONNECTION_OK) return;
  PQclear(PQexec(conn, "ROLLBACK"));
}

const std::string& PgConn::prepared(Link& link, const std::string& sql) {
  auto [it, fresh] = link.prepared.try_emplace(sql, "s" + std::to_string(link.prepared.size()));
  if (fresh) {
    try {
      ++g_round_trips;
      check(PQprepare(link.conn, it->second.c_str(), sql.c_str(), 0, nullptr), link.conn);
    } catch (...) {
      link.prepared.erase(it);
      throw;
    }
  }
  return it->second;
}

namespace {
std::vector<const char*> values_of(const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return values;
}
}  // namespace

PGresult* PgConn::run(const std::string& sql, const std::vector<PgParam>& params) {
  Link& link = current();
  const std::string& name = prepared(link, sql);
  const auto values = values_of(params);
  ++g_round_trips;
  PGresult* r = PQexecPrepared(link.conn, name.c_str(), static_cast<int>(values.size()), values.data(),
                               nullptr, nullptr, 0);
  check(r, link.conn);
  return r;
}

// Each statement is followed by a sync, which ends its implicit transaction.
// The answers come as: the statement's result, the end of its results, the
// sync. Anything else means the connection broke: it is closed, to be
// opened again by the next lease.
std::pair<PGresult*, PGresult*> PgConn::run_two(const std::string& sql, const std::vector<PgParam>& params,
                                                const std::string& after,
                                                const std::vector<PgParam>& after_params) {
  Link& link = current();
  const std::string* names[2] = {&prepared(link, sql), &prepared(link, after)};
  const std::vector<PgParam>* args[2] = {&params, &after_params};
  PGconn* conn = link.conn;
  ++g_round_trips;
  if (PQenterPipelineMode(conn) != 1) throw PgError(trimmed(PQerrorMessage(conn)), "");
  bool sent = true;
  for (int k = 0; k < 2 && sent; ++k) {
    const auto values = values_of(*args[k]);
    sent = PQsendQueryPrepared(conn, names[k]->c_str(), static_cast<int>(values.size()), values.data(),
                               nullptr, nullptr, 0) == 1 &&
           PQpipelineSync(conn) == 1;
  }
  PGresult* results[2] = {nullptr, nullptr};
  bool in_order = sent;
  for (int k = 0; k < 2 && in_order; ++k) {
    results[k] = PQgetResult(conn);
    in_order = results[k] != nullptr && PQgetResult(conn) == nullptr;
    PGresult* sync = in_order ? PQgetResult(conn) : nullptr;
    in_order = in_order && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
  }
  if (!in_order || PQexitPipelineMode(conn) != 1) {
    const std::string why = trimmed(PQerrorMessage(conn));
    PQclear(results[0]);
    PQclear(results[1]);
    PQfinish(conn);
    link.conn = nullptr;
    throw PgError(why.empty() ? "the PostgreSQL server did not answer" : why, "08006");
  }
  // check() frees its result when it throws.
  try {
    check(results[0], conn);
  } catch (...) {
    PQclear(results[1]);
    throw;
  }
  try {
    check(results[1], conn);
  } catch (...) {
    PQclear(results[0]);
    throw;
  }
  return {results[0], results[1]};
}

int PgConn::changed(PGresult* r) {
  Result owned(r);
  const char* n = PQcmdTuples(r);
  return n && *n ? std::atoi(n) : 0;
}

int PgConn::rows(PGresult* r) { return PQntuples(r); }

}  // namespace warmpool
