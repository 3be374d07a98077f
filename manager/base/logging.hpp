// Log lines (spdlog) as JSON objects, one per line, or as plain text, and the
// request id that ties the lines of one HTTP request together.
//
// The request id belongs to the thread doing the work: the HTTP server sets
// it for the thread serving a request, and Lanes carries it to the thread
// that runs a task submitted on the request's behalf. Every line logged
// meanwhile carries it ("request_id" in JSON).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

namespace warmpool::logging {

enum class Format { Json, Text };

// "json" or "text"; throws std::invalid_argument otherwise.
Format format_from(std::string_view name);

// A formatter for spdlog sinks: one line per message, in `format`.
std::unique_ptr<spdlog::formatter> make_formatter(Format format);

// Installs our formatter on the default logger and sets its level ("trace",
// "debug", "info", "warn", "error", "off"). Not thread-safe: call at start-up.
void setup(Format format, const std::string& level);

// The calling thread's request id ("" when it works for no request).
const std::string& request_id();
void set_request_id(std::string id);

// Sets the calling thread's request id for its lifetime, then restores the
// previous one.
class RequestScope {
 public:
  explicit RequestScope(std::string id);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  std::string previous_;
};

// A new random id: 16 hex digits.
std::string new_request_id();
// An id a client sent (X-Request-Id) is kept when it is 1 to 64 characters
// of [A-Za-z0-9._:-]; anything else could forge or break log lines.
bool acceptable_request_id(std::string_view id);

}  // namespace warmpool::logging
