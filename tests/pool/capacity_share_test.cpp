// Several pools on one --max-instances: floors are reserved, growth takes
// only what no other pool's floor needs.
#include <catch2/catch.hpp>

#include "pool/capacity_share.hpp"

using namespace warmpool;

namespace {
Instance instance_of(const std::string& pool, InstanceState state) {
  Instance i;
  i.pool = pool;
  i.state = state;
  return i;
}
}  // namespace

TEST_CASE("a pool alone may create up to the free capacity") {
  const auto allowed = share_capacity({{"default", 2, 3, 1}}, 10);
  CHECK(allowed.at("default") == 7);
}

TEST_CASE("a burst stops where another pool's unmet floor begins") {
  // 10 places; big holds 6 (all in use), small holds 1 (idle) of its floor of 3.
  // Free: 3, of which small's floor needs 2 more: big may take 1.
  const auto allowed = share_capacity({{"big", 0, 6, 0}, {"small", 3, 1, 1}}, 10);
  CHECK(allowed.at("big") == 1);
  CHECK(allowed.at("small") == 3);  // its floor and the rest nobody reserves
}

TEST_CASE("a pool whose floor is met leaves nothing reserved for itself") {
  const auto allowed = share_capacity({{"big", 0, 6, 0}, {"small", 2, 2, 2}}, 10);
  CHECK(allowed.at("big") == 2);
  CHECK(allowed.at("small") == 2);
}

TEST_CASE("no capacity left: nobody creates, floor or not") {
  const auto allowed = share_capacity({{"a", 2, 5, 0}, {"b", 2, 5, 0}}, 10);
  CHECK(allowed.at("a") == 0);
  CHECK(allowed.at("b") == 0);
}

TEST_CASE("floors that ask for more than is free: each fills its own floor, none grows beyond") {
  // Free: 3; a needs 2, b needs 4.
  const auto allowed = share_capacity({{"a", 2, 3, 0}, {"b", 4, 4, 0}}, 10);
  CHECK(allowed.at("a") == 2);
  CHECK(allowed.at("b") == 3);
}

TEST_CASE("shares are counted from every pool's live instances; idle and starting ones count towards the floor") {
  using S = InstanceState;
  const std::vector<Instance> instances = {
      instance_of("default", S::Allocated), instance_of("default", S::Ready),
      instance_of("default", S::Deleted),  // holds nothing
      instance_of("box", S::Starting),      instance_of("box", S::Paused),
      instance_of("gone", S::Deleting),     // a pool no longer shared: holds, reserves nothing
  };
  auto shares = pool_shares(instances, {{"default", 2}, {"box", 1}, {"empty", 3}});
  std::map<std::string, PoolShare> by_name;
  for (const auto& s : shares) by_name[s.name] = s;
  CHECK(by_name.at("default").live == 2);
  CHECK(by_name.at("default").warm == 1);
  CHECK(by_name.at("default").floor == 2);
  CHECK(by_name.at("box").live == 2);
  CHECK(by_name.at("box").warm == 2);
  CHECK(by_name.at("empty").live == 0);
  CHECK(by_name.at("empty").floor == 3);
  CHECK(by_name.at("gone").live == 1);
  CHECK(by_name.at("gone").floor == 0);
}
