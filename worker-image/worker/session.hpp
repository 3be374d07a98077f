// The session an instance serves: its files (under the scratch directory),
// env and metadata, delivered by POST /init and wiped by POST /reset; and who
// may call the worker (swagger/worker.yaml, "Security").
//
// Callers: the control secret (the manager's; given at creation in
// WARMPOOL_CONTROL_SECRET) may call everything. The session's token, given in
// POST /init, may call the session's routes (/compute, /result, /files,
// GET /init); a session initialised with a null token leaves them open.
// Without a control secret (the worker run by hand) the control routes are
// open too.
//
// Thread-safe.
#ifndef WARMPOOL_WORKER_SESSION_HPP_
#define WARMPOOL_WORKER_SESSION_HPP_

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace warmpool::worker {

// An answer that is not 200: status and the problem's detail.
struct Refusal {
  int status = 0;
  std::string detail;
};

// Strict base64 (RFC 4648, padded, no blanks); nullopt for anything else.
std::optional<std::string> decode_base64(std::string_view text);

// Why `path` is not a relative path inside a directory: empty components,
// "." and "..", NUL, backslash, absolute. Empty when it is fine.
std::string relative_path_problem(const std::string& path);

// The bytes of the regular file at the relative `path` under `root`, never
// following a link; a refusal (400 bad path, 404 missing) otherwise.
std::optional<Refusal> read_file_under(const std::filesystem::path& root, const std::string& path,
                                       std::string* content);

class Session {
 public:
  enum class Caller { Anyone, Session, Control };

  // Files go to files_dir (created when needed). An empty control secret
  // leaves the control routes open. `reserved`: a first path component
  // that sessions may not use (the data volume's "data"); empty: none.
  Session(std::filesystem::path files_dir, std::string control_secret, std::string reserved = {});

  // Who the request's "Authorization: Bearer ..." header makes the caller.
  Caller caller(const std::string& authorization) const;
  bool may_control(Caller caller) const;
  bool may_use_session(Caller caller) const;

  // Installs the session described by `body` (worker.yaml InitRequest):
  // all of it or, on a refusal, none of it. REQUIRES: cleared since the last.
  std::optional<Refusal> install(const std::string& body);
  // Forgets the session: files, env, metadata and token. Empty on success,
  // else what could not be removed.
  std::string clear();
  // {"env": {...}, "metadata": ... | null, "files": [paths]}
  nlohmann::json describe() const;
  // The file's bytes, or a refusal (400 bad path, 404 missing).
  std::optional<Refusal> read_file(const std::string& path, std::string* content) const;

 private:
  std::optional<Refusal> write_file(const std::string& path, const std::string& content) const;

  const std::filesystem::path files_dir_;
  const std::string control_secret_;
  const std::string reserved_;
  mutable std::mutex mu_;
  bool initialised_ = false;            // GUARDED_BY(mu_)
  std::optional<std::string> token_;    // GUARDED_BY(mu_); none: open session
  nlohmann::json env_ = nlohmann::json::object();  // GUARDED_BY(mu_)
  nlohmann::json metadata_;             // GUARDED_BY(mu_)
  nlohmann::json paths_ = nlohmann::json::array();  // GUARDED_BY(mu_)
};

}  // namespace warmpool::worker

#endif  // WARMPOOL_WORKER_SESSION_HPP_
