#include "worker/session_init.hpp"

#include <set>
#include <vector>

#include "base/sha256.hpp"
#include "base/text.hpp"

namespace warmpool {

using nlohmann::json;

namespace {

InitRefused bad(const std::string& detail) { return InitRefused(400, detail); }

std::string file_field(const std::string& path) { return "init.files[" + json(path).dump() + "]"; }

// Why `path` is not a relative path inside the session's directory; empty when it is.
std::string path_problem(const std::string& path, std::size_t max_bytes) {
  if (path.empty()) return "is empty";
  if (path.size() > max_bytes) return "is longer than " + std::to_string(max_bytes) + " bytes";
  if (path.front() == '/') return "is absolute; paths are relative to the session's directory";
  if (path.find('\0') != std::string::npos) return "holds a NUL byte";
  if (path.find('\\') != std::string::npos) return "holds a backslash; separate components with /";
  std::size_t from = 0;
  for (;;) {
    const std::size_t slash = path.find('/', from);
    const std::string part = path.substr(from, slash - from);
    if (part.empty()) return "has an empty component";
    if (part == "." || part == "..") return "has a \"" + part + "\" component";
    if (slash == std::string::npos) return {};
    from = slash + 1;
  }
}

// The file's content, decoded: a string as is, {"base64": "..."} decoded.
std::string file_content(const std::string& path, const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.size() == 1 && value.contains("base64") && value["base64"].is_string()) {
    auto bytes = base64_decode(value["base64"].get_ref<const std::string&>());
    if (!bytes) throw bad(file_field(path) + ".base64 is not valid base64 (RFC 4648, padded, no blanks)");
    return std::move(*bytes);
  }
  throw bad(file_field(path) + " must be a string (UTF-8 text) or {\"base64\": \"...\"}");
}

// Checks the files; returns their decoded bytes together.
std::int64_t check_files(const json& files, const InitLimits& limits) {
  if (!files.is_object()) throw bad("init.files must be an object mapping relative paths to contents");
  if (files.size() > limits.max_files)
    throw bad("init.files has " + std::to_string(files.size()) + " files; at most " +
              std::to_string(limits.max_files) + " are accepted (--max-init-files)");
  std::set<std::string> paths;
  std::size_t total = 0;
  for (const auto& [path, value] : files.items()) {
    if (auto why = path_problem(path, limits.max_path_bytes); !why.empty())
      throw bad("init.files: the path " + json(path).dump(-1, ' ', false, json::error_handler_t::replace) + " " + why);
    if (!limits.reserved.empty() && path.substr(0, path.find('/')) == limits.reserved)
      throw bad("init.files: " + json(path).dump() + " is under \"" + limits.reserved + "/\", where the data volume is served");
    total += file_content(path, value).size();
    if (total > limits.max_bytes)
      throw InitRefused(413, "init.files hold more than " + std::to_string(limits.max_bytes) +
                                 " bytes together (--max-init-bytes)");
    paths.insert(path);
  }
  // A path that is also another one's directory cannot be written.
  for (const auto& path : paths) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      if (paths.count(path.substr(0, slash)))
        throw bad("init.files: " + json(path.substr(0, slash)).dump() + " is a file and also the directory of " +
                  json(path).dump());
  }
  return static_cast<std::int64_t>(total);
}

bool is_env_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

void check_env(const json& env) {
  if (!env.is_object()) throw bad("init.env must be an object mapping names to string values");
  std::size_t total = 0;
  for (const auto& [name, value] : env.items()) {
    if (!is_env_name(name))
      throw bad("init.env: " + json(name).dump(-1, ' ', false, json::error_handler_t::replace) +
                " is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
    if (!value.is_string()) throw bad("init.env." + name + " must be a string");
    total += name.size() + value.get_ref<const std::string&>().size();
  }
  if (total > kMaxInitEnvBytes)
    throw InitRefused(413, "init.env holds more than " + std::to_string(kMaxInitEnvBytes) + " bytes");
}

}  // namespace

std::string SessionInit::worker_body(const std::optional<std::string>& token) const {
  return "{\"token\":" + (token ? json(*token).dump() : std::string("null")) + "," + body_tail;
}

SessionInit parse_session_init(const json& init, const InitLimits& limits) {
  if (!init.is_object()) throw bad("init must be an object with files, env and metadata (each optional)");
  for (const auto& [key, value] : init.items())
    if (key != "files" && key != "env" && key != "metadata") throw bad("init: unknown field \"" + key + "\"");
  SessionInit out;
  static const json kNone = json::object();
  const json& files = init.contains("files") ? init["files"] : kNone;  // not copied: it may be megabytes
  const json& env = init.contains("env") ? init["env"] : kNone;
  out.bytes = check_files(files, limits);
  out.files = files.size();
  check_env(env);
  json metadata = nullptr;
  if (init.contains("metadata")) {
    metadata = init["metadata"];
    if (!metadata.is_object()) throw bad("init.metadata must be a JSON object");
    out.metadata = metadata.dump();
    if (out.metadata.size() > kMaxInitMetadataBytes)
      throw InitRefused(413, "init.metadata is larger than " + std::to_string(kMaxInitMetadataBytes) +
                                 " bytes as compact JSON");
  }
  const std::string text = init.dump();
  jobs::Sha256 digest;
  digest.update(text.data(), text.size());
  out.sha256 = digest.hex();
  out.body_tail = "\"files\":" + files.dump() + ",\"env\":" + env.dump() + ",\"metadata\":" + metadata.dump() + "}";
  return out;
}

std::optional<std::string> duplicate_key(const std::string& text, json* parsed) {
  struct Frame {
    std::string name;
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Frame> frames;
  std::optional<std::string> found;
  auto path_to = [&](const std::string& key) {
    std::string path;
    for (std::size_t i = 1; i < frames.size(); ++i) path += frames[i].name + ".";
    return path + key;
  };
  json::parser_callback_t seen = [&](int, json::parse_event_t event, json& parsed) {
    using E = json::parse_event_t;
    if (found) return false;
    if (event == E::object_start || event == E::array_start)
      frames.push_back({frames.empty() ? std::string() : frames.back().last_key, {}, {}});
    else if (event == E::object_end || event == E::array_end)
      frames.pop_back();
    else if (event == E::key && !frames.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!frames.back().keys.insert(key).second) found = path_to(key);
      frames.back().last_key = key;
    }
    return true;
  };
  json value = json::parse(text, seen, /*allow_exceptions=*/false);
  const bool discarded = value.is_discarded();
  if (parsed) *parsed = std::move(value);
  return discarded && !found ? std::nullopt : found;
}

}  // namespace warmpool
