// A session's initial state: the `init` object of POST /allocations, checked
// here before any instance is claimed, and the body of the worker's
// POST /init that delivers it (swagger/worker.yaml).
//
//   {"files":    {"relative/path": "UTF-8 text" | {"base64": "..."}, ...},
//    "env":      {"NAME": "value", ...},
//    "metadata": {...}}                      every member optional
//
// Pure: no I/O. Errors: InitRefused, naming the field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace warmpool {

struct InitLimits {
  std::size_t max_bytes = 1 << 20;   // the files' decoded bytes together (413 above)
  std::size_t max_files = 100;
  std::size_t max_path_bytes = 255;  // one file's relative path
  std::string reserved;              // a first path component no file may use (the data volume's "data"); empty: none
};

// Fixed bounds of the parts that have no flag.
inline constexpr std::size_t kMaxInitEnvBytes = 64 * 1024;       // names and values together
inline constexpr std::size_t kMaxInitMetadataBytes = 16 * 1024;  // the metadata as compact JSON

// The payload is refused; `status` is 400 (malformed) or 413 (too large).
class InitRefused : public std::runtime_error {
 public:
  InitRefused(int status, const std::string& detail) : std::runtime_error(detail), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct SessionInit {
  std::int64_t bytes = 0;    // the files' decoded bytes together
  std::size_t files = 0;     // how many
  std::string sha256;        // of the init object as compact JSON, keys sorted (jq -cS)
  std::string metadata;      // compact JSON object; empty when none was given
  std::string body_tail = R"("files":{},"env":{},"metadata":null})";  // the worker body after its token

  // The worker's POST /init body: this payload and the session's token
  // (none: null, for a session whose worker routes stay open to its caller).
  std::string worker_body(const std::optional<std::string>& token) const;
};

// Checks `init` (the value of the request's "init" field) against `limits`
// and the rules above: a path is relative, made of non-empty components
// other than "." and "..", without NUL or backslash, and is not also the
// directory of another path; an env name matches [A-Za-z_][A-Za-z0-9_]*
// and its value is a string; metadata is an object. Throws InitRefused.
SessionInit parse_session_init(const nlohmann::json& init, const InitLimits& limits);

// The first key that appears twice in one object of the JSON text `text`,
// as a dotted path ("init.files.a.txt"); nullopt when none does or the text
// is not JSON. A JSON parser keeps only the last of duplicates, silently.
// `parsed`, when given, receives the parsed text (discarded when it is not
// JSON), so that a caller need not parse it twice.
std::optional<std::string> duplicate_key(const std::string& text, nlohmann::json* parsed = nullptr);

}  // namespace warmpool
