// Log lines: JSON that always parses, the request id on every line of a
// request, also on the lane thread that does the request's work.
#include <catch2/catch.hpp>

#include <future>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "base/logging.hpp"
#include "queue/lanes.hpp"

using namespace warmpool;
using nlohmann::json;

namespace {

struct CapturedLog {
  explicit CapturedLog(logging::Format format)
      : sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out)), logger("test", sink) {
    sink->set_formatter(logging::make_formatter(format));
  }
  std::vector<std::string> lines() {
    std::vector<std::string> all;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) all.push_back(line);
    return all;
  }
  std::ostringstream out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink;
  spdlog::logger logger;
};

}  // namespace

TEST_CASE("JSON lines parse whatever the message holds, and carry the request id") {
  CapturedLog log(logging::Format::Json);
  log.logger.warn("engine said \"no\"\n\\ {}", std::string("bad \xff byte"));
  {
    logging::RequestScope scope("req-42");
    log.logger.info("inside");
  }
  log.logger.info("after");
  const auto lines = log.lines();
  REQUIRE(lines.size() == 3);  // a newline inside a message stays inside its line

  const json first = json::parse(lines[0]);
  CHECK(first["level"] == "warning");
  CHECK(first["msg"].get<std::string>().rfind("engine said \"no\"\n\\ bad ", 0) == 0);
  CHECK_FALSE(first.contains("request_id"));
  CHECK(first["time"].get<std::string>().size() == 24);  // 2026-12-01T18:58:07.123Z
  CHECK(json::parse(lines[1])["request_id"] == "req-42");
  CHECK_FALSE(json::parse(lines[2]).contains("request_id"));
}

TEST_CASE("text lines name the request id in brackets and stay one line each") {
  CapturedLog log(logging::Format::Text);
  logging::RequestScope scope("abc");
  log.logger.info("hello\nfake line");
  const auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(" info [abc] hello?fake line") != std::string::npos);
}

TEST_CASE("a lane task runs with the request id of the thread that submitted it") {
  Lanes lanes({.high_threads = 1, .normal_threads = 1, .high_capacity = 8, .normal_capacity = 8});
  std::promise<std::string> seen_high, seen_normal;
  {
    logging::RequestScope scope("from-request");
    lanes.submit(Lane::High, std::chrono::steady_clock::now() + std::chrono::seconds(5),
                 [&] { seen_high.set_value(logging::request_id()); });
  }
  lanes.submit(Lane::Normal, std::chrono::steady_clock::now() + std::chrono::seconds(5),
               [&] { seen_normal.set_value(logging::request_id()); });
  CHECK(seen_high.get_future().get() == "from-request");
  CHECK(seen_normal.get_future().get().empty());
  lanes.stop();
}

TEST_CASE("request ids from clients are kept only when short and plain") {
  CHECK(logging::acceptable_request_id("3f2a-b.c_d:e"));
  CHECK(logging::acceptable_request_id(std::string(64, 'a')));
  CHECK_FALSE(logging::acceptable_request_id(""));
  CHECK_FALSE(logging::acceptable_request_id(std::string(65, 'a')));
  CHECK_FALSE(logging::acceptable_request_id("a b"));
  CHECK_FALSE(logging::acceptable_request_id("a\"}"));
  CHECK_FALSE(logging::acceptable_request_id("a\nb"));
  const std::string fresh = logging::new_request_id();
  CHECK(fresh.size() == 16);
  CHECK(logging::acceptable_request_id(fresh));
  CHECK(fresh != logging::new_request_id());
}

TEST_CASE("log formats are json or text") {
  CHECK(logging::format_from("json") == logging::Format::Json);
  CHECK(logging::format_from("text") == logging::Format::Text);
  CHECK_THROWS_AS(logging::format_from("xml"), std::invalid_argument);
}
