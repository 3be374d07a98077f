// Route patterns (the regexes given to api::Server::route) and OpenAPI path
// templates, both reduced to one comparable form where each path parameter
// is "{}". Only the patterns in use are accepted: literal characters
// [A-Za-z0-9/_-], an escaped dot "\.", and capture groups ([^/]+) or (\d+)
// standing for one parameter. Anything else throws, so a new kind of pattern
// cannot pass the contract test unmapped.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace warmpool::test {

inline std::string route_to_template(const std::string& pattern) {
  std::string out;
  std::string_view rest = pattern;
  auto fail = [&] { throw std::invalid_argument("route pattern not mapped to an OpenAPI path: " + pattern); };
  while (!rest.empty()) {
    if (rest.starts_with("([^/]+)")) {
      out += "{}";
      rest.remove_prefix(7);
    } else if (rest.starts_with(R"((\d+))")) {
      out += "{}";
      rest.remove_prefix(5);
    } else if (rest.starts_with(R"(\.)")) {
      out += '.';
      rest.remove_prefix(2);
    } else {
      const char c = rest.front();
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         c == '/' || c == '_' || c == '-';
      if (!plain) fail();
      out += c;
      rest.remove_prefix(1);
    }
  }
  if (out.empty() || out.front() != '/') fail();
  return out;
}

inline std::string openapi_to_template(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      const auto end = path.find('}', i);
      if (end == std::string::npos) throw std::invalid_argument("unclosed parameter in " + path);
      out += "{}";
      i = end;
    } else {
      out += path[i];
    }
  }
  return out;
}

}  // namespace warmpool::test
