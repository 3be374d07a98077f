#include "fuzz/spec.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <stdexcept>

#include "api/openapi_paths.hpp"

namespace warmpool::fuzz {

using nlohmann::json;

namespace {

// Keywords that only describe; they constrain nothing.
const std::set<std::string> kAnnotations = {"description", "example", "examples", "default", "title",
                                            "contentMediaType", "deprecated", "readOnly", "writeOnly"};

bool has_type(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    if (!value.is_number_float()) return false;
    const double d = value.get<double>();
    return std::isfinite(d) && std::floor(d) == d;  // 2020-12: 1.0 is an integer
  }
  return false;
}

// A short account of a value; structured ones are not dumped (a fuzzed body
// may nest thousands deep, and dump() recurses).
std::string short_dump(const json& value) {
  if (value.is_array()) return "an array of " + std::to_string(value.size());
  if (value.is_object()) return "an object of " + std::to_string(value.size()) + " keys";
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// Characters (code points) of UTF-8 text, as maxLength counts them.
std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

bool is_date_time(const std::string& text) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$)");
  return std::regex_match(text, re);
}

Spec Spec::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path + " (built by the target warmpool_docs)");
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded()) throw std::runtime_error(path + " is not JSON");
  return Spec(std::move(doc));
}

Spec::Spec(json doc) : doc_(std::move(doc)) {
  for (const auto& [path, item] : doc_.at("paths").items()) templates_[test::openapi_to_template(path)] = path;
  compile_patterns(doc_);
}

void Spec::compile_patterns(const json& node) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "pattern" && value.is_string() && !patterns_.count(value.get<std::string>()))
        patterns_.emplace(value.get<std::string>(), std::regex(value.get<std::string>(), std::regex::ECMAScript));
      compile_patterns(value);
    }
  } else if (node.is_array()) {
    for (const auto& value : node) compile_patterns(value);
  }
}

const json& Spec::resolve(const json& node) const {
  const json* at = &node;
  for (int hops = 0; at->is_object() && at->contains("$ref"); ++hops) {
    const std::string ref = (*at)["$ref"].get<std::string>();
    if (hops > 20 || ref.rfind("#/", 0) != 0) throw std::runtime_error("unsupported $ref " + ref);
    at = &doc_.at(json::json_pointer(ref.substr(1)));
  }
  return *at;
}

const json& Spec::schema_of(const json& parameter) const {
  static const json empty = json::object();
  return parameter.contains("schema") ? resolve(parameter["schema"]) : empty;
}

const json* Spec::operation(const std::string& method, const std::string& path_template) const {
  auto it = templates_.find(path_template);
  if (it == templates_.end()) return nullptr;
  std::string m = method;
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const json& item = doc_["paths"][it->second];
  auto op = item.find(m);
  return op == item.end() ? nullptr : &*op;
}

std::string Spec::path_of(const std::string& path_template) const {
  auto it = templates_.find(path_template);
  return it == templates_.end() ? std::string() : it->second;
}

std::vector<json> Spec::parameters(const std::string& method, const std::string& path_template) const {
  std::vector<json> out;
  auto it = templates_.find(path_template);
  if (it == templates_.end()) return out;
  const json& item = doc_["paths"][it->second];
  if (item.contains("parameters"))
    for (const auto& p : item["parameters"]) out.push_back(resolve(p));
  if (const json* op = operation(method, path_template); op && op->contains("parameters"))
    for (const auto& p : (*op)["parameters"]) out.push_back(resolve(p));
  return out;
}

const json* Spec::response(const json& operation, int status) const {
  if (!operation.contains("responses")) return nullptr;
  const json& responses = operation["responses"];
  auto it = responses.find(std::to_string(status));
  if (it == responses.end()) return nullptr;
  return &resolve(*it);
}

const json* Spec::request_schema(const json& operation) const {
  if (!operation.contains("requestBody")) return nullptr;
  const json& body = resolve(operation["requestBody"]);
  if (!body.contains("content") || !body["content"].contains("application/json")) return nullptr;
  return &body["content"]["application/json"]["schema"];
}

std::vector<std::string> Spec::security(const json& operation) const {
  std::vector<std::string> names;
  const json& requirements = operation.contains("security") ? operation["security"]
                                                             : doc_.value("security", json::array());
  for (const auto& requirement : requirements)
    for (const auto& [name, scopes] : requirement.items()) names.push_back(name);
  return names;
}

std::vector<std::string> Spec::validate(const json& value, const json& schema) const {
  std::vector<std::string> problems;
  validate_at(value, schema, "$", problems);
  return problems;
}

// Property names that `schema` and its allOf parts evaluate (for
// unevaluatedProperties); `all` when additionalProperties covers the rest.
void Spec::evaluated_names(const json& schema, std::vector<std::string>& names, bool& all) const {
  if (!schema.is_object()) return;
  if (schema.contains("$ref")) evaluated_names(resolve(schema), names, all);
  if (schema.contains("properties"))
    for (const auto& [name, sub] : schema["properties"].items()) names.push_back(name);
  if (schema.contains("additionalProperties")) all = true;
  if (schema.contains("allOf"))
    for (const auto& part : schema["allOf"]) evaluated_names(part, names, all);
}

void Spec::validate_at(const json& value, const json& node, const std::string& where,
                       std::vector<std::string>& problems) const {
  const json& schema = node;  // a $ref is one keyword among its siblings (2020-12)
  if (schema.is_boolean()) {
    if (!schema.get<bool>()) problems.push_back(where + ": no value is allowed here");
    return;
  }
  auto fail = [&](const std::string& why) { problems.push_back(where + ": " + why + " (got " + short_dump(value) + ")"); };
  for (const auto& [key, rule] : schema.items()) {
    if (kAnnotations.count(key)) continue;
    if (key == "type") {
      bool ok = false;
      if (rule.is_string()) ok = has_type(value, rule.get<std::string>());
      else
        for (const auto& t : rule) ok = ok || has_type(value, t.get<std::string>());
      if (!ok) fail("not of type " + rule.dump());
    } else if (key == "required") {
      if (!value.is_object()) continue;
      for (const auto& name : rule)
        if (!value.contains(name.get<std::string>())) fail("missing \"" + name.get<std::string>() + "\"");
    } else if (key == "properties") {
      if (!value.is_object()) continue;
      for (const auto& [name, sub] : rule.items())
        if (value.contains(name)) validate_at(value[name], sub, where + "." + name, problems);
    } else if (key == "additionalProperties") {
      if (!value.is_object()) continue;
      for (const auto& [name, v] : value.items()) {
        if (schema.contains("properties") && schema["properties"].contains(name)) continue;
        validate_at(v, rule, where + "." + name, problems);
      }
    } else if (key == "unevaluatedProperties") {
      if (!value.is_object()) continue;
      std::vector<std::string> names;
      bool all = false;
      evaluated_names(schema, names, all);
      if (all) continue;
      for (const auto& [name, v] : value.items()) {
        if (std::find(names.begin(), names.end(), name) != names.end()) continue;
        validate_at(v, rule, where + "." + name, problems);
      }
    } else if (key == "allOf") {
      for (const auto& part : rule) validate_at(value, part, where, problems);
    } else if (key == "items") {
      if (!value.is_array()) continue;
      for (std::size_t i = 0; i < value.size(); ++i)
        validate_at(value[i], rule, where + "[" + std::to_string(i) + "]", problems);
    } else if (key == "propertyNames") {
      if (!value.is_object()) continue;
      for (const auto& [name, v] : value.items()) validate_at(json(name), rule, where + " key " + name, problems);
    } else if (key == "enum") {
      if (std::find(rule.begin(), rule.end(), value) == rule.end()) fail("not one of " + rule.dump());
    } else if (key == "const") {
      if (value != rule) fail("not " + rule.dump());
    } else if (key == "pattern") {
      if (value.is_string() && !std::regex_search(value.get<std::string>(), patterns_.at(rule.get<std::string>())))
        fail("does not match /" + rule.get<std::string>() + "/");
    } else if (key == "format") {
      if (value.is_string() && rule == "date-time" && !is_date_time(value.get<std::string>()))
        fail("not a date-time");
    } else if (key == "minimum") {
      if (value.is_number() && value.get<double>() < rule.get<double>()) fail("below " + rule.dump());
    } else if (key == "maximum") {
      if (value.is_number() && value.get<double>() > rule.get<double>()) fail("above " + rule.dump());
    } else if (key == "maxLength") {
      if (value.is_string() && code_points(value.get<std::string>()) > rule.get<std::size_t>()) fail("longer than " + rule.dump());
    } else if (key == "minLength") {
      if (value.is_string() && code_points(value.get<std::string>()) < rule.get<std::size_t>()) fail("shorter than " + rule.dump());
    } else if (key == "$ref") {
      const std::string ref = rule.get<std::string>();
      if (ref.rfind("#/", 0) != 0) throw std::runtime_error("unsupported $ref " + ref);
      validate_at(value, doc_.at(json::json_pointer(ref.substr(1))), where, problems);
    } else {
      problems.push_back(where + ": the fuzz oracle does not know the schema keyword \"" + key + "\"");
    }
  }
}

}  // namespace warmpool::fuzz
