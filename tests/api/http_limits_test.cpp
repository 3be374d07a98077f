// The HTTP bounds' decisions on plain data: when a buffered request is
// whole, who is let in, and who may take the reserved threads.
#include <catch2/catch.hpp>

#include <string>

#include "api/http_limits.hpp"

using namespace warmpool::api;

namespace {
HttpLimits small_limits() {
  HttpLimits l;
  l.threads = 8;
  l.reserved_threads = 2;
  l.max_connections = 10;
  l.max_per_client = 3;
  l.max_header_bytes = 256;
  l.max_body_bytes = 100;
  return l;
}
}  // namespace

TEST_CASE("a request is whole once its headers and the body its Content-Length gives are in") {
  const HttpLimits l = small_limits();
  const std::string head = "POST /allocations?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\n";
  CHECK(scan_request("", l).kind == RequestScan::Incomplete);
  CHECK(scan_request("POST /allocations HTTP/1.1\r\nHost: a\r\n", l).kind == RequestScan::Incomplete);
  CHECK(scan_request(head + "abc", l).kind == RequestScan::Incomplete);
  const RequestScan whole = scan_request(head + "abcde" + "GET / HTTP/1.1\r\n", l);
  CHECK(whole.kind == RequestScan::Complete);
  CHECK(whole.length == head.size() + 5);  // the next request's bytes are not this one's
  CHECK(whole.method == "POST");
  CHECK(whole.path == "/allocations");
  const RequestScan get = scan_request("GET /health HTTP/1.1\r\n\r\n", l);
  CHECK(get.kind == RequestScan::Complete);
  CHECK(get.path == "/health");
}

TEST_CASE("a body the server refuses unread is not waited for") {
  const HttpLimits l = small_limits();
  for (const std::string headers : {"Content-Length: 101\r\n",  // above the limit
                                    "Content-Length: 12abc\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n",
                                    "Transfer-Encoding: chunked\r\n", "Content-Length: 99999999999999999999\r\n"}) {
    INFO(headers);
    const std::string req = "POST /allocations HTTP/1.1\r\n" + headers + "\r\n";
    const RequestScan scan = scan_request(req, l);
    CHECK(scan.kind == RequestScan::Complete);
    CHECK(scan.length == req.size());
  }
}

TEST_CASE("headers past the limit are refused whether or not they end") {
  const HttpLimits l = small_limits();
  CHECK(scan_request(std::string(256, 'a'), l).kind == RequestScan::HeaderTooLarge);
  CHECK(scan_request(std::string(255, 'a'), l).kind == RequestScan::Incomplete);
  const std::string long_but_ended = "GET / HTTP/1.1\r\nX: " + std::string(300, 'b') + "\r\n\r\n";
  CHECK(scan_request(long_but_ended, l).kind == RequestScan::HeaderTooLarge);
}

TEST_CASE("Expect: 100-continue is found on a request whose body is awaited, and only then") {
  const HttpLimits l = small_limits();
  const std::string req = "POST /a HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  const RequestScan scan = scan_request(req, l);
  CHECK(scan.kind == RequestScan::Incomplete);
  REQUIRE(scan.expect_length > 0);
  CHECK(req.substr(scan.expect_at, scan.expect_length) == "Expect: 100-Continue\r\n");
  const RequestScan no_body = scan_request("POST /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", l);
  CHECK(no_body.kind == RequestScan::Complete);
  CHECK(no_body.expect_length == 0);
}

TEST_CASE("a connection is let in below both caps, and refused with the cap it meets") {
  const HttpLimits l = small_limits();
  const std::string client = "192.0.2.7";
  CHECK(admit(0, client, 0, l).admitted);
  CHECK(admit(9, client, 2, l).admitted);
  CHECK(admit(10, client, 0, l).reason == Rejection::TooManyConnections);
  CHECK_FALSE(admit(10, client, 0, l).admitted);
  const Admission per_client = admit(5, client, 3, l);
  CHECK_FALSE(per_client.admitted);
  CHECK(per_client.reason == Rejection::TooManyFromClient);
  HttpLimits uncapped = l;
  uncapped.max_per_client = 0;
  CHECK(admit(5, client, 1000, uncapped).admitted);
}

TEST_CASE("the host's own address is not capped per client, only in all") {
  const HttpLimits l = small_limits();  // 3 per client, 10 in all
  CHECK(admit(5, "127.0.0.1", 3, l).admitted);
  CHECK(admit(5, "::1", 9, l).admitted);
  CHECK_FALSE(admit(5, "127.0.0.2", 3, l).admitted);
  CHECK_FALSE(admit(10, "127.0.0.1", 3, l).admitted);
}

TEST_CASE("ordinary requests leave the reserved threads to priority ones") {
  const HttpLimits l = small_limits();  // 8 threads, 2 reserved
  CHECK(may_start(false, 5, l));
  CHECK_FALSE(may_start(false, 6, l));
  CHECK(may_start(true, 6, l));
  CHECK(may_start(true, 100, l));  // the queue decides whether a thread is free
  HttpLimits all_reserved = l;
  all_reserved.reserved_threads = 8;
  CHECK(may_start(false, 0, all_reserved));  // one thread always stays for ordinary requests
}

TEST_CASE("a request line that does not end in CRLF is complete at once, with all that came") {
  const HttpLimits l = small_limits();
  const std::string lf_only = "GET /health HTTP/1.1\nHost: x\n\n";
  const RequestScan scan = scan_request(lf_only, l);
  CHECK(scan.kind == RequestScan::Complete);
  CHECK(scan.malformed);
  CHECK(scan.length == lf_only.size());
  CHECK(scan_request("\n", l).malformed);
  CHECK(scan_request("GET /health HTTP/1.1\r", l).kind == RequestScan::Incomplete);  // the LF may follow
  CHECK_FALSE(scan_request("GET /health HTTP/1.1\r\n\r\n", l).malformed);
}
