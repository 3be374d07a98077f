// The hand-out delivers the session's state: claim -> unpause -> reset ->
// init -> ping -> commit. An instance whose init fails is not handed out;
// a payload the worker refuses fails the request, not the instance.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "base/sha256.hpp"
#include "pool/decisions.hpp"
#include "support/pool_fixture.hpp"

using namespace warmpool;
using test::eventually;
using S = InstanceState;
using nlohmann::json;

namespace {

struct Fixture : test::PoolFixture {
  Fixture() : PoolFixture({.policy = policy()}) {}
  static PoolPolicy policy() {
    PoolPolicy p;
    p.max_instances = 4;
    p.keep_running = 0;
    p.min_idle = 0;
    return p;
  }
  Allocation allocate_with(std::shared_ptr<const SessionInit> init, bool token = true) {
    Pool::AllocateRequest r{0, "test", std::chrono::steady_clock::now() + std::chrono::seconds(2)};
    r.init = std::move(init);
    r.token = token;
    return pool->allocate(r);
  }
};

std::shared_ptr<const SessionInit> payload() {
  return std::make_shared<const SessionInit>(parse_session_init(
      {{"files", {{"a.txt", "hello"}}}, {"env", {{"K", "v"}}}, {"metadata", {{"user", "ada"}}}}, {}));
}

std::string sha256(const std::string& text) {
  jobs::Sha256 d;
  d.update(text.data(), text.size());
  return d.hex();
}

}  // namespace

TEST_CASE("hand-out: the worker gets the payload and a fresh token after its reset; the record keeps digests only") {
  Fixture f;
  f.warm(1);
  const Allocation a = f.allocate_with(payload());
  const std::string endpoint = a.endpoint;
  const json delivered = json::parse(f.worker.session(endpoint));
  CHECK(delivered["files"] == json{{"a.txt", "hello"}});
  CHECK(delivered["env"] == json{{"K", "v"}});
  CHECK(delivered["token"] == a.token);
  CHECK(a.token.size() == 64);

  const auto stored = f.store.allocation(a.id);
  REQUIRE(stored);
  CHECK(stored->token.empty());
  CHECK(stored->session.token_sha256 == sha256(a.token));
  CHECK(stored->session.init_bytes == 5);
  CHECK(stored->session.init_sha256 == payload()->sha256);
  CHECK(stored->session.metadata == R"({"user":"ada"})");

  // Release resets the worker: the session is gone before the next hand-out.
  f.pool->release(a.id);
  REQUIRE(eventually([&] { return f.count(S::Paused) == 1 && f.pool->claimed().empty(); }));
  CHECK(f.worker.session(endpoint).empty());
  const Allocation b = f.allocate_with(nullptr);
  CHECK(b.token != a.token);
  const json second = json::parse(f.worker.session(endpoint));
  CHECK(second["files"] == json::object());
  CHECK(second["token"] == b.token);
  CHECK(f.store.allocation(b.id)->session.init_bytes == 0);
}

TEST_CASE("hand-out: without a token (the compatibility view) the worker's session is opened with a null token") {
  Fixture f;
  f.warm(1);
  const Allocation a = f.allocate_with(nullptr, /*token=*/false);
  CHECK(a.token.empty());
  CHECK(json::parse(f.worker.session(a.endpoint))["token"].is_null());
  CHECK(f.store.allocation(a.id)->session.token_sha256.empty());
}

TEST_CASE("hand-out: an instance whose init fails goes to error and the next one is handed out, holding the state") {
  Fixture f;
  f.warm(2);
  // The instance the hand-out tries first fails its init once.
  const auto idle = f.store.instances(Show::Current);
  const auto first_id = pick_idle(idle, {});
  REQUIRE(first_id);
  const auto first = *f.store.instance(*first_id);
  f.worker.fail(first.endpoint(), "init", 1);
  const Allocation a = f.allocate_with(payload());
  CHECK(json::parse(f.worker.session(a.endpoint))["files"] == json{{"a.txt", "hello"}});
  // Whichever instance served, the failing one went through error (and recovery).
  CHECK(eventually([&] { return f.engine.count("stop") == 1; }));
  bool failed = false;
  for (const auto& e : f.store.events(first.id, 50)) failed = failed || e.to == S::Error;
  CHECK(failed);
}

TEST_CASE("hand-out: a payload the worker refuses fails the request (InitRefused); the instance goes back idle, wiped") {
  Fixture f;
  f.warm(1);
  const auto only = f.store.instances(Show::Current).front();
  f.worker.refuse_init(only.endpoint(), 1);
  try {
    f.allocate_with(payload());
    FAIL("handed out");
  } catch (const AllocateError& e) {
    CHECK(e.kind() == AllocateError::Kind::InitRefused);
  }
  REQUIRE(eventually([&] { return f.pool->claimed().empty(); }));
  CHECK(f.store.instance(only.id)->state == S::Ready);
  CHECK(f.store.instance(only.id)->failures == 0);
  CHECK(f.store.allocations(Show::All).empty());
  CHECK(f.worker.session(only.endpoint()).empty());
  // And it serves the next request.
  CHECK(f.allocate_with(payload()).instance_id == only.id);
}
