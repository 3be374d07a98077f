// Exact bytes to a loopback HTTP server and its answer back, for requests
// that cpp-httplib's client would not send as written (it encodes paths,
// sets Content-Length, refuses odd methods). Every socket call is bounded by
// one deadline.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace warmpool::test {

struct RawAnswer {
  bool answered = false;  // a complete status line, headers and body arrived
  int status = 0;
  std::multimap<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string error;  // why there is no (complete) answer

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Connects to 127.0.0.1:port, sends `bytes`, half-closes the connection
// when `half_close` (so a server waiting for more body sees the end at
// once), and reads one answer (interim 1xx answers skipped). `head`: the
// answer has no body whatever its headers say.
RawAnswer raw_exchange(int port, const std::string& bytes, bool half_close, bool head,
                       std::chrono::milliseconds timeout);

// Sends each request on one connection once the answer to the one before
// has arrived (as a keep-alive client does), and reads the answers in order;
// stops at the first that is not complete (the last element says why).
// cpp-httplib 0.11 does not serve pipelined requests: bytes of a next
// request sent before the answer are lost with the first one's read buffer.
std::vector<RawAnswer> raw_exchanges(int port, const std::vector<std::string>& requests,
                                     std::chrono::milliseconds timeout);

}  // namespace warmpool::test
