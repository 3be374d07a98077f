#include "client/pi_client.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/sha256.hpp"
#include "jobs/result_files.hpp"

namespace warmpool::jobs {

using nlohmann::json;

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

// Restores the previous SIGINT handler on scope exit.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = false;
    previous_ = std::signal(SIGINT, on_interrupt);
  }
  ~InterruptGuard() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = nullptr;
};

// The error of a pi-service answer, else the problem's detail, else the body.
std::string error_of(const httplib::Response& r) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object()) {
    for (const char* key : {"error", "detail"})
      if (body.contains(key) && body[key].is_string()) return body[key].get<std::string>();
  }
  return r.body.substr(0, 300);
}

int unreachable(const httplib::Result& r, std::ostream& log) {
  log << "warmpool: cannot reach the server: " << httplib::to_string(r.error()) << "\n";
  return 2;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Downloads the digits to `path` (through a temp file beside it) and checks
// them. Returns "" or what is wrong.
std::string download(httplib::Client& client, const std::string& id, std::int64_t digits,
                     const std::filesystem::path& path, std::string* sha256) {
  const std::filesystem::path part = path.string() + ".part";
  std::ofstream file(part, std::ios::binary | std::ios::trunc);
  if (!file) return "cannot write " + part.string();
  Sha256 hash;
  DigitsCheck check(digits);
  int status = 0;
  std::string digest, error_body;
  auto r = client.Get(
      "/download_pi_job/" + id,
      [&](const httplib::Response& response) {
        status = response.status;
        digest = response.get_header_value("Repr-Digest");
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (status != 200) {
          error_body.append(data, size);
          return true;
        }
        hash.update(data, size);
        file.write(data, static_cast<std::streamsize>(size));
        return check.feed(data, size) && static_cast<bool>(file);
      });
  file.close();
  auto fail = [&](const std::string& why) {
    std::filesystem::remove(part);
    return why;
  };
  if (!r) {
    if (!check.problem().empty()) return fail("the digits are malformed: " + check.problem());
    return fail("download failed: " + httplib::to_string(r.error()));
  }
  if (status != 200) {
    httplib::Response response;
    response.body = error_body;
    return fail("download: HTTP " + std::to_string(status) + ": " + error_of(response));
  }
  if (!file) return fail("cannot write " + part.string());
  if (!check.complete()) return fail("the digits are malformed: " + check.problem());
  *sha256 = hash.hex();
  if (!digest.empty() && digest != repr_digest(*sha256))
    return fail("the SHA-256 of the digits does not match the server's (" + digest + ")");
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) return fail("cannot rename " + part.string() + " to " + path.string() + ": " + ec.message());
  return "";
}

}  // namespace

std::string progress_line(const std::string& status, double progress, double elapsed_s, int width) {
  progress = std::clamp(progress, 0.0, 1.0);
  const int filled = static_cast<int>(progress * width + 1e-9);
  char tail[96];
  std::snprintf(tail, sizeof tail, "] %3d%%  %s  %.1f s", static_cast<int>(progress * 100 + 1e-9),
                status.c_str(), elapsed_s);
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '.') + tail;
}

int run_pi_command(httplib::Client& client, const PiCommand& command, std::ostream& out,
                   std::ostream& log) {
  const auto started = std::chrono::steady_clock::now();
  auto created = client.Post("/pi_job", json{{"digits", command.digits}}.dump(), "application/json");
  if (!created) return unreachable(created, log);
  if (created->status != 200) {
    log << "warmpool: the job was refused (HTTP " << created->status << "): " << error_of(*created) << "\n";
    return 1;
  }
  const json body = json::parse(created->body, nullptr, false);
  if (!body.is_object() || !body.contains("job_id") || !body["job_id"].is_number_integer()) {
    log << "warmpool: unexpected answer: " << created->body.substr(0, 300) << "\n";
    return 1;
  }
  const std::string id = std::to_string(body["job_id"].get<std::int64_t>());
  log << "pi job " << id << ": " << command.digits << " digits\n";

  InterruptGuard interrupts;
  std::string shown;
  for (;;) {
    if (g_interrupted) {
      auto cancelled = client.Delete("/pi_job/" + id);
      if (command.redraw) log << "\n";
      log << "warmpool: interrupted; pi job " << id
          << (cancelled && cancelled->status == 200 ? " cancelled" : " may still run") << "\n";
      return 130;
    }
    auto polled = client.Get("/pi_job/" + id);
    if (!polled) return unreachable(polled, log);
    const json status = json::parse(polled->body, nullptr, false);
    if (polled->status != 200 || !status.is_object() || !status.contains("status")) {
      log << "warmpool: HTTP " << polled->status << ": " << error_of(*polled) << "\n";
      return 1;
    }
    const std::string state = status["status"].get<std::string>();
    const double progress = status.value("progress", 0.0);
    const std::string line = progress_line(state, progress, seconds_since(started), 30);
    if (command.redraw) {
      log << "\r" << line << std::flush;
    } else {
      // One line per change of state or tenth of progress.
      const std::string key = state + std::to_string(static_cast<int>(progress * 10));
      if (key != shown) log << line << "\n";
      shown = key;
    }
    if (state == "complete") break;
    if (state == "failed" || state == "cancelled") {
      if (command.redraw) log << "\n";
      log << "warmpool: pi job " << id << " " << state
          << (status.contains("error") ? ": " + status["error"].get<std::string>() : std::string()) << "\n";
      return 1;
    }
    std::this_thread::sleep_for(command.poll);
  }
  if (command.redraw) log << "\n";

  const std::filesystem::path path = command.out.empty() ? "pi_" + id + ".txt" : command.out;
  std::string sha256;
  if (const std::string problem = download(client, id, command.digits, path, &sha256); !problem.empty()) {
    log << "warmpool: pi job " << id << ": " << problem << "\n";
    return 1;
  }
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.1f", seconds_since(started));
  out << path.string() << ": 3. and " << command.digits << " digits of pi, sha-256 " << sha256
      << ", checked (" << elapsed << " s)\n";
  return 0;
}

}  // namespace warmpool::jobs
