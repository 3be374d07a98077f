// `warmpool alloc --file/--env/--meta`: the body it sends.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "client/commands.hpp"

using namespace warmpool::client;
using nlohmann::json;

TEST_CASE("alloc: --file is sent as base64 at its remote path, --env and --meta as given") {
  const auto local = std::filesystem::temp_directory_path() / ("alloc-body-" + std::to_string(getpid()));
  { std::ofstream(local, std::ios::binary) << std::string("hi\0", 3); }
  Options o;
  o.lease_seconds = 60;
  o.files = {local.string() + "=conf/start.bin"};
  o.env = {"USER_NAME=ada", "EMPTY=", "EQ=a=b"};
  o.meta = R"({"course":"net101"})";
  const json body = allocation_body(o);
  CHECK(body["lease_seconds"] == 60);
  CHECK(body["init"]["files"] == json{{"conf/start.bin", {{"base64", "aGkA"}}}});
  CHECK(body["init"]["env"] == json{{"USER_NAME", "ada"}, {"EMPTY", ""}, {"EQ", "a=b"}});
  CHECK(body["init"]["metadata"] == json{{"course", "net101"}});
  std::filesystem::remove(local);

  CHECK_FALSE(allocation_body(Options{}).contains("init"));
}

TEST_CASE("alloc: malformed --file, --env and --meta are usage errors naming the option") {
  auto refused = [](Options o) {
    try {
      allocation_body(o);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  Options o;
  o.files = {"no-equals-sign"};
  CHECK_THAT(refused(o), Catch::Contains("--file"));
  o.files = {"/nonexistent/file=remote"};
  CHECK_THAT(refused(o), Catch::Contains("cannot open"));
  o.files = {};
  o.env = {"=value"};
  CHECK_THAT(refused(o), Catch::Contains("--env"));
  o.env = {};
  o.meta = "[1]";
  CHECK_THAT(refused(o), Catch::Contains("--meta"));
}
