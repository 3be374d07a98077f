#include "fuzz/generator.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include "api/openapi_paths.hpp"
#include "fuzz/world.hpp"

namespace warmpool::fuzz {

using nlohmann::json;

namespace {

// HTTP methods; any other token is a malformed request (or, PRI, one no route serves).
const std::set<std::string> kHttpMethods = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
                                            "OPTIONS", "TRACE", "PATCH"};

std::string escape(const std::string& s, std::size_t limit) {
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > limit) out += "\"... (" + std::to_string(s.size()) + " bytes in all)";
  else out += "\"";
  return "\"" + out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query values as cpp-httplib decodes them ('+' is a space there).
std::vector<std::pair<std::string, std::string>> parse_query(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t at = 0;
  while (at <= query.size()) {
    auto end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    const std::string part = query.substr(at, end - at);
    if (!part.empty()) {
      const auto eq = part.find('=');
      std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
      std::replace(value.begin(), value.end(), '+', ' ');
      out.emplace_back(decode_path(key), eq == std::string::npos ? "\x01no '='" : decode_path(value));
    }
    at = end + 1;
  }
  return out;
}

// The id a decimal path segment names, if it is one an int64 holds.
std::optional<std::int64_t> decimal_id(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const auto first = text.find_first_not_of('0');
  const std::string digits = first == std::string::npos ? "0" : text.substr(first);
  if (digits.size() > 18) return std::nullopt;
  return std::stoll(digits);
}

// A query value as the schema reads it: a decimal is an integer to an
// integer parameter (after=0), anything else stays the string it is.
json query_value(const std::string& text, const json& schema) {
  if (schema.value("type", "") == "integer")
    if (auto n = decimal_id(text)) return json(*n);
  return json(text);
}

// A route pattern in the grammar of tests/api/openapi_paths.hpp: literal
// characters, "\.", and the groups ([^/]+) and (\d+), each followed by '/'
// or the end (so that matching needs no backtracking).
std::vector<Route::Piece> pieces_of(const std::string& pattern) {
  test::route_to_template(pattern);  // throws for anything else
  std::vector<Route::Piece> pieces;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 7, "([^/]+)") == 0) {
      pieces.push_back({Route::Piece::Segment, {}});
      i += 7;
    } else if (pattern.compare(i, 5, "(\\d+)") == 0) {
      pieces.push_back({Route::Piece::Digits, {}});
      i += 5;
    } else {
      const char c = pattern.compare(i, 2, "\\.") == 0 ? '.' : pattern[i];
      i += c == '.' ? 2 : 1;
      if (pieces.empty() || pieces.back().kind != Route::Piece::Literal) pieces.push_back({Route::Piece::Literal, {}});
      pieces.back().text += c;
    }
  }
  for (std::size_t k = 0; k + 1 < pieces.size(); ++k)
    if (pieces[k].kind != Route::Piece::Literal && pieces[k + 1].text.rfind('/', 0) != 0)
      throw std::runtime_error("a group not followed by '/' in " + pattern);
  return pieces;
}

}  // namespace

bool Route::matches(const std::string& path, std::vector<std::string>& params) const {
  params.clear();
  std::size_t at = 0;
  for (const Piece& p : pieces) {
    if (p.kind == Piece::Literal) {
      if (path.compare(at, p.text.size(), p.text) != 0) return false;
      at += p.text.size();
      continue;
    }
    std::size_t end = at;
    while (end < path.size() && path[end] != '/' && (p.kind == Piece::Segment || std::isdigit(static_cast<unsigned char>(path[end]))))
      ++end;
    if (end == at) return false;
    params.push_back(path.substr(at, end - at));
    at = end;
  }
  return at == path.size();
}

std::string decode_path(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const int hi = hex_value(path[i + 1]), lo = hex_value(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

std::string Request::describe(std::size_t body_limit) const {
  std::string out = (raw ? "raw bytes to the " : "cpp-httplib client to the ") +
                    std::string(server ? "server with tokens" : "server without tokens") + "\n";
  if (raw) {
    out += "  bytes: " + escape(bytes, body_limit) + (half_close ? " (then half-closed)" : "") + "\n";
  } else {
    out += "  " + method + " " + escape(target, 300) + "\n";
    for (const auto& [k, v] : headers) out += "  " + k + ": " + escape(v, 120) + "\n";
    out += "  body: " + escape(body, body_limit) + "\n";
  }
  for (const auto& n : notes) out += "  made: " + n + "\n";
  if (expect == Expect::Reject)
    for (const auto& w : reject_reasons) out += "  bad input: " + w + "\n";
  return out;
}

std::vector<Route> describe_routes(const std::vector<std::pair<std::string, std::string>>& served,
                                   const Spec& spec) {
  std::vector<Route> routes;
  for (const auto& [method, pattern] : served) {
    Route r;
    r.method = method;
    r.pattern = pattern;
    r.path_template = test::route_to_template(pattern);
    r.pieces = pieces_of(pattern);
    r.operation = spec.operation(method, r.path_template);
    if (!r.operation) throw std::runtime_error("the spec has no operation for " + method + " " + pattern);
    // Path parameters in the order their names appear in the spec's path.
    const std::string path = spec.path_of(r.path_template);
    const auto params = spec.parameters(method, r.path_template);
    for (std::size_t at = path.find('{'); at != std::string::npos; at = path.find('{', at + 1)) {
      const std::string name = path.substr(at + 1, path.find('}', at) - at - 1);
      for (const auto& p : params)
        if (p.value("in", "") == "path" && p.value("name", "") == name) r.path_params.push_back(p);
    }
    for (const auto& p : params)
      if (p.value("in", "") == "query") r.query_params.push_back(p);
    r.body_schema = spec.request_schema(*r.operation);
    if (r.operation->contains("requestBody"))
      r.body_required = spec.resolve((*r.operation)["requestBody"]).value("required", false);
    r.security = spec.security(*r.operation);
    routes.push_back(std::move(r));
  }
  return routes;
}

Known known_from(const Snapshot& snapshot, const std::vector<std::string>& docs_files) {
  Known k;
  for (const auto& a : snapshot.allocations) {
    k.allocation_ids.push_back(a.id);
    if (a.current()) k.current_allocation_ids.push_back(a.id);
  }
  for (const auto& i : snapshot.instances) {
    k.instance_ids.push_back(i.id);
    if (!i.deleted_ms) k.live_instance_ids.push_back(i.id);
  }
  for (const auto& j : snapshot.jobs) k.job_ids.push_back(j.id);
  k.docs_files = docs_files;
  return k;
}

Generator::Generator(const std::vector<Route>& routes, const Spec& spec, std::size_t max_body_bytes,
                     std::uint64_t seed)
    : routes_(routes), spec_(spec), max_body_(max_body_bytes), rng_(seed) {}

// ---------------------------------------------------------------------------
// Paths

std::string Generator::bad_id(const Known& known) {
  static const std::vector<std::string> fixed = {
      "-1", "abc", "0x10", "1e3", "1.5", "+1", "%201", "%20", "99999999999999999999999",
      "9223372036854775807", "9223372036854775808", "18446744073709551616", "%00", "1%00", "%2e%2e",
      "..", ".", "%2F", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%2f..%2fwarmpool.db", "%ff", "%c3%a9",
      "%zz", "%", "%%", "%2", "%3Cscript%3E", "id;drop", "a%0d%0aX-Injected:%201", "%5c..%5c", "~",
      "*", "null", "undefined", "true", "[]", "%7B%7D", "0000000000000000000000", "%e2%80%ae1",
      "%c0%ae%c0%ae", "%ed%a0%80", "%f4%90%80%80", "%fe%ff", "index.html%00.json", ".index.html",
      "openapi.json.bak", "..%5cwarmpool.db"};
  switch (below(8)) {
    case 0: return std::string(1 + below(chance(50) ? 300 : 8170), static_cast<char>('a' + below(26)));
    case 1: return std::string(1 + below(40), '9');
    case 2: {  // an allocation id no record has
      std::string id;
      for (int i = 0; i < 32; ++i) id += "0123456789abcdef"[below(16)];
      return id;
    }
    case 3:
      if (!known.allocation_ids.empty()) {
        const std::string& a = pick(known.allocation_ids);
        switch (below(4)) {
          case 0: return upper(a);
          case 1: return a + "x";
          case 2: return a.substr(0, 31);
          default: return a + "%00";
        }
      }
      return "ffffffffffffffffffffffffffffffff";
    case 4:
      return std::to_string(100000 + below(1000000000));
    default: return pick(fixed);
  }
}

std::string Generator::path_value(const json& param, const Known& known, Request& r) {
  const json& schema = spec_.schema_of(param);
  if (odd(35)) {
    r.notes.push_back("bad id for {" + param.value("name", "") + "}");
    return bad_id(known);
  }
  // Live records first: their routes' success paths are the ones to reach.
  if (schema.value("type", "") == "integer") {
    if (!known.live_instance_ids.empty() && chance(40)) return std::to_string(pick(known.live_instance_ids));
    std::vector<std::int64_t> ids = known.instance_ids;
    ids.insert(ids.end(), known.job_ids.begin(), known.job_ids.end());
    if (ids.empty() || chance(10)) return std::to_string(below(4));
    return std::to_string(pick(ids));
  }
  // Strings: allocation ids, and the docs directory's files (for /static/{file}).
  const bool files = schema.contains("pattern") ? chance(85) : chance(15);
  if (files && !known.docs_files.empty()) return pick(known.docs_files);
  if (!known.current_allocation_ids.empty() && (clean_ || chance(75))) return pick(known.current_allocation_ids);
  if (!known.allocation_ids.empty()) return pick(known.allocation_ids);
  return "00000000000000000000000000000000";
}

std::string Generator::path_trick(const std::string& path, Request& r) {
  std::string p = path;
  const auto slash = p.find('/', 1);
  switch (below(20)) {
    case 0: p = "/" + p; break;
    case 1: p += "/"; break;
    case 2: p += "/.."; break;
    case 3: p += "/./"; break;
    case 4: p = "/x/.." + p; break;
    case 5: p = "/%2e%2e" + p; break;
    case 6: if (slash != std::string::npos) p.replace(slash, 1, "%2F"); else p += "%2F"; break;
    case 7: if (slash != std::string::npos) p.replace(slash, 1, "//"); else p += "//"; break;
    case 8: p = upper(p); break;
    case 9: p += "%00"; break;
    case 10: p += "%00.json"; break;
    case 11: p += ";jsessionid=1"; break;
    case 12:  // a letter percent-encoded: decodes to the route itself
      for (std::size_t i = 1; i < p.size(); ++i)
        if (std::isalpha(static_cast<unsigned char>(p[i]))) {
          static const char* hex = "0123456789ABCDEF";
          const unsigned char c = static_cast<unsigned char>(p[i]);
          p.replace(i, 1, std::string("%") + hex[c >> 4] + hex[c & 15]);
          break;
        }
      break;
    case 13: p += "/" + std::string(100 + below(9000), 'a'); break;
    case 14: p += "%20"; break;
    case 15: p = "/." + p; break;
    case 16: p += "/%2e%2e/%2e%2e/etc/passwd"; break;
    case 17: p = "/static/..%2f.." + p; break;
    case 18: p += "\\..\\"; break;
    default: p = p.substr(0, p.size() > 1 ? 1 + below(p.size() - 1) : 1); break;
  }
  r.notes.push_back("path trick");
  return p;
}

std::string Generator::query(const Route& route, Request& r) {
  static const std::vector<std::string> junk = {
      "?", "?&", "?=", "?a", "?&&&=&=", "?%zz=1", "?a=%00", "?a[]=1&a[b]=2", "?a=1&a=2&a=3",
      "?%ff=%fe", "?;", "?a=b=c", "?+=+", "?%26=%3D"};
  std::string q;
  if (!route.query_params.empty() && chance(60)) {
    const json& p = pick(route.query_params);
    const std::string name = p.value("name", "");
    const json& schema = spec_.schema_of(p);
    std::string value;
    if ((clean_ || chance(55)) && schema.contains("enum")) {
      value = pick(schema["enum"].get<std::vector<json>>()).get<std::string>();
    } else {
      static const std::vector<std::string> bad = {"", "CURRENT", "junk", "all%20", "0", "current,all",
                                                   "%00", "al%6c", "finished%00", "a+l+l",
                                                   std::string(300, 'x'), "%ff"};
      value = pick(bad);
    }
    q = "?" + name + "=" + value;
    if (odd(15)) q += "&" + name + "=" + (chance(50) ? "junk" : "all");
    if (odd(10)) q += "&" + name;
  }
  if (odd(8)) {
    const std::string j = chance(10) ? "?" + std::string(1000 + below(9000), 'q') : pick(junk);
    q += q.empty() ? j : "&" + j.substr(1);
    r.notes.push_back("query junk");
  }
  return q;
}

// ---------------------------------------------------------------------------
// Bodies

std::string Generator::valid_value(const json& node, int depth) {
  const json& schema = spec_.resolve(node);
  if (!schema.is_object()) return "null";
  if (schema.contains("enum")) return pick(schema["enum"].get<std::vector<json>>()).dump();
  if (schema.contains("const")) return schema["const"].dump();
  std::string type = "null";
  if (schema.contains("type")) {
    const json& t = schema["type"];
    type = t.is_string() ? t.get<std::string>() : t.at(0).get<std::string>();
  }
  if (type == "integer" || type == "number") {
    const auto lo = schema.value("minimum", std::int64_t{0});
    const auto hi = std::min(schema.value("maximum", lo + 300), lo + 300);
    return std::to_string(lo + static_cast<std::int64_t>(below(static_cast<std::size_t>(hi - lo + 1)))) +
           (type == "number" && chance(50) ? ".5" : "");
  }
  if (type == "string") {
    const std::size_t max = schema.value("maxLength", std::size_t{40});
    std::string s;
    const std::size_t n = below(std::min<std::size_t>(max, 40) + 1);
    for (std::size_t i = 0; i < n; ++i) {
      switch (below(12)) {
        case 0: s += "\\u00e9"; break;
        case 1: s += "\\\""; break;
        case 2: s += "\\u0000"; break;
        case 3: s += ' '; break;
        default: s += static_cast<char>('a' + below(26));
      }
    }
    return "\"" + s + "\"";
  }
  if (type == "boolean") return chance(50) ? "true" : "false";
  if (type == "array") return "[]";
  if (type == "object" && depth < 4) {
    std::string out = "{";
    bool first = true;
    std::set<std::string> required;
    for (const auto& name : schema.value("required", json::array())) required.insert(name);
    const json properties = schema.value("properties", json::object());
    for (const auto& [name, sub] : properties.items()) {
      if (!required.count(name) && !chance(60)) continue;
      out += (first ? "" : ",") + json(name).dump() + ":" + valid_value(sub, depth + 1);
      first = false;
    }
    return out + "}";
  }
  return "null";
}

std::string Generator::mutate(const std::string& valid, const json& node, Request& r) {
  const json& schema = spec_.resolve(node);
  std::vector<std::string> props;
  const json properties = schema.value("properties", json::object());
  for (const auto& [name, sub] : properties.items()) props.push_back(name);
  const std::string prop = props.empty() ? "x" : pick(props);
  // `valid` with one member set to the JSON text `value` (an object body).
  // `valid` with `key` set to the JSON text `value` (which may be no JSON at all).
  const json members = json::parse(valid, nullptr, false);
  auto with = [&](const std::string& key, const std::string& value) {
    std::string out = "{" + json(key).dump() + ":" + value;
    if (members.is_object())
      for (const auto& [k, v] : members.items())
        if (k != key) out += "," + json(k).dump() + ":" + v.dump();
    return out + "}";
  };
  static const std::vector<std::string> wrong_types = {
      "\"5\"", "5.5", "true", "false", "null", "[]", "{}", "[5]", "{\"a\":5}", "\"\"", "-0.5", "\"\\u0000\""};
  static const std::vector<std::string> numbers = {
      "0", "-1", "1", "-9223372036854775808", "9223372036854775807", "9223372036854775808",
      "18446744073709551615", "18446744073709551616", "-9223372036854775809", "1e400", "-1e400", "1e-400",
      "-0", "1.0", "5e1", "1E+2", "0.0000001e7", "01", "1_000", "0x10", "Infinity", "NaN", "+1", ".5",
      "1.", "2147483648", "4294967296", "86400", "86401", "600000", "600001", "1000", "1001"};
  std::string out;
  switch (below(16)) {
    case 0: out = with(prop, pick(wrong_types)); r.notes.push_back("wrong type for " + prop); break;
    case 1:
    case 2: out = with(prop, pick(numbers)); r.notes.push_back("odd number for " + prop); break;
    case 3: out = with("zz_unknown_" + std::to_string(below(3)), pick(wrong_types)); r.notes.push_back("unknown field"); break;
    case 4: {
      static const std::vector<std::string> tops = {"[]", "1", "\"s\"", "null", "true", "[{}]", "[" + valid + "]", "-1", "0"};
      out = pick(tops);
      r.notes.push_back("not an object");
      break;
    }
    case 5: {
      static const std::vector<std::string> garbage = {
          "}", ",", " x", "]", "{}", "\"", "/*c*/", "//c\n", "\x01", "\xff", "\xc3", "\0"};
      switch (below(6)) {
        case 0: out = valid.substr(0, 1 + below(valid.size() > 1 ? valid.size() - 1 : 1)); break;
        case 1: out = valid + pick(garbage); break;
        case 2: out = pick(garbage) + valid; break;
        case 3: out = with(prop, pick(std::vector<std::string>{"'x'", "\"unterminated", "\"\x01\"", "\"\xff\xfe\"",
                                                                "\"\\ud800\"", "\"\\x41\"", "\"\\u12\"", "tru", "nul"}));
          break;
        case 4: out = "{" + json(prop).dump() + ":1,}"; break;
        default: out = "{" + json(prop).dump() + " 1}"; break;
      }
      r.notes.push_back("malformed JSON");
      break;
    }
    case 6: {  // bigger than --max-body-bytes, otherwise valid
      const std::size_t size = max_body_ + 1 + below(chance(80) ? 16 : 3 * max_body_);
      out = valid.substr(0, 1) + std::string(size > valid.size() ? size - valid.size() : 0, ' ') + valid.substr(1);
      r.notes.push_back("larger than --max-body-bytes");
      break;
    }
    case 7: {  // exactly at the limit, valid
      out = valid.substr(0, 1) + std::string(max_body_ > valid.size() ? max_body_ - valid.size() : 0, ' ') + valid.substr(1);
      r.notes.push_back("exactly --max-body-bytes");
      break;
    }
    case 8: {  // deeply nested under the limit
      static const std::vector<std::size_t> depths = {64, 1000, 10000, 30000};
      const std::size_t d = std::min(pick(depths), (max_body_ - 64) / 2);
      const bool objects = chance(30);
      std::string nest;
      if (objects) {
        for (std::size_t i = 0; i < d / 5; ++i) nest += "{\"a\":";
        nest += "1" + std::string(d / 5, '}');
      } else {
        nest = std::string(d, '[') + (chance(80) ? std::string(d, ']') : "");
      }
      out = chance(50) ? nest : with(chance(50) ? prop : "zz_nested", nest);
      r.notes.push_back("nested " + std::to_string(d) + " deep");
      break;
    }
    case 9: {  // a long string at and past maxLength
      std::size_t max = 200;
      std::string key = prop;
      for (const auto& p : props)
        if (spec_.resolve(schema["properties"][p]).contains("maxLength")) {
          key = p;
          max = spec_.resolve(schema["properties"][p])["maxLength"];
        }
      const std::size_t n = chance(50) ? max + below(2) : max + 1 + below(30000);
      out = with(key, "\"" + std::string(n, chance(80) ? 'l' : ' ') + "\"");
      r.notes.push_back(std::to_string(n) + " characters in " + key);
      break;
    }
    case 10:  // the same key twice: the last one counts (nlohmann::json, as the server parses)
      out = with(prop, pick(numbers));
      out = out.substr(0, out.size() - 1) + "," + json(prop).dump() + ":" + pick(numbers) + "}";
      r.notes.push_back("duplicate key");
      break;
    case 11: out = pick(std::vector<std::string>{"", " ", "\r\n\t ", "\n"}); r.notes.push_back("empty body"); break;
    case 12: out = "\xef\xbb\xbf" + valid; r.notes.push_back("byte order mark"); break;
    case 13: {
      const std::size_t n = 1 + below(300);
      for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(draw() & 0xff);
      r.notes.push_back("random bytes");
      break;
    }
    case 14: {  // many members
      out = "{";
      const std::size_t n = 1 + below(3000);
      for (std::size_t i = 0; i < n; ++i) out += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
      out += "}";
      r.notes.push_back("many members");
      break;
    }
    default: out = with(prop, pick(numbers)); r.notes.push_back("odd number for " + prop); break;
  }
  return out;
}

std::string Generator::body_for(const Route& route, Request& r) {
  const std::string valid = valid_value(*route.body_schema);
  if (clean_ || chance(45)) {
    r.notes.push_back("valid body");
    return odd(15) ? "" : valid;
  }
  return mutate(valid, *route.body_schema, r);
}

// ---------------------------------------------------------------------------
// Headers, transport, expectations

void Generator::add_auth(Request& r) {
  const std::string api = kApiToken, admin = kAdminToken;
  if (clean_) {
    if (r.server == 0 || r.route_security.empty()) return;
    const bool wants_admin = r.route_security.front() == "adminToken";
    r.auth = wants_admin ? Auth::Admin : Auth::Api;
    r.headers.emplace_back("Authorization", "Bearer " + (wants_admin ? admin : api));
    return;
  }
  const int roll = static_cast<int>(below(100));
  std::string header;
  Auth auth = Auth::None;
  const bool tokens = r.server == 1;
  if (roll < (tokens ? 25 : 85)) {
    return;
  } else if (roll < (tokens ? 60 : 90)) {
    auth = Auth::Api;
    header = "Bearer " + api;
  } else if (roll < (tokens ? 80 : 94)) {
    auth = Auth::Admin;
    header = "Bearer " + admin;
  } else {
    auth = Auth::Junk;
    static const std::vector<std::string> junk = {
        "Bearer", "Bearer ", "bearer " + api, "BEARER " + admin, "Basic Zm9vOmJhcg==", "Bearer " + api + "x",
        "Bearer " + api.substr(0, api.size() - 1), "Bearer  " + api, "Token " + api, api, "Bearer " + admin + api,
        "Bearer " + std::string(5000, 'A'), "Bearer " + api.substr(1), "Bearer %00", "Bearer \xff\xfe"};
    header = pick(junk);
  }
  r.auth = auth;
  r.headers.emplace_back("Authorization", header);
}

// cpp-httplib 0.11 does not answer a client that has half-closed its side,
// so only requests that cannot be completed are half-closed (to end them at
// once instead of at the server's read timeout); no answer is right for them.
// Bytes the server will not take as this request's body stay on a kept-alive
// connection: closing with unread data would reset it before the answer is read.
void Generator::make_raw(Request& r, int port) {
  std::string version = "HTTP/1.1";
  if (odd(8)) version = pick(std::vector<std::string>{"HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/1", "HTTP/1.1x", "", "http/1.1", "HTTP/0.9"});
  const std::string eol = odd(5) ? "\n" : "\r\n";
  std::string head = r.method + " " + r.target + (version.empty() ? "" : " " + version) + eol;
  if (!odd(5)) head += "Host: 127.0.0.1:" + std::to_string(port) + eol;
  for (const auto& [k, v] : r.headers) head += k + ": " + v + eol;
  if (odd(5)) {
    head += "Expect: 100-continue" + eol;
    r.notes.push_back("Expect: 100-continue");
  }
  if (odd(5)) {
    switch (below(7)) {
      case 0: head += "NoColonHere" + eol; break;
      case 1: head += ": empty-name" + eol; break;
      case 2: head += "X-Long: " + std::string(9000, 'h') + eol; break;
      case 3: head += std::string("X-Nul: a\0b", 10) + eol; break;
      case 4: head += " folded continuation" + eol; break;
      case 5: for (int i = 0; i < 300; ++i) head += "X-N" + std::to_string(i) + ": v" + eol; break;
      default: head += "Content-Type : text/plain" + eol; break;
    }
    r.notes.push_back("odd header line");
  }

  const std::string body = r.body;
  // cpp-httplib reads chunked bodies only where it expects one; elsewhere
  // the chunks are bytes after the request (and its answer stands).
  const bool reads_body = r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
  bool leftover = false;  // bytes after what the server takes as this request
  std::string framing, payload = body;
  const int roll = clean_ ? 50 : static_cast<int>(below(100));
  if (body.empty() && roll < 40) {
    if (chance(50)) framing = "Content-Length: 0" + eol;
  } else if (roll < 70) {
    framing = "Content-Length: " + std::to_string(body.size()) + eol;
  } else if (roll < 76) {
    // Without Content-Length (or chunks) a request has no body (RFC 9112):
    // the bytes after the head are the next request.
    r.notes.push_back("no Content-Length");
    r.body.clear();
    leftover = !body.empty();
  } else if (roll < 84) {
    static const std::vector<std::string> bad = {"abc", "12abc", "+5", "0x10", "1.5", "-1", "1 2", "5,6", "\xff", "1e3"};
    const std::string value = pick(bad);
    framing = "Content-Length: " + value + eol;
    r.notes.push_back("bad Content-Length");
    r.reject_reasons.push_back("Content-Length " + escape(value, 40) + " is not a number");
    // Framing that cannot be trusted is refused at once (RFC 9112): an
    // answer is due even when a lax reading would wait for more bytes.
    leftover = true;
  } else if (roll < 88) {
    framing = "Content-Length: " + std::to_string(body.size()) + eol + "Content-Length: " +
              std::to_string(body.size() + 1 + below(10)) + eol;
    r.notes.push_back("two Content-Length headers");
    r.reject_reasons.push_back("two different Content-Length values");
  } else if (roll < 92) {
    std::string declared = std::to_string(body.size() + 1 + below(1000));
    if (chance(30)) declared = chance(50) ? std::to_string(max_body_ + 1 + below(1 << 30)) : "99999999999999999999999";
    framing = "Content-Length: " + declared + eol;
    r.notes.push_back("Content-Length larger than the body");
    if (declared.size() > 18 || std::stoull(declared) > max_body_) {
      // Refused from the header alone: an answer is due without the body.
      r.reject_reasons.push_back("a declared body larger than --max-body-bytes");
      leftover = true;
    } else {
      r.incomplete = true;
      r.half_close = true;
    }
  } else if (roll < 95 && !body.empty()) {
    const std::size_t cut = below(body.size());
    framing = "Content-Length: " + std::to_string(cut) + eol;
    r.body = body.substr(0, cut);
    leftover = true;
    r.notes.push_back("Content-Length smaller than the body");
  } else {
    framing = "Transfer-Encoding: chunked" + eol;
    payload.clear();
    static const char* hex = "0123456789abcdef";
    auto hexsize = [&](std::size_t n) {
      std::string h;
      do {
        h.insert(h.begin(), hex[n % 16]);
        n /= 16;
      } while (n);
      return h;
    };
    for (std::size_t at = 0; at < body.size();) {
      const std::size_t n = std::min(body.size() - at, 1 + below(4096));
      payload += hexsize(n) + (chance(5) ? ";ext=1" : "") + "\r\n" + body.substr(at, n) + "\r\n";
      at += n;
    }
    if (!chance(40)) {
      payload += "0\r\n\r\n";
      r.notes.push_back("chunked body");
    } else {
      switch (below(4)) {
        case 0:
          payload = "zz\r\n" + payload + "0\r\n\r\n";
          if (reads_body) r.reject_reasons.push_back("a chunk size that is not hex");
          leftover = true;
          break;
        case 1:
          payload = "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n";
          if (reads_body) r.reject_reasons.push_back("a chunk size that overflows");
          leftover = true;
          break;
        case 2: payload += "10\r\nshort\r\n"; r.incomplete = r.half_close = true; break;
        default: r.incomplete = r.half_close = true; break;  // no last chunk
      }
      r.notes.push_back("broken chunked body");
    }
  }
  if (eol == "\n" && r.target.size() > 8000) {
    // Past its 8 KiB limit on the target, cpp-httplib reads the headers
    // before answering 414, and it knows no end of a head without CR: it
    // waits for its read timeout. (Nothing of ours runs before that.)
    r.incomplete = true;
    r.half_close = true;
  }
  if (version != "HTTP/1.0") {
    const bool close = !leftover && !r.half_close && chance(70);
    head += std::string("Connection: ") + (close ? "close" : "keep-alive") + eol;
  }
  r.bytes = head + framing + eol + payload;
}

void Generator::judge(Request& r, const Known& known) {
  auto reject = [&](const std::string& why) { r.reject_reasons.push_back(why); };
  if (!kHttpMethods.count(r.method)) reject("the method " + escape(r.method, 40) + " is not an HTTP method");
  if (r.target.empty() || r.target[0] != '/') reject("the target is not an origin-form path");
  const auto qmark = r.target.find('?');
  const std::string path = decode_path(r.target.substr(0, qmark));
  const std::string query = qmark == std::string::npos ? "" : r.target.substr(qmark + 1);
  const std::string method = r.method == "HEAD" ? "GET" : r.method;

  std::vector<std::string> m;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].method == method && routes_[i].matches(path, m)) {
      r.route = static_cast<int>(i);
      r.head = r.method == "HEAD";
      break;
    }
  }
  if (r.body.size() > max_body_) reject("the body is larger than --max-body-bytes");
  if (r.route < 0) {
    reject("no route serves " + r.method + " " + escape(path, 80));
  } else {
    const Route& route = routes_[static_cast<std::size_t>(r.route)];
    for (std::size_t k = 0; k < route.path_params.size() && k < m.size(); ++k) {
      const std::string value = m[k];
      const json& schema = spec_.schema_of(route.path_params[k]);
      bool exists = false;
      if (schema.value("type", "") == "integer") {
        if (auto id = decimal_id(value)) {
          exists = std::count(known.instance_ids.begin(), known.instance_ids.end(), *id) ||
                   std::count(known.job_ids.begin(), known.job_ids.end(), *id);
        }
      } else {
        exists = std::count(known.allocation_ids.begin(), known.allocation_ids.end(), value) ||
                 std::count(known.docs_files.begin(), known.docs_files.end(), value);
      }
      if (!exists) reject("no record or file is named " + escape(value, 60));
    }
    for (const auto& p : route.query_params) {
      std::vector<std::string> values;
      for (const auto& [k, v] : parse_query(query))
        if (k == p.value("name", "")) values.push_back(v);
      if (values.size() == 1 && values[0].find('\x01') == std::string::npos &&
          !spec_.validate(query_value(values[0], spec_.schema_of(p)), spec_.schema_of(p)).empty())
        reject("the query parameter " + p.value("name", "") + "=" + escape(values[0], 40) + " is not allowed");
    }
    if (r.method == route.method && route.body_schema) {
      const bool blank = r.body.find_first_not_of(" \t\r\n") == std::string::npos;
      if (blank) {
        if (route.body_required) reject("the body is required");
      } else {
        json parsed = json::parse(r.body, nullptr, false);
        if (parsed.is_discarded()) reject("the body is not valid JSON");
        else if (auto problems = spec_.validate(parsed, *route.body_schema); !problems.empty())
          reject("the body does not match the schema: " + problems.front());
      }
    }
    if (r.server == 1 && !route.security.empty()) {
      const bool api = std::count(route.security.begin(), route.security.end(), "apiToken") > 0;
      const bool admin = std::count(route.security.begin(), route.security.end(), "adminToken") > 0;
      if (!((api && r.auth == Auth::Api) || (admin && r.auth == Auth::Admin))) reject("no valid token for the route");
    }
  }
  if (!r.reject_reasons.empty()) r.expect = Expect::Reject;
}

Request Generator::next(const Known& known, const std::array<int, 2>& ports) {
  Request r;
  clean_ = false;
  const std::size_t ri = below(routes_.size());
  const Route& route = routes_[ri];
  r.server = chance(30) ? 1 : 0;
  clean_ = chance(15);
  if (clean_) r.notes.push_back("clean");

  static const std::vector<std::string> odd_methods = {"PUT", "PATCH", "OPTIONS", "HEAD", "DELETE", "GET", "POST",
                                               "TRACE", "CONNECT", "FOO", "get", "Get", "G\x01T", "",
                                               "GET /x", "PRI", "PROPFIND", "M-SEARCH", std::string(300, 'X')};
  const int m = static_cast<int>(below(100));
  if (clean_ || m < 80) r.method = route.method;
  else if (m < 85 && route.method == "GET") r.method = "HEAD";
  else {
    r.method = pick(odd_methods);
    r.notes.push_back("odd method");
  }

  std::string path;
  std::size_t param = 0;
  for (std::size_t i = 0; i < route.path_template.size(); ++i) {
    if (route.path_template.compare(i, 2, "{}") == 0) {
      path += param < route.path_params.size() ? path_value(route.path_params[param], known, r) : "0";
      ++param;
      ++i;
    } else {
      path += route.path_template[i];
    }
  }
  if (odd(15)) path = path_trick(path, r);
  r.target = path + query(route, r);

  if (r.method == route.method && route.body_schema) {
    r.body = body_for(route, r);
  } else if (odd(12)) {
    r.body = pick(std::vector<std::string>{"{}", "junk", "{\"digits\":5}", std::string(2000, 'b'), "\0\0"});
    r.notes.push_back("a body the route does not take");
  }
  if (!r.body.empty() || chance(10)) {
    static const std::vector<std::string> types = {
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
        "multipart/form-data", "application/json; charset=latin1", "", "application/problem+json", "*/*"};
    r.headers.emplace_back("Content-Type", !odd(15) ? "application/json" : pick(types));
  }
  r.route_security = route.security;
  add_auth(r);
  if (odd(4)) {
    r.headers.emplace_back("Range", pick(std::vector<std::string>{"bytes=0-0", "bytes=5-2", "bytes=-1", "bytes=0-1,3-4",
                                                                    "bytes=99999999999999999999-", "bytes=x", "lines=1-2"}));
    r.has_range = true;
    r.notes.push_back("Range header");
  }

  const bool client_can = r.method == "GET" || r.method == "POST" || r.method == "DELETE" ||
                          r.method == "PUT" || r.method == "PATCH" || r.method == "OPTIONS" ||
                          r.method == "HEAD";
  const bool plain_target =
      std::all_of(r.target.begin(), r.target.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  bool plain_headers = true;
  for (const auto& [k, v] : r.headers)
    plain_headers = plain_headers && std::all_of(v.begin(), v.end(), [](char c) {
                      return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
                    });
  r.raw = !client_can || !plain_target || !plain_headers || chance(30);
  if (r.raw) make_raw(r, ports[static_cast<std::size_t>(r.server)]);
  judge(r, known);
  return r;
}

}  // namespace warmpool::fuzz
