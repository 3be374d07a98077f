// The Docker Engine API's JSON, both ways: errors with the engine's own
// message and a "what id: why" context, inspect/list/event records, label
// filters and API versions. Pure functions, tested without an engine.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/engine.hpp"

namespace warmpool::engine::docker_json {

// Bytes of an engine's error body quoted in a message when it is not JSON.
constexpr std::size_t kMaxQuotedBody = 300;

// An error for an answer with HTTP `status`, its kind from the status and
// its message from the engine's body ("inspect 0123456789ab: No such container").
EngineError status_error(std::string_view operation, const std::string& id, long status,
                         const std::string& body);
// "inspect 0123456789ab": the operation, and the container's short id if any.
std::string context_of(std::string_view operation, const std::string& id);
// An answer we could not understand.
EngineError protocol_error(std::string_view operation, const std::string& id, const std::string& what);
// Parses `body`; a protocol_error when it is not JSON.
nlohmann::json parse_json(std::string_view operation, const std::string& id, const std::string& body);
// The string at `key`, "" when missing or not a string.
std::string string_field(const nlohmann::json& j, const char* key);
// "k=v" strings as the engine's label filter wants them.
nlohmann::json label_filters(const Labels& match);
ContainerInfo info_from_inspect(const nlohmann::json& j);
ContainerInfo info_from_list_entry(const nlohmann::json& j);
Event event_from(const nlohmann::json& j);
// "1.41" -> {1, 41}; {0, 0} when it does not parse.
std::pair<int, int> parse_api_version(const std::string& v);

}  // namespace warmpool::engine::docker_json
