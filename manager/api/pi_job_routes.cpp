#include "api/pi_job_routes.hpp"

#include <fstream>
#include <limits>
#include <memory>
#include <vector>

#include <httplib.h>

#include "api/problem.hpp"
#include "base/text.hpp"
#include "jobs/result_files.hpp"

namespace warmpool::jobs {

using nlohmann::json;

namespace {

constexpr const char* kMissing = "Job does not exist";
constexpr std::size_t kChunkBytes = 256 * 1024;

// The id in a path: decimal digits that fit an int64; anything else names no job.
std::optional<std::int64_t> parse_job_id(const std::string& text) {
  return parse_int(text, 0, std::numeric_limits<std::int64_t>::max());
}

void reply(httplib::Response& res, int status, const json& body) { api::json_reply(res, status, body); }

}  // namespace

DigitsRequest parse_digits(const std::string& body, std::int64_t max_digits) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return {std::nullopt, "the body is not valid JSON; send {\"digits\": N}"};
  if (!parsed.is_object())
    return {std::nullopt, "the body must be a JSON object like {\"digits\": 1000}"};
  const auto it = parsed.find("digits");
  if (it == parsed.end()) return {std::nullopt, "\"digits\" is required, e.g. {\"digits\": 1000}"};
  if (!it->is_number_integer()) return {std::nullopt, "\"digits\" must be an integer"};
  const std::string at_most = "\"digits\" must be at most " + std::to_string(max_digits);
  // Unsigned values above INT64_MAX are too many digits too.
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max_digits))
    return {std::nullopt, at_most};
  const auto digits = it->get<std::int64_t>();
  if (digits < 1) return {std::nullopt, "\"digits\" must be at least 1"};
  if (digits > max_digits) return {std::nullopt, at_most};
  std::string pool;
  if (const auto named = parsed.find("pool"); named != parsed.end()) {
    if (!named->is_string() || named->get<std::string>().empty() || named->get<std::string>().size() > 200)
      return {std::nullopt, "\"pool\" must be a pool's name (a string of 1 to 200 characters)"};
    pool = named->get<std::string>();
  }
  return {digits, {}, pool};
}

std::string time_elapsed(const Job& job, std::int64_t now_ms) {
  const std::int64_t end = job.finished_ms.value_or(now_ms);
  return std::to_string(std::max<std::int64_t>(0, end - job.created_ms) / 1000) + " seconds";
}

json status_json(const Job& job, std::int64_t now_ms) {
  json body = {{"success", true},
               {"job_id", std::to_string(job.id)},
               {"digits", job.digits},
               {"status", api_status(job.state)},
               {"time_elapsed", time_elapsed(job, now_ms)},
               {"progress", job.progress}};
  if (job.state == JobState::Failed) body["error"] = job.error;
  return body;
}

json missing_json(const std::string& id) {
  return {{"success", false}, {"job_id", id}, {"error", kMissing}};
}

json unfinished_json(const Job& job) {
  std::string error;
  switch (job.state) {
    case JobState::Queued: error = "Job is queued; its digits can be downloaded once it is complete"; break;
    case JobState::Running: error = "Job is in progress; its digits can be downloaded once it is complete"; break;
    case JobState::Failed: error = "Job failed: " + job.error; break;
    case JobState::Cancelled: error = "Job was cancelled"; break;
    case JobState::Complete: error = "Job is complete"; break;
  }
  return {{"success", false},
          {"job_id", std::to_string(job.id)},
          {"status", api_status(job.state)},
          {"error", error}};
}

namespace {

// The job the path names (its first group), found with `find(id)`; nullopt
// once a 404 is answered.
template <typename Find>
std::optional<Job> named_job(const httplib::Request& req, httplib::Response& res, Find find) {
  const std::string text = req.matches[1];
  const auto id = parse_job_id(text);
  std::optional<Job> job = id ? find(*id) : std::nullopt;
  if (!job) reply(res, 404, missing_json(text));
  return job;
}

}  // namespace

json recent_jobs_json(Store& store, const Clock& clock, std::size_t limit) {
  const std::int64_t now = clock.now_ms();
  json list = json::array();
  for (const Job& job : store.recent_jobs(limit)) list.push_back(status_json(job, now));
  return list;
}

void add_pi_job_routes(api::Server& server, JobRunner& runner, Store& store, const Clock& clock) {
  using Access = api::Server::Access;

  server.route("POST", "/pi_job", Access::Public, [&runner](const auto& req, auto& res) {
    const DigitsRequest request = parse_digits(req.body, runner.settings().max_digits);
    if (!request.digits) return reply(res, 400, {{"success", false}, {"error", request.error}});
    // No worker pool at all is the manager's state (409); a job too big for
    // every pool is the request's (400). A named pool: 404, 409 or 400.
    if (const JobPoolChoice choice = runner.pool_for(*request.digits, request.pool); choice.pool.empty())
      return reply(res, choice.status, {{"success", false}, {"error", choice.refusal}});
    const Job job = runner.submit(*request.digits, request.pool);
    reply(res, 200, {{"success", true}, {"job_id", job.id}});
  });

  server.route("GET", "/pi_job/([^/]+)", Access::Public, [&store, &clock](const auto& req, auto& res) {
    const auto job = named_job(req, res, [&](std::int64_t id) { return store.job(id); });
    if (job) reply(res, 200, status_json(*job, clock.now_ms()));
  });

  server.route("DELETE", "/pi_job/([^/]+)", Access::Public, [&runner, &clock](const auto& req, auto& res) {
    const auto job = named_job(req, res, [&](std::int64_t id) { return runner.cancel(id); });
    if (job) reply(res, 200, status_json(*job, clock.now_ms()));
  });

  server.route("GET", "/download_pi_job/([^/]+)", Access::Public, [&runner, &store](const auto& req, auto& res) {
    const auto job = named_job(req, res, [&](std::int64_t id) { return store.job(id); });
    if (!job) return;
    const std::string text = req.matches[1];
    if (job->state != JobState::Complete || !job->result) return reply(res, 409, unfinished_json(*job));

    const auto path = runner.path_of(*job->result);
    auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!*in || ec || size != static_cast<std::uintmax_t>(job->result->bytes))
      return api::problem(res, 500, "the result file of job " + text + " (" + path.string() +
                                        ") is missing or damaged");
    res.status = 200;
    res.set_header("Content-Disposition", "attachment; filename=\"pi_" + std::to_string(job->id) + ".txt\"");
    res.set_header("Repr-Digest", repr_digest(job->result->sha256));
    res.set_content_provider(
        static_cast<std::size_t>(size), "text/plain; charset=utf-8",
        [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          std::vector<char> buffer(std::min(length, kChunkBytes));
          in->seekg(static_cast<std::streamoff>(offset));
          in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
          const auto got = static_cast<std::size_t>(in->gcount());
          return got > 0 && sink.write(buffer.data(), got);
        });
  });
}

}  // namespace warmpool::jobs
