// The pi job API, with the JSON shapes of the earlier pi service (not
// problem+json): {"success": true|false, ...}.
//
//   POST   /pi_job {"digits": N}   200 {"success": true, "job_id": 0}; 400 bad input
//   GET    /pi_job/{id}            200 status (PiJobStatus); 404 unknown
//   DELETE /pi_job/{id}            200 status after cancelling; 404 unknown
//   GET    /download_pi_job/{id}   200 the digits as pi_{id}.txt; 409 not complete; 404 unknown
//
// Handlers only parse, call the runner or the store, and serialise; the
// functions that build the bodies are pure, for tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "base/clock.hpp"
#include "jobs/runner.hpp"

namespace warmpool::jobs {

// The digits asked for in a POST /pi_job body, or the error to show: the body
// must be a JSON object whose "digits" is an integer in [1, max_digits], and
// whose optional "pool" is a non-empty string. Other fields are ignored, as
// the earlier service did.
struct DigitsRequest {
  std::optional<std::int64_t> digits;
  std::string error;  // set when digits is not
  std::string pool;   // the optional "pool"; empty: none named
};
DigitsRequest parse_digits(const std::string& body, std::int64_t max_digits);

// "N seconds": whole seconds from creation to the end (or to now_ms).
std::string time_elapsed(const Job& job, std::int64_t now_ms);

// GET /pi_job/{id}: {success, job_id (a string), digits, status,
// time_elapsed, progress}, and error when failed.
nlohmann::json status_json(const Job& job, std::int64_t now_ms);
// 404 body: {success: false, job_id, error: "Job does not exist"}.
nlohmann::json missing_json(const std::string& id);
// 409 body of a download before completion: {success: false, job_id, status, error}.
nlohmann::json unfinished_json(const Job& job);

// Registers the four routes (Access::Public). The references must outlive the server.
void add_pi_job_routes(api::Server& server, JobRunner& runner, Store& store, const Clock& clock);

// The newest `limit` jobs, newest first, each as status_json (the dashboard feed).
nlohmann::json recent_jobs_json(Store& store, const Clock& clock, std::size_t limit);

}  // namespace warmpool::jobs
