// Requests at the edges of HTTP that the fuzz test (tests/fuzz) found
// mishandled: bytes that are not UTF-8 in a path, Range headers, and bodies
// whose framing cpp-httplib 0.11 would misread. Each case was a defect; the
// manager here is an App with no engine, which is enough: none of these
// requests should reach the pool.
#include <catch2/catch.hpp>

#include <pthread.h>

#include <chrono>
#include <filesystem>
#include <random>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/app.hpp"
#include "support/raw_http.hpp"

using namespace warmpool;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct OfflineManager {
  explicit OfflineManager(const std::string& tokens = "")
      : dir(fs::temp_directory_path() / ("warmpool-edges-" + std::to_string(std::random_device{}() % 1'000'000))),
        app(config(dir, tokens)) {
    port = app.serve_in_background();
  }
  ~OfflineManager() {
    app.stop();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  static Config config(const fs::path& dir, const std::string& tokens) {
    Config c;
    c.api_token = c.admin_token = tokens;
    c.data_dir = dir.string();
    c.engine = "unix://" + (dir / "no-engine.sock").string();
    c.manager_id = "test-edges";
    c.insecure = true;  // open unless `tokens` are given
    c.min_idle = 0;
    c.max_body_bytes = 1024;
    return c;
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    return c;
  }
  // Raw bytes, one answer. The deadline only bounds a hang.
  test::RawAnswer raw(const std::string& bytes) const {
    return test::raw_exchange(port, bytes, false, false, std::chrono::seconds(30));
  }

  fs::path dir;
  App app;
  int port = 0;
};

json body_of(const test::RawAnswer& a) { return json::parse(a.body, nullptr, false); }

}  // namespace

TEST_CASE("a path with bytes that are not UTF-8 gets a 404 that is JSON, and the manager keeps serving") {
  // These ids went into the problem's detail; dumping it threw, which in the
  // error handler (no route) ended the process.
  OfflineManager m;
  auto c = m.client();
  for (const char* path : {"/allocations/%ff", "/no-such-route%ff", "/instances/%c3", "/static/%fe%ff.js"}) {
    INFO(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    const json body = json::parse(r->body, nullptr, false);
    REQUIRE_FALSE(body.is_discarded());
    CHECK(body["detail"].get<std::string>().find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
  }
  auto alive = c.Get("/openapi.json");
  REQUIRE(alive);
}

TEST_CASE("a Range header is ignored: every answer is whole, with its own status") {
  // cpp-httplib cut JSON and error bodies to the range and kept the status.
  OfflineManager m;
  auto c = m.client();
  for (const char* range : {"bytes=0-0", "bytes=-1", "bytes=1-2,4-5"}) {
    INFO(range);
    auto list = c.Get("/allocations", {{"Range", range}});
    REQUIRE(list);
    CHECK(list->status == 200);
    CHECK(list->body == "[]");
    CHECK_FALSE(list->has_header("Content-Range"));
    auto missing = c.Get("/allocations/nope", {{"Range", range}});
    REQUIRE(missing);
    CHECK(missing->status == 404);
    CHECK_FALSE(json::parse(missing->body, nullptr, false).is_discarded());
  }
}

TEST_CASE("an invalid Content-Length is refused with 400, not read as a number") {
  // cpp-httplib read "abc" as 0 and "12abc" as 12, and took the first of
  // two: the handler ran on a body the client did not send.
  OfflineManager m;
  const std::string head = "POST /allocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  for (const std::string length : {"Content-Length: abc", "Content-Length: 2x", "Content-Length: +2",
                                   "Content-Length: 2\r\nContent-Length: 3"}) {
    INFO(length);
    const auto a = m.raw(head + length + "\r\nConnection: keep-alive\r\n\r\n{}");
    REQUIRE(a.answered);
    CHECK(a.status == 400);
    CHECK(body_of(a)["detail"] == "Content-Length must be one decimal number of bytes");
    CHECK(a.header("connection") == "close");
  }
  CHECK(m.app.store.allocations(Show::All).empty());
}

TEST_CASE("a POST without Content-Length has an empty body and is answered at once") {
  // RFC 9112 section 6.3: neither Content-Length nor Transfer-Encoding means
  // no body. cpp-httplib read one to the end of the connection (the request
  // waited for the read timeout); then the manager answered 411.
  OfflineManager m;
  const auto started = std::chrono::steady_clock::now();
  for (const std::string framing : {"", "Content-Length: 0\r\n"}) {
    INFO("framing: " << framing);
    for (const std::string connection : {"", "Connection: keep-alive\r\n", "Connection: close\r\n"}) {
      const auto a = m.raw("POST /allocations/abc/renew HTTP/1.1\r\nHost: x\r\n" + framing + connection + "\r\n");
      REQUIRE(a.answered);
      CHECK(a.status == 404);  // the empty body was read as {} and the id looked up
      CHECK(body_of(a)["detail"] == "no allocation abc");
      CHECK(a.headers.count("connection") <= 1);
    }
  }
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));  // the read timeout is 10 s
}

TEST_CASE("a request right behind a body-less POST on a kept-alive connection is answered too") {
  OfflineManager m;
  const std::string post = "POST /allocations/abc/renew HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n";
  const std::string get = "GET /allocations HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto answers = test::raw_exchanges(m.port, {post, get}, std::chrono::seconds(5));
  REQUIRE(answers.size() == 2);
  INFO(answers[1].error);
  REQUIRE(answers[0].answered);
  CHECK(answers[0].status == 404);
  REQUIRE(answers[1].answered);
  CHECK(answers[1].status == 200);
  CHECK(answers[1].body == "[]");
}

TEST_CASE("a chunked body is refused with 411: its size had no bound") {
  // cpp-httplib applies --max-body-bytes to Content-Length only; a chunked
  // body of any size was read into memory and handled.
  OfflineManager m;
  std::string chunks;
  for (int i = 0; i < 8; ++i) chunks += "200\r\n" + std::string(512, ' ') + "\r\n";  // 4 KiB > 1 KiB
  const auto a = m.raw("POST /instances HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{  \r\n" +
                       chunks + "1\r\n}\r\n0\r\n\r\n");
  REQUIRE(a.answered);
  CHECK(a.status == 411);
  CHECK(a.headers.count("connection") == 1);
  CHECK(a.header("connection") == "close");
  CHECK(m.app.store.instances(Show::All).empty());
}

TEST_CASE("a Content-Length above --max-body-bytes gets 413 without the body being sent") {
  // cpp-httplib read (or waited for) the whole declared body first. Only
  // the head is sent here: the answer must not need the body. (The raw
  // client waits 30 s; the server's read timeout is 10 s, after which the
  // old code answered too, hence the check on the detail it did not give.)
  OfflineManager m;
  const auto a = m.raw("POST /allocations HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
  REQUIRE(a.answered);
  CHECK(a.status == 413);
  // A hand-out's limit leaves room for its init files (--max-init-bytes).
  CHECK(body_of(a)["detail"] ==
        "the body is larger than the limit (" + std::to_string(m.app.config.allocation_body_bytes()) + " bytes)");
  CHECK(a.header("connection") == "close");
}

TEST_CASE("a body on a GET is refused with 400: it was left unread in the connection") {
  // cpp-httplib never reads a GET's body: its bytes were parsed as the next
  // request, or a close with them unread reset the connection and cut a
  // long answer short.
  OfflineManager m;
  const std::string smuggled = "DELETE /allocations/x HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto a = m.raw("GET /openapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                       std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  REQUIRE(a.answered);
  CHECK(a.status == 400);
  CHECK(body_of(a)["detail"] == "a GET takes no body");
  auto c = m.client();
  auto plain = c.Get("/openapi.json", {{"Content-Length", "0"}});
  REQUIRE(plain);
  CHECK(plain->status != 400);  // an empty body is no body
}

TEST_CASE("a path longer than 1 KiB gets 414 before any route pattern is tried") {
  // Matching a route's std::regex recurses per character: an 8 KiB id took
  // 2 to 4 MiB of stack. With 1 MiB thread stacks (less than glibc's 8 MiB
  // default, more than musl's 128 KiB) the manager crashed; now it answers.
  pthread_attr_t small, saved;
  REQUIRE(pthread_getattr_default_np(&saved) == 0);
  pthread_attr_init(&small);
  pthread_attr_setstacksize(&small, 1 << 20);
  REQUIRE(pthread_setattr_default_np(&small) == 0);
  for (const char* tokens : {"", "secret"}) {  // the token check matches route patterns too
    INFO("tokens: " << tokens);
    OfflineManager m(tokens);  // its server threads start with the small stacks
    auto c = m.client();
    c.set_bearer_token_auth("secret");
    for (const std::string& path : {"/allocations/" + std::string(8000, 'a'), "/pi_job/" + std::string(1100, '7')}) {
      auto r = c.Delete(path.c_str());
      REQUIRE(r);
      CHECK(r->status == 414);
    }
    auto edge = c.Get(("/allocations/" + std::string(1024 - 13, 'a')).c_str());
    REQUIRE(edge);
    CHECK(edge->status == 404);  // at the limit: an ordinary unknown id
  }
  REQUIRE(pthread_setattr_default_np(&saved) == 0);
  pthread_attr_destroy(&small);
  pthread_attr_destroy(&saved);
}
