// The bounds the HTTP server keeps against slow and greedy clients, and the
// pure decisions made with them (no sockets here; see connection_guard.hpp
// for where they are applied).
//
// A connection holds no server thread while its request arrives: requests
// are read into a buffer by one waiting-room thread and handed to a thread
// only once complete. These decisions say when a buffered request is
// complete, whether a new connection is let in, and which requests may use
// the threads kept in reserve.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace warmpool::api {

struct HttpLimits {
  std::size_t threads = 256;          // serve complete requests
  std::size_t reserved_threads = 32;  // of those, only for priority requests
  std::size_t max_connections = 2048;  // open at once, in all
  // Open at once from one address (0: no cap). 127.0.0.1 and ::1, the
  // host's own clients (a proxy in front, tools), are not capped.
  std::size_t max_per_client = 256;
  // From a request's first byte (or a new connection's accept) to its last.
  std::chrono::milliseconds request_read_timeout{5000};
  // An open connection with no request under way is closed after this.
  std::chrono::milliseconds keep_alive_timeout{5000};
  std::chrono::milliseconds write_timeout{10000};  // each wait to send part of an answer
  std::size_t max_header_bytes = 32 * 1024;  // request line and headers together
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t keep_alive_max_count = 100;  // requests per connection
};

// Why a connection was refused or cut; the label of
// warmpool_http_rejections_total.
enum class Rejection { TooManyConnections, TooManyFromClient, ReadTimeout, HeaderTooLarge };
const char* to_string(Rejection reason);

// What the bytes read so far of a connection hold.
struct RequestScan {
  enum Kind { Incomplete, Complete, HeaderTooLarge } kind = Incomplete;
  // Complete: bytes of the request (headers, and the body its
  // Content-Length gives when that is a sane number within the limit).
  std::size_t length = 0;
  // A request line that does not end in CRLF: the server answers 400 at
  // once, so the request is complete with what has come (length: all of
  // it), and the connection is closed after the answer.
  bool malformed = false;
  std::string method;  // from the request line, once the headers are in
  std::string path;    // the target without its query
  // An "Expect: 100-continue" line (offset and length, with its CRLF) of a
  // request whose body is awaited: the client sends the body only after an
  // interim 100, which the waiting room sends, taking the line out.
  std::size_t expect_at = 0;
  std::size_t expect_length = 0;
};

// Looks at the front of `buffered` (a request, perhaps more after it).
// Bodies that the server refuses (chunked, a bad or too large
// Content-Length) are not waited for: the request is complete with its
// headers, and the server answers it with an error without reading on.
RequestScan scan_request(std::string_view buffered, const HttpLimits& limits);

// Whether a new connection from `client` (an address), which has
// `from_client` connections open (of `open` in all), is let in; the reason
// when not.
struct Admission {
  bool admitted = true;
  Rejection reason = Rejection::TooManyConnections;
};
Admission admit(std::size_t open, const std::string& client, std::size_t from_client, const HttpLimits& limits);

// Whether a thread may start on a request, with `busy_ordinary` threads
// serving ordinary (not priority) requests now. Priority requests take any
// free thread; ordinary ones leave `reserved_threads` free.
bool may_start(bool priority, std::size_t busy_ordinary, const HttpLimits& limits);

}  // namespace warmpool::api
