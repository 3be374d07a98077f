// Engines added through the admin API, as both stores keep them.
#include <catch2/catch.hpp>

#include "support/test_database.hpp"

using namespace warmpool;

TEST_CASE("store keeps engine records: add, list in the order added, a name once, remove") {
  test::TestDatabase db;
  Store& store = db.store();
  CHECK(store.engines().empty());
  const EngineRecord tls{"remote", "tcp://127.0.0.1:21376", 16, 2.5, "/c/ca.pem", "/c/cert.pem", "/c/key.pem", 20};
  const EngineRecord local{"local", "unix:///run/e.sock", 0, 1, "", "", "", 30};
  const EngineRecord added = store.add_engine(tls);
  store.add_engine(local);
  CHECK(added.name == "remote");
  CHECK_THROWS_AS(store.add_engine(EngineRecord{"remote", "unix:///other.sock", 0, 1, "", "", "", 40}), EngineExists);

  const auto all = store.engines();
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "remote");  // added first, though its name sorts after
  CHECK(all[0].endpoint == "tcp://127.0.0.1:21376");
  CHECK(all[0].capacity == 16);
  CHECK(all[0].weight == Approx(2.5));
  CHECK(all[0].tls_ca == "/c/ca.pem");
  CHECK(all[0].tls_cert == "/c/cert.pem");
  CHECK(all[0].tls_key == "/c/key.pem");
  CHECK(all[0].created_ms == 20);
  CHECK(all[1].name == "local");
  CHECK(all[1].tls_ca.empty());

  CHECK(store.remove_engine("remote"));
  CHECK_FALSE(store.remove_engine("remote"));
  REQUIRE(store.engines().size() == 1);
  CHECK(store.engines()[0].name == "local");
}
