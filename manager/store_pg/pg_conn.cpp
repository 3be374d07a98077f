#include "store_pg/pg_conn.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdio>

namespace warmpool {

namespace {

// libpq's shortest connect timeout (seconds); a server that is down on a
// unix socket or a closed port refuses at once anyway.
constexpr const char* kConnectTimeout = "2";
// How long calls fail fast after a failed connect before one tries again.
constexpr auto kRetryPause = std::chrono::milliseconds(500);

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

PgConn::Result::~Result() { PQclear(r_); }

PgConn::PgConn(std::string conninfo, std::string name)
    : conninfo_(std::move(conninfo)), name_(std::move(name)) {
  std::lock_guard lock(mu_);
  try {
    ensure_connected();
  } catch (const std::exception& e) {
    throw StoreError(std::string("connect to PostgreSQL: ") + e.what());
  }
}

PgConn::~PgConn() {
  if (conn_) PQfinish(conn_);
}

void PgConn::ensure_connected() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) throw PgError(unreachable_, "08006");
  prepared_.clear();  // statements belong to the session that prepared them
  // Later entries win: the URL may set its own connect_timeout; the
  // application name, when given, is ours.
  std::vector<const char*> keys{"connect_timeout", "dbname"};
  std::vector<const char*> values{kConnectTimeout, conninfo_.c_str()};
  if (!name_.empty()) {
    keys.push_back("application_name");
    values.push_back(name_.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    unreachable_ = "PostgreSQL unreachable: " + why;
    retry_at_ = std::chrono::steady_clock::now() + kRetryPause;
    throw PgError(unreachable_, "08006");
  }
  // Quiet NOTICEs ("relation already exists, skipping") stay off stderr.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

void PgConn::script(const std::string& sql) { check(PQexec(conn_, sql.c_str()), conn_); }

void PgConn::rollback() noexcept {
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) return;
  PQclear(PQexec(conn_, "ROLLBACK"));
}

PGresult* PgConn::run(const std::string& sql, const std::vector<PgParam>& params) {
  auto [it, fresh] = prepared_.try_emplace(sql, "s" + std::to_string(prepared_.size()));
  if (fresh) {
    try {
      check(PQprepare(conn_, it->second.c_str(), sql.c_str(), 0, nullptr), conn_);
    } catch (...) {
      prepared_.erase(it);
      throw;
    }
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* r = PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                               values.data(), nullptr, nullptr, 0);
  check(r, conn_);
  return r;
}

int PgConn::changed(PGresult* r) {
  Result owned(r);
  const char* n = PQcmdTuples(r);
  return n && *n ? std::atoi(n) : 0;
}

int PgConn::rows(PGresult* r) { return PQntuples(r); }

}  // namespace warmpool
