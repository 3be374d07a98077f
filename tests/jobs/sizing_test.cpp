// Which pool a pi job runs on, by the memory its digits need.
#include <catch2/catch.hpp>

#include "jobs/sizing.hpp"

using namespace warmpool::jobs;

namespace {
constexpr std::int64_t MB = 1 << 20;
}

TEST_CASE("a job's memory covers the peaks measured for pi-worker on 2 threads") {
  // digits -> peak resident bytes, measured with `pi-worker digits N --threads 2`.
  const std::pair<std::int64_t, std::int64_t> peaks[] = {
      {100'000, 9 * MB}, {1'000'000, 18 * MB}, {10'000'000, 95 * MB}, {100'000'000, 930 * MB}};
  for (const auto& [digits, peak] : peaks) CHECK(memory_for_digits(digits) > peak);
  // The default --max-digits fits the default instance (512 MB); 10^8 does not.
  CHECK(memory_for_digits(10'000'000) <= 512 * MB);
  CHECK(memory_for_digits(100'000'000) > 512 * MB);
}

TEST_CASE("a job runs on the smallest pool that has the memory") {
  const std::vector<JobPool> pools = {{"default", 512 * MB}, {"large", 2048 * MB}, {"medium", 1024 * MB}};
  CHECK(choose_job_pool(pools, 1'000).pool == "default");
  CHECK(choose_job_pool(pools, 60'000'000).pool == "medium");
  CHECK(choose_job_pool(pools, 100'000'000).pool == "medium");  // 986 MB
  CHECK(choose_job_pool(pools, 200'000'000).pool == "large");   // 1940 MB
}

TEST_CASE("ties go to the pool listed first") {
  const std::vector<JobPool> pools = {{"default", 512 * MB}, {"other", 512 * MB}};
  CHECK(choose_job_pool(pools, 1'000).pool == "default");
}

TEST_CASE("pools that drain or do not run workers take no jobs") {
  std::vector<JobPool> pools = {{"busybox", 4096 * MB, false}, {"old", 4096 * MB, true, false}, {"default", 512 * MB}};
  CHECK(choose_job_pool(pools, 1'000).pool == "default");
  const JobPoolChoice big = choose_job_pool(pools, 100'000'000);
  CHECK(big.pool.empty());
  CHECK_FALSE(big.no_workers);
  // The refusal says what is needed and what the largest usable pool gives.
  CHECK(big.refusal == "100000000 digits need instances of at least 986 MB; "
                       "the largest pool that runs pi workers (default) gives 512 MB");
}

TEST_CASE("without a pool that runs workers, no job runs") {
  const JobPoolChoice none = choose_job_pool({{"busybox", 512 * MB, false}}, 10);
  CHECK(none.pool.empty());
  CHECK(none.no_workers);
  CHECK_FALSE(none.refusal.empty());
  CHECK(choose_job_pool({}, 10).no_workers);
}

TEST_CASE("a job that names its pool runs there, or is refused with the status and reason") {
  const std::vector<JobPool> pools = {{"default", 512 * MB},
                                      {"large", 2048 * MB},
                                      {"busybox", 4096 * MB, false},
                                      {"old", 4096 * MB, true, false}};
  // Named, a job runs on that pool even when a smaller one would hold it.
  const JobPoolChoice large = check_named_job_pool(pools, "large", 1'000);
  CHECK(large.pool == "large");
  CHECK(large.status == 0);
  CHECK(check_named_job_pool(pools, "default", 1'000).pool == "default");

  const JobPoolChoice unknown = check_named_job_pool(pools, "nosuch", 1'000);
  CHECK(unknown.pool.empty());
  CHECK(unknown.status == 404);
  CHECK(unknown.refusal == "\"pool\": no pool named nosuch");

  const JobPoolChoice not_workers = check_named_job_pool(pools, "busybox", 1'000);
  CHECK(not_workers.status == 409);
  CHECK(not_workers.refusal.find("pool busybox does not run pi workers") != std::string::npos);

  const JobPoolChoice draining = check_named_job_pool(pools, "old", 1'000);
  CHECK(draining.status == 409);
  CHECK(draining.refusal.find("pool old is draining") != std::string::npos);

  const JobPoolChoice small = check_named_job_pool(pools, "default", 100'000'000);
  CHECK(small.pool.empty());
  CHECK(small.status == 400);
  CHECK(small.refusal == "\"pool\": 100000000 digits need instances of at least 986 MB; pool default gives 512 MB");
}

TEST_CASE("a refusal without a named pool carries its status: 400 too big, 409 no workers") {
  CHECK(choose_job_pool({{"default", 512 * MB}}, 100'000'000).status == 400);
  CHECK(choose_job_pool({{"busybox", 512 * MB, false}}, 10).status == 409);
  CHECK(choose_job_pool({{"default", 512 * MB}}, 10).status == 0);
}
