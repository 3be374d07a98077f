#include <catch2/catch.hpp>

#include "records/instance_state.hpp"

using warmpool::InstanceState;
using S = InstanceState;

TEST_CASE("every allowed instance transition, and only those") {
  const std::vector<std::pair<S, S>> allowed = {
      {S::Starting, S::Ready},     {S::Ready, S::Paused},       {S::Paused, S::Ready},
      {S::Ready, S::Allocated},    {S::Paused, S::Allocated},   {S::Allocated, S::Resetting},
      {S::Resetting, S::Ready},    {S::Resetting, S::Paused},   {S::Error, S::Starting},
      {S::Deleting, S::Deleted},
  };
  const S all[] = {S::Starting, S::Ready,  S::Paused,   S::Allocated,
                   S::Resetting, S::Error, S::Deleting, S::Deleted};
  for (S from : all) {
    for (S to : all) {
      bool expected = std::find(allowed.begin(), allowed.end(), std::pair{from, to}) != allowed.end();
      // any live state may fail, and any state but deleting/deleted may be deleted
      if (to == S::Error) expected = from != S::Deleting && from != S::Deleted;
      if (to == S::Deleting) expected = from != S::Deleting && from != S::Deleted;
      INFO(warmpool::to_string(from) << " -> " << warmpool::to_string(to));
      CHECK(warmpool::can_transition(from, to) == expected);
    }
  }
}

TEST_CASE("state names round-trip") {
  for (int i = 0; i < 8; ++i) {
    auto s = static_cast<S>(i);
    CHECK(warmpool::instance_state_from(warmpool::to_string(s)) == s);
  }
  CHECK_FALSE(warmpool::instance_state_from("sleeping"));
}
