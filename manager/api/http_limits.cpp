#include "api/http_limits.hpp"

#include <algorithm>
#include <cctype>

namespace warmpool::api {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The body length the headers give, when the server will read that body:
// one Content-Length, digits only, within the limit, and no
// Transfer-Encoding. Otherwise 0: the server refuses the request unread.
std::size_t body_to_wait_for(std::string_view headers, const HttpLimits& limits, std::size_t& expect_at,
                             std::size_t& expect_length) {
  std::size_t lengths = 0;
  std::size_t length = 0;
  bool sane = true;
  for (std::size_t start = 0; start < headers.size();) {
    std::size_t end = headers.find("\r\n", start);
    if (end == std::string_view::npos) end = headers.size();
    const std::string_view line = headers.substr(start, end - start);
    start = end + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (same_name(name, "Transfer-Encoding")) return 0;
    if (same_name(name, "Expect") && same_name(value, "100-continue")) {
      expect_at = static_cast<std::size_t>(line.data() - headers.data());
      expect_length = line.size() + 2;
    }
    if (!same_name(name, "Content-Length")) continue;
    ++lengths;
    if (value.empty() || value.size() > 19 || value.find_first_not_of("0123456789") != std::string_view::npos) {
      sane = false;
      continue;
    }
    length = std::stoull(std::string(value));
  }
  if (lengths != 1 || !sane || length > limits.max_body_bytes) return 0;
  return length;
}

}  // namespace

const char* to_string(Rejection reason) {
  switch (reason) {
    case Rejection::TooManyConnections: return "connections";
    case Rejection::TooManyFromClient: return "client_connections";
    case Rejection::ReadTimeout: return "read_timeout";
    case Rejection::HeaderTooLarge: return "header_too_large";
  }
  return "unknown";
}

RequestScan scan_request(std::string_view buffered, const HttpLimits& limits) {
  RequestScan scan;
  const std::size_t first_lf = buffered.find('\n');
  if (first_lf != std::string_view::npos && (first_lf == 0 || buffered[first_lf - 1] != '\r')) {
    scan.kind = RequestScan::Complete;
    scan.length = buffered.size();
    scan.malformed = true;
    return scan;
  }
  const std::size_t end = buffered.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > limits.max_header_bytes) {
    if (buffered.size() >= limits.max_header_bytes) scan.kind = RequestScan::HeaderTooLarge;
    return scan;
  }
  const std::size_t header_bytes = end + 4;
  const std::size_t line_end = buffered.find("\r\n");
  const std::string_view line = buffered.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  if (sp1 != std::string_view::npos) {
    scan.method = std::string(line.substr(0, sp1));
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    const std::string_view target = line.substr(sp1 + 1, sp2 == std::string_view::npos ? sp2 : sp2 - sp1 - 1);
    scan.path = std::string(target.substr(0, target.find('?')));
  }
  std::size_t expect_at = 0;
  std::size_t expect_length = 0;
  const std::size_t body =
      body_to_wait_for(buffered.substr(line_end + 2, end - line_end), limits, expect_at, expect_length);
  if (body > 0 && expect_length > 0) {
    scan.expect_at = line_end + 2 + expect_at;
    scan.expect_length = expect_length;
  }
  if (buffered.size() < header_bytes + body) return scan;
  scan.kind = RequestScan::Complete;
  scan.length = header_bytes + body;
  return scan;
}

Admission admit(std::size_t open, const std::string& client, std::size_t from_client, const HttpLimits& limits) {
  if (open >= limits.max_connections) return {false, Rejection::TooManyConnections};
  const bool this_host = client == "127.0.0.1" || client == "::1";
  if (limits.max_per_client > 0 && !this_host && from_client >= limits.max_per_client)
    return {false, Rejection::TooManyFromClient};
  return {};
}

bool may_start(bool priority, std::size_t busy_ordinary, const HttpLimits& limits) {
  if (priority) return true;
  const std::size_t ordinary = limits.threads > limits.reserved_threads ? limits.threads - limits.reserved_threads : 1;
  return busy_ordinary < ordinary;
}

}  // namespace warmpool::api
