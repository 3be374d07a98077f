// The digits against MPFR: every length from 1 to 2,000, random lengths up
// to 200,000, the SHA-256 of 10^6 digits, and independence from threads.
#include <catch2/catch.hpp>
#include <random>

#include "mpfr_oracle.hpp"
#include "pi/pi.hpp"

using warmpool::pi::compute;
using warmpool::pi::Options;
using warmpool::pi::testing::mpfr_pi;
using warmpool::pi::testing::sha256_hex;

namespace {
Options with_threads(unsigned threads) {
  Options o;
  o.threads = threads;
  return o;
}
}  // namespace

TEST_CASE("every length from 1 to 2000 digits is the truncation of pi", "[pi]") {
  const std::string reference = mpfr_pi(2000);
  REQUIRE(reference.substr(0, 12) == "3.1415926535");
  for (std::size_t n = 1; n <= 2000; ++n) {
    std::string ours = compute(n, with_threads(1));
    if (ours != reference.substr(0, n + 2)) FAIL("mismatch at " << n << " digits");
  }
}

TEST_CASE("the truncation is right with few guard digits (retries at runs of 9s and 0s)", "[pi]") {
  const std::string reference = mpfr_pi(2000);
  // Digits 762..767 are 999999: with 1..6 guard digits, N = 761 can only be
  // decided by retrying with more.
  for (std::size_t guard = 1; guard <= 7; ++guard) {
    Options o = with_threads(1);
    o.guard_digits = guard;
    for (std::size_t n : {1u, 2u, 10u, 32u, 100u, 760u, 761u, 762u, 766u, 767u, 768u, 1000u, 1999u, 2000u}) {
      if (compute(n, o) != reference.substr(0, n + 2)) FAIL("mismatch at " << n << " digits, guard " << guard);
    }
  }
  Options one_guard = with_threads(1);
  one_guard.guard_digits = 1;
  for (std::size_t n = 1; n <= 2000; n += 7) {
    if (compute(n, one_guard) != reference.substr(0, n + 2)) FAIL("mismatch at " << n << " digits, guard 1");
  }
}

TEST_CASE("a hundred random lengths up to 200,000 digits", "[pi]") {
  const std::string reference = mpfr_pi(200'000);
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<std::size_t> pick(1, 200'000);
  for (int i = 0; i < 100; ++i) {
    std::size_t n = pick(rng);
    std::string ours = compute(n, with_threads(1 + static_cast<unsigned>(i % 2)));
    if (ours != reference.substr(0, n + 2)) FAIL("mismatch at " << n << " digits");
  }
}

TEST_CASE("10^6 digits: SHA-256 equals MPFR's, and T = 1, 2, 4 agree", "[pi]") {
  constexpr std::size_t kDigits = 1'000'000;
  const std::string reference = mpfr_pi(kDigits);
  const std::string expected_sha = sha256_hex(reference);
  std::string one = compute(kDigits, with_threads(1));
  REQUIRE(one.size() == kDigits + 2);
  CHECK(sha256_hex(one) == expected_sha);
  CHECK(one == reference);
  CHECK(compute(kDigits, with_threads(2)) == one);
  CHECK(compute(kDigits, with_threads(4)) == one);
}

TEST_CASE("isolated computation gives the same digits", "[pi]") {
  Options o = with_threads(2);
  o.isolate = true;
  CHECK(compute(50'000, o) == compute(50'000, with_threads(1)));
  CHECK(compute(1, o) == "3.1");
}

TEST_CASE("digit counts outside 1..cap are rejected with a clear message", "[pi]") {
  Options o;
  o.max_digits = 1000;
  CHECK_THROWS_WITH(compute(0, o), "pi: digits must be an integer from 1 to 1000, got 0");
  CHECK_THROWS_WITH(compute(1001, o), "pi: digits must be an integer from 1 to 1000, got 1001");
  CHECK(compute(1000, o).size() == 1002);
  CHECK(warmpool::pi::validate_digits(1000, o).empty());
  CHECK_FALSE(warmpool::pi::validate_digits(0, o).empty());
}
