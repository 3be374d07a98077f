#include "jobs/sizing.hpp"

#include <algorithm>
#include <string>

namespace warmpool::jobs {

std::int64_t memory_for_digits(std::int64_t digits) { return kJobBaseBytes + kJobBytesPerDigit * digits; }

namespace {

std::string megabytes(std::int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MB"; }

}  // namespace

JobPoolChoice choose_job_pool(const std::vector<JobPool>& pools, std::int64_t digits) {
  const std::int64_t needed = memory_for_digits(digits);
  const JobPool* best = nullptr;
  const JobPool* largest = nullptr;
  bool any_workers = false;
  for (const JobPool& pool : pools) {
    if (!pool.runs_workers || !pool.accepting) continue;
    any_workers = true;
    if (!largest || pool.memory_bytes > largest->memory_bytes) largest = &pool;
    if (pool.memory_bytes >= needed && (!best || pool.memory_bytes < best->memory_bytes)) best = &pool;
  }
  JobPoolChoice choice;
  if (best) {
    choice.pool = best->name;
  } else if (!any_workers) {
    choice.no_workers = true;
    choice.status = 409;
    choice.refusal = "no pool runs pi workers (every pool's health check is other than worker)";
  } else {
    choice.status = 400;
    choice.refusal = std::to_string(digits) + " digits need instances of at least " + megabytes(needed) +
                     "; the largest pool that runs pi workers (" + largest->name + ") gives " +
                     megabytes(largest->memory_bytes);
  }
  return choice;
}

JobPoolChoice check_named_job_pool(const std::vector<JobPool>& pools, const std::string& name,
                                   std::int64_t digits) {
  JobPoolChoice choice;
  const auto pool = std::find_if(pools.begin(), pools.end(), [&](const JobPool& p) { return p.name == name; });
  const std::int64_t needed = memory_for_digits(digits);
  if (pool == pools.end()) {
    choice.status = 404;
    choice.refusal = "\"pool\": no pool named " + name;
  } else if (!pool->runs_workers) {
    choice.status = 409;
    choice.refusal = "\"pool\": pool " + name + " does not run pi workers (its health check is other than worker)";
  } else if (!pool->accepting) {
    choice.status = 409;
    choice.refusal = "\"pool\": pool " + name + " is draining and takes no new work";
  } else if (pool->memory_bytes < needed) {
    choice.status = 400;
    choice.refusal = "\"pool\": " + std::to_string(digits) + " digits need instances of at least " +
                     megabytes(needed) + "; pool " + name + " gives " + megabytes(pool->memory_bytes);
  } else {
    choice.pool = name;
  }
  return choice;
}

}  // namespace warmpool::jobs
