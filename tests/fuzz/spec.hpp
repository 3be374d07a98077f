// swagger/openapi.yaml (as built into openapi.json) as the fuzz test's
// oracle: which operation a request reaches, which answers it documents, and
// a validator for the subset of JSON Schema 2020-12 the spec uses. A keyword
// the validator does not know is reported as a problem, so the spec cannot
// grow past the oracle unnoticed.
//
// Thread-safe after construction (read-only).
#pragma once

#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace warmpool::fuzz {

class Spec {
 public:
  // Throws std::runtime_error when the file cannot be read or parsed.
  static Spec load(const std::string& openapi_json_path);
  explicit Spec(nlohmann::json doc);

  // The operation object of `method` (upper case) on the path whose template
  // ("/allocations/{}", see tests/api/openapi_paths.hpp) is `path_template`;
  // nullptr when the spec has none.
  const nlohmann::json* operation(const std::string& method, const std::string& path_template) const;
  // The spec's path for a template ("/allocations/{id}"); empty when none.
  std::string path_of(const std::string& path_template) const;
  // The parameters of that operation, path-level ones included, each resolved.
  std::vector<nlohmann::json> parameters(const std::string& method, const std::string& path_template) const;
  // The response object documented for `status` (refs resolved); nullptr if none.
  const nlohmann::json* response(const nlohmann::json& operation, int status) const;
  // The schema of the operation's JSON request body; nullptr when it has none.
  const nlohmann::json* request_schema(const nlohmann::json& operation) const;
  // The security scheme names the operation accepts ("apiToken", ...); empty: open.
  std::vector<std::string> security(const nlohmann::json& operation) const;

  // A parameter's schema, resolved; an empty schema when it has none.
  const nlohmann::json& schema_of(const nlohmann::json& parameter) const;
  // Follows $ref (local, "#/...") until the node is not a reference.
  const nlohmann::json& resolve(const nlohmann::json& node) const;
  // Why `value` does not match `schema`; empty when it does.
  std::vector<std::string> validate(const nlohmann::json& value, const nlohmann::json& schema) const;

  const nlohmann::json& doc() const { return doc_; }

 private:
  void validate_at(const nlohmann::json& value, const nlohmann::json& schema, const std::string& where,
                   std::vector<std::string>& problems) const;
  void evaluated_names(const nlohmann::json& schema, std::vector<std::string>& names, bool& all) const;
  void compile_patterns(const nlohmann::json& node);

  nlohmann::json doc_;
  std::map<std::string, std::string> templates_;  // path template -> spec path
  std::map<std::string, std::regex> patterns_;    // compiled once: validate() is const and shared
};

// True if `text` is an RFC 3339 date-time (the spec's "format: date-time").
bool is_date_time(const std::string& text);

}  // namespace warmpool::fuzz
