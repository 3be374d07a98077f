// Sends a fuzz request and judges the answer against the contract.
//
// What an answer may be:
//   - a 4xx, with a JSON body (problem+json, or the pi routes' documented
//     shapes); 401 only where a token is needed and missing, with
//     WWW-Authenticate; 429 with Retry-After;
//   - a 2xx the operation documents, for a request that is not bad input,
//     whose body and required headers match the spec (HEAD: no body; 206
//     only to a Range request);
//   - 503 in two documented cases only: POST /allocations when no instance
//     can be had before the deadline or the engine is down (problem+json,
//     Retry-After), and GET /health while the engine does not answer (the
//     Health body, "degraded"). The fuzz world's database never fails, so a
//     503 anywhere else is a defect, and so is every 500.
//   - no answer at all only for bytes that are not a whole request.
#pragma once

#include <string>
#include <vector>

#include "fuzz/generator.hpp"
#include "support/raw_http.hpp"
#include "fuzz/spec.hpp"

namespace httplib {
class Client;
}

namespace warmpool::fuzz {

using Answer = test::RawAnswer;

// Sends `r` to 127.0.0.1:port: raw bytes over a socket, or through `client`.
Answer send(const Request& r, int port, httplib::Client& client);

struct OracleContext {
  bool engine_down = false;  // the engine was unreachable recently (/health caches for a second)
};

// What is wrong with `answer` to `r`; empty when nothing is.
std::vector<std::string> judge_answer(const Request& r, const Answer& answer, const std::vector<Route>& routes,
                                      const Spec& spec, const OracleContext& context);

std::string describe(const Answer& answer, std::size_t body_limit = 400);

}  // namespace warmpool::fuzz
