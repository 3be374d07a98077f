#include "engine/docker_json.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace warmpool::engine::docker_json {

using nlohmann::json;
using Kind = EngineError::Kind;

static std::string short_id(const std::string& id) {
  const bool full = id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
                      return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                    });
  return full ? id.substr(0, 12) : id;
}

std::string context_of(std::string_view operation, const std::string& id) {
  std::string context(operation);
  if (!id.empty()) context += " " + short_id(id);
  return context;
}

// "k=v" strings as the engine's label filter wants them.
json label_filters(const Labels& match) {
  json labels = json::array();
  for (const auto& [key, value] : match) labels.push_back(key + "=" + value);
  return labels;
}

// Podman answers 500 with cause "container state improper" where Docker
// answers 409 (pausing a paused container, unpausing a running one).
static Kind kind_of_status(long status, const std::string& body) {
  switch (status) {
    case 400: return Kind::BadRequest;
    case 404: return Kind::NotFound;
    case 409: return Kind::Conflict;
    default: break;
  }
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.value("cause", json()).is_string() &&
      parsed["cause"].get<std::string>() == "container state improper")
    return Kind::Conflict;
  return Kind::Server;
}

// The engine's own words: its JSON "message", else the start of the body.
static std::string engine_message(long status, const std::string& body) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
    return parsed["message"].get<std::string>();
  }
  std::string text = body.substr(0, kMaxQuotedBody);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text.empty() ? "HTTP status " + std::to_string(status) : text;
}

// The one place where HTTP answers become EngineErrors.
EngineError status_error(std::string_view operation, const std::string& id, long status, const std::string& body) {
  return EngineError(kind_of_status(status, body), context_of(operation, id) + ": " + engine_message(status, body),
                     static_cast<int>(status), id);
}

// The one place where transport failures become EngineErrors.

EngineError protocol_error(std::string_view operation, const std::string& id, const std::string& what) {
  return EngineError(Kind::Protocol, context_of(operation, id) + ": unexpected answer from the engine: " + what, 0, id);
}

json parse_json(std::string_view operation, const std::string& id, const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw protocol_error(operation, id, "invalid JSON");
  return parsed;
}

// j[key] when j is an object that has it, else null: the engine sends null
// for empty maps and omits fields freely.
static const json& field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string string_field(const json& j, const char* key) {
  const json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

static Labels labels_from(const json& j) {
  Labels labels;
  if (!j.is_object()) return labels;
  for (const auto& [key, value] : j.items()) {
    if (value.is_string()) labels.emplace(key, value.get<std::string>());
  }
  return labels;
}

static std::string without_slash(std::string name) {
  if (!name.empty() && name.front() == '/') name.erase(0, 1);
  return name;
}

ContainerInfo info_from_inspect(const json& j) {
  ContainerInfo info;
  info.id = string_field(j, "Id");
  info.name = without_slash(string_field(j, "Name"));
  const json& config = field(j, "Config");
  info.image = string_field(config, "Image");
  info.labels = labels_from(field(config, "Labels"));
  const json& state = field(j, "State");
  info.status = container_status_from(string_field(state, "Status"));
  if (field(state, "ExitCode").is_number_integer()) info.exit_code = field(state, "ExitCode").get<int>();
  info.oom_killed = field(state, "OOMKilled").is_boolean() && field(state, "OOMKilled").get<bool>();
  info.cgroup_parent = string_field(field(j, "HostConfig"), "CgroupParent");
  return info;
}

// "Exited (137) 2 seconds ago" -> 137; anything else -> 0.
static int exit_code_from_status_text(const std::string& text) {
  if (!std::string_view(text).starts_with("Exited (")) return 0;
  return std::atoi(text.c_str() + std::string_view("Exited (").size());
}

ContainerInfo info_from_list_entry(const json& j) {
  ContainerInfo info;
  info.id = string_field(j, "Id");
  const json& names = field(j, "Names");
  if (names.is_array() && !names.empty() && names[0].is_string()) info.name = without_slash(names[0].get<std::string>());
  info.image = string_field(j, "Image");
  info.status = container_status_from(string_field(j, "State"));
  info.labels = labels_from(field(j, "Labels"));
  info.exit_code = exit_code_from_status_text(string_field(j, "Status"));
  return info;
}

// Event attributes that the engine adds beside the container's labels.
static bool is_engine_attribute(const std::string& key) {
  return key == "image" || key == "name" || key == "exitCode" || key == "signal" || key == "execID";
}

Event event_from(const json& j) {
  Event event;
  event.action = string_field(j, "Action");
  if (event.action.empty()) event.action = string_field(j, "status");  // engines before API 1.22
  const json& actor = field(j, "Actor");
  event.container_id = string_field(actor, "ID");
  if (event.container_id.empty()) event.container_id = string_field(j, "id");
  for (auto& [key, value] : labels_from(field(actor, "Attributes"))) {
    if (!is_engine_attribute(key)) event.labels.emplace(key, std::move(value));
  }
  if (field(j, "timeNano").is_number_integer()) {
    event.time_ns = field(j, "timeNano").get<std::int64_t>();
  } else if (field(j, "time").is_number_integer()) {
    event.time_ns = field(j, "time").get<std::int64_t>() * 1'000'000'000;
  }
  return event;
}

// "1.43" -> {1, 43}; {0, 0} when it is not a version.
std::pair<int, int> parse_api_version(const std::string& v) {
  const auto dot = v.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == v.size()) return {0, 0};
  const std::string major = v.substr(0, dot);
  const std::string minor = v.substr(dot + 1);
  const auto digits = [](const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
  };
  if (!digits(major) || !digits(minor)) return {0, 0};
  return {std::stoi(major), std::stoi(minor)};
}

}  // namespace warmpool::engine::docker_json
