#include <catch2/catch.hpp>

#include <cmath>

#include "base/text.hpp"
#include "client/format.hpp"

using namespace warmpool;
using namespace warmpool::client;
using nlohmann::json;

namespace {
constexpr std::int64_t kNow = 1'764'700'000'000;  // 2025-12-02T18:26:40Z

json instance(std::int64_t id, const char* state, std::int64_t created_ago_s, const json& last_error = nullptr) {
  return {{"id", id},           {"containerId", "0123456789abcdef0123"}, {"endpoint", "127.0.0.1:2000" + std::to_string(id)},
          {"state", state},     {"createdAt", iso8601(kNow - created_ago_s * 1000)},
          {"updatedAt", iso8601(kNow - 5000)}, {"deletedAt", nullptr}, {"failures", 0},
          {"restarts", 1},      {"lastError", last_error}};
}
}  // namespace

TEST_CASE("render_table aligns columns three spaces apart, with no trailing blanks") {
  CHECK(render_table({"ID", "STATE"}, {{"1", "ready"}, {"12", "paused"}}) ==
        "ID   STATE\n"
        "1    ready\n"
        "12   paused\n");
  CHECK(render_table({"A", "LONG HEADER", "C"}, {{"x", "", ""}}) == "A   LONG HEADER   C\nx\n");
}

TEST_CASE("age reads as kubectl's AGE; shorten cuts with an ellipsis") {
  CHECK(age(kNow, kNow - 45'000) == "45s");
  CHECK(age(kNow, kNow - 119'000) == "119s");
  CHECK(age(kNow, kNow - 12 * 60'000) == "12m");
  CHECK(age(kNow, kNow - 3 * 3600'000) == "3h");
  CHECK(age(kNow, kNow - 3 * 86400'000LL) == "3d");
  CHECK(age(kNow, kNow + 5000) == "0s");
  CHECK(age(kNow, std::nullopt) == "-");
  CHECK(shorten("abcdef", 6) == "abcdef");
  CHECK(shorten("abcdefg", 6) == "abc...");
}

TEST_CASE("output_from knows table, wide, json and yaml") {
  CHECK(output_from("") == Output::Table);
  CHECK(output_from("wide") == Output::Wide);
  CHECK(output_from("yaml") == Output::Yaml);
  CHECK_FALSE(output_from("xml"));
}

TEST_CASE("instances_table: the useful columns, the current allocation, errors shortened") {
  const json instances = json::array({instance(1, "allocated", 30), instance(2, "error", 7200,
                                      "health check: ping 127.0.0.1:20002: Connection refused after 500 ms")});
  const json allocations = json::array({{{"id", "a3f9c2d1e8b7a6f5a3f9c2d1e8b7a6f5"}, {"instance", 1}, {"deletedAt", nullptr}}});
  CHECK(instances_table(instances, allocations, kNow, false) ==
        "ID   STATE       ENDPOINT          ALLOCATION   AGE   RESTARTS   LAST ERROR\n"
        "1    allocated   127.0.0.1:20001   a3f9c...     30s   1          -\n"
        "2    error       127.0.0.1:20002   -            2h    1          health check: ping 127.0.0.1:20002: C...\n");
  const std::string wide = instances_table(instances, allocations, kNow, true);
  CHECK(wide.find("a3f9c2d1e8b7a6f5a3f9c2d1e8b7a6f5") != std::string::npos);
  CHECK(wide.find("Connection refused after 500 ms") != std::string::npos);
  CHECK(wide.find("CONTAINER") != std::string::npos);
  CHECK(wide.find("012345678...") != std::string::npos);
}

TEST_CASE("engines_table: name, state, instances, capacity (none: -), endpoint, and why one is down") {
  const json engines = json::array(
      {{{"name", "a"}, {"endpoint", "unix:///run/docker.sock"}, {"state", "up"}, {"instances", 8}, {"capacity", 0}, {"weight", 1}},
       {{"name", "b"}, {"endpoint", "tcp://10.0.0.2:2376"}, {"state", "down"}, {"instances", 3}, {"capacity", 16}, {"weight", 2.5},
        {"error", "version: engine unreachable at tcp://10.0.0.2:2376: Connection refused"}}});
  CHECK(engines_table(engines, false) ==
        "NAME   STATE   INSTANCES   CAPACITY   ENDPOINT                  ERROR\n"
        "a      up      8           -          unix:///run/docker.sock\n"
        "b      down    3           16         tcp://10.0.0.2:2376       version: engine unreachable at tcp://...\n");
  const std::string wide = engines_table(engines, true);
  CHECK(wide.find("WEIGHT") != std::string::npos);
  CHECK(wide.find("2.5") != std::string::npos);
  CHECK(wide.find("Connection refused") != std::string::npos);
}

TEST_CASE("allocations_table: expiry ahead, end behind") {
  const json list = json::array(
      {{{"id", "0123456789abcdef0123456789abcdef"}, {"instance", 3}, {"endpoint", "127.0.0.1:20003"},
        {"client", "front"}, {"createdAt", iso8601(kNow - 90'000)}, {"expiresAt", iso8601(kNow + 210'000)},
        {"deletedAt", nullptr}, {"endReason", nullptr}},
       {{"id", "ffffffffffffffffffffffffffffffff"}, {"instance", 4}, {"endpoint", "127.0.0.1:20004"},
        {"client", ""}, {"createdAt", iso8601(kNow - 600'000)}, {"expiresAt", iso8601(kNow)},
        {"deletedAt", iso8601(kNow - 60'000)}, {"endReason", "released"}}});
  CHECK(allocations_table(list, kNow, false) ==
        "ID             INSTANCE   ENDPOINT          CLIENT   AGE   EXPIRES   ENDED\n"
        "012345678...   3          127.0.0.1:20003   front    90s   in 3m     -\n"
        "fffffffff...   4          127.0.0.1:20004   -        10m   -         60s ago\n");
  CHECK(allocations_table(list, kNow, true).find("released") != std::string::npos);
}

TEST_CASE("to_yaml: block style, strings quoted where YAML would misread them") {
  const json record = {{"id", 7},
                       {"state", "ready"},
                       {"lastError", nullptr},
                       {"flags", json::array({"a", "yes", "12", ""})},
                       {"nested", {{"k", "v: w"}}},
                       {"empty", json::object()},
                       {"list", json::array({{{"x", 1}, {"y", 2}}})}};
  CHECK(to_yaml(record) ==
        "empty: {}\n"
        "flags:\n"
        "  - a\n"
        "  - \"yes\"\n"
        "  - \"12\"\n"
        "  - \"\"\n"
        "id: 7\n"
        "lastError: null\n"
        "list:\n"
        "  - x: 1\n"
        "    y: 2\n"
        "nested:\n"
        "  k: \"v: w\"\n"
        "state: ready\n");
  CHECK(to_yaml(json::array()) == "[]\n");
}

TEST_CASE("events_table: when, from, to and why") {
  const json events = json::array(
      {{{"id", 2}, {"instance", 1}, {"at", iso8601(kNow - 3000)}, {"from", "ready"}, {"to", "error"},
        {"detail", "health check: ping timed out"}},
       {{"id", 1}, {"instance", 1}, {"at", iso8601(kNow - 65'000)}, {"from", nullptr}, {"to", "starting"},
        {"detail", nullptr}}});
  CHECK(events_table(events, kNow) ==
        "WHEN      FROM        TO         DETAIL\n"
        "3s ago    ready       error      health check: ping timed out\n"
        "65s ago   (created)   starting   -\n");
}

TEST_CASE("top: hand-out quantiles from the histogram's buckets between two scrapes") {
  const std::string before =
      "# TYPE warmpool_hand_out_seconds histogram\n"
      "warmpool_hand_out_seconds_bucket{path=\"running\",le=\"0.001\"} 10\n"
      "warmpool_hand_out_seconds_bucket{path=\"running\",le=\"0.01\"} 10\n"
      "warmpool_hand_out_seconds_bucket{path=\"running\",le=\"+Inf\"} 10\n"
      "warmpool_hand_out_seconds_bucket{path=\"paused\",le=\"0.001\"} 0\n"
      "warmpool_hand_out_seconds_bucket{path=\"paused\",le=\"0.01\"} 0\n"
      "warmpool_hand_out_seconds_bucket{path=\"paused\",le=\"+Inf\"} 0\n"
      "warmpool_other_bucket{le=\"0.001\"} 99\n";
  std::string after = before;
  // 100 more in the interval: 60 under 1 ms (running), 39 under 10 ms, 1 slower (paused).
  after.replace(after.find("le=\"0.001\"} 10"), 14, "le=\"0.001\"} 70");
  after.replace(after.find("le=\"0.01\"} 10"), 13, "le=\"0.01\"} 70");
  after.replace(after.find("le=\"+Inf\"} 10"), 13, "le=\"+Inf\"} 70");
  after.replace(after.find("le=\"0.01\"} 0"), 12, "le=\"0.01\"} 39");
  after.replace(after.find("le=\"+Inf\"} 0"), 12, "le=\"+Inf\"} 40");
  const auto b = histogram_buckets(before, "warmpool_hand_out_seconds");
  const auto a = histogram_buckets(after, "warmpool_hand_out_seconds");
  REQUIRE(a.size() == 3);
  CHECK(a.at(0.001) == 70);
  CHECK(quantile_between(b, a, 0.5) == 0.001);
  CHECK(quantile_between(b, a, 0.99) == 0.01);
  CHECK(std::isinf(*quantile_between(b, a, 1.0)));
  CHECK_FALSE(quantile_between(a, a, 0.5));  // nothing new
  CHECK_FALSE(quantile_between({}, {}, 0.5));
}

TEST_CASE("top: one frame shows counts by state, waiting hand-outs, quantiles and lanes") {
  const json details = {{"pool", {{"byState", {{"paused", 3}, {"ready", 1}}}, {"busy", 0}, {"waitingAllocations", 2},
                                  {"maxInstances", 8}}},
                        {"queues", {{"high", {{"queued", 4}, {"running", 1}, {"completed", 9}, {"expired", 0}, {"rejected", 1}}},
                                    {"normal", {{"queued", 0}, {"running", 0}, {"completed", 3}, {"expired", 0}, {"rejected", 0}}}}}};
  CHECK(top_frame(details, 0.001, 0.025, 2) ==
        "INSTANCES (max 8)\n"
        "STATE    COUNT\n"
        "paused   3\n"
        "ready    1\n"
        "\n"
        "waiting hand-outs: 2   busy (claimed): 0\n"
        "hand-out p50 <= 1 ms, p99 <= 25 ms (last 2 s)\n"
        "\n"
        "LANE     QUEUED   RUNNING   EXPIRED   REJECTED\n"
        "high     4        1         0         1\n"
        "normal   0        0         0         0\n");
  CHECK(top_frame(details, std::nullopt, std::nullopt, 2).find("hand-out p50 -, p99 -") != std::string::npos);
}

TEST_CASE("instances_table: an ENGINE column once instances are on several engines") {
  json on_b = instance(1, "ready", 30);
  on_b["engine"] = "b";
  json on_default = instance(2, "paused", 30);
  on_default["engine"] = "default";
  const std::string table = instances_table(json::array({on_b, on_default}), json::array(), kNow, false);
  CHECK(table.rfind("ID   STATE    ENGINE    ENDPOINT", 0) == 0);
  CHECK(table.find("ready    b         127.0.0.1:20001") != std::string::npos);
  CHECK(instances_table(json::array({on_default}), json::array(), kNow, false).find("ENGINE") == std::string::npos);
}
