// PgStore: engines added through the admin API. A name is taken once: of two
// managers adding the same engine at once, the second finds the row
// (EngineExists).
#include <string>

#include "store_pg/pg_conn.hpp"
#include "store_pg/pg_store.hpp"

namespace warmpool {

namespace {

const std::string kEngineColumns = "name, endpoint, capacity, weight, tls_ca, tls_cert, tls_key, created_ms";

EngineRecord read_engine(const PgRow& r) {
  return {r.text(0), r.text(1), static_cast<int>(r.int64(2)), r.real(3), r.text(4), r.text(5), r.text(6),
          r.int64(7)};
}

}  // namespace

EngineRecord PgStore::add_engine(const EngineRecord& e) {
  auto added = db_->locked("add engine", [&] {
    return db_->one("INSERT INTO engines(" + kEngineColumns +
                        ") VALUES ($1::text, $2::text, $3::integer, $4::double precision, $5::text, $6::text, "
                        "$7::text, $8::bigint) ON CONFLICT (name) DO NOTHING RETURNING " + kEngineColumns,
                    read_engine, e.name, e.endpoint, e.capacity, e.weight, e.tls_ca, e.tls_cert, e.tls_key,
                    e.created_ms);
  });
  if (!added) throw EngineExists("add engine: an engine named " + e.name + " is recorded");
  return *added;
}

std::vector<EngineRecord> PgStore::engines() {
  return db_->locked("list engines", [&] {
    return db_->all("SELECT " + kEngineColumns + " FROM engines ORDER BY created_ms, name", read_engine);
  });
}

bool PgStore::remove_engine(const std::string& name) {
  return db_->locked("remove engine",
                     [&] { return db_->exec("DELETE FROM engines WHERE name=$1::text", name) == 1; });
}

}  // namespace warmpool
