// pi-worker's sessions: POST /init writes files under scratch and keeps env
// and metadata, GET /init and GET /files read them back, POST /reset wipes
// them; who may call what (the control secret, the session's token).
#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "worker/http_api.hpp"
#include "worker/job.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSecret = "control-secret-for-tests";

class SessionWorker {
 public:
  explicit SessionWorker(std::string secret = kSecret)
      : job_(options()), scratch_(fs::temp_directory_path() / ("pi-worker-session-" + std::to_string(getpid()))) {
    fs::create_directories(scratch_);
    warmpool::worker::ServerSettings settings;
    settings.scratch_dir = scratch_;
    settings.control_secret = std::move(secret);
    warmpool::worker::configure_server(server_, job_, settings);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 100 && !client().Get("/ping"); ++i) std::this_thread::sleep_for(10ms);
  }
  ~SessionWorker() {
    server_.stop();
    thread_.join();
    fs::remove_all(scratch_);
  }

  httplib::Client client(const std::string& bearer = {}) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    if (!bearer.empty()) c.set_bearer_token_auth(bearer.c_str());
    return c;
  }
  int init(const json& body, const std::string& bearer = kSecret) const {
    auto r = client(bearer).Post("/init", body.dump(), "application/json");
    REQUIRE(r);
    return r->status;
  }
  int reset(const std::string& bearer = kSecret) const {
    auto r = client(bearer).Post("/reset");
    REQUIRE(r);
    return r->status;
  }
  const fs::path& scratch() const { return scratch_; }

 private:
  static warmpool::pi::Options options() {
    warmpool::pi::Options o;
    o.threads = 1;
    o.max_digits = 1000;
    o.isolate = false;
    return o;
  }
  warmpool::worker::ComputeJob job_;
  fs::path scratch_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

json session_payload(const std::string& token) {
  return {{"token", token},
          {"files", {{"notes.txt", "hello"}, {"dir/sub/b.bin", {{"base64", "AAEC/w=="}}}}},
          {"env", {{"USER_NAME", "ada"}}},
          {"metadata", {{"course", "net101"}}}};
}

}  // namespace

TEST_CASE("worker: POST /init writes the files under scratch; GET /files and GET /init read them back", "[worker]") {
  SessionWorker w;
  REQUIRE(w.init(session_payload("tok-1")) == 200);
  auto c = w.client("tok-1");
  auto text = c.Get("/files/notes.txt");
  REQUIRE(text);
  CHECK(text->status == 200);
  CHECK(text->body == "hello");
  auto bytes = c.Get("/files/dir/sub/b.bin");
  REQUIRE(bytes);
  CHECK(bytes->body == std::string("\x00\x01\x02\xff", 4));
  CHECK(fs::exists(w.scratch() / "files" / "dir" / "sub" / "b.bin"));
  auto state = c.Get("/init");
  REQUIRE(state);
  const json s = json::parse(state->body);
  CHECK(s["env"] == json{{"USER_NAME", "ada"}});
  CHECK(s["metadata"] == json{{"course", "net101"}});
  CHECK(s["files"].size() == 2);
  auto missing = c.Get("/files/none.txt");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->get_header_value("Content-Type") == "application/problem+json");
}

TEST_CASE("worker: POST /reset wipes the session; the next one sees nothing of it", "[worker]") {
  SessionWorker w;
  REQUIRE(w.init(session_payload("tok-1")) == 200);
  REQUIRE(w.reset() == 200);
  CHECK(fs::is_empty(w.scratch()));
  // The old token is revoked.
  auto old = w.client("tok-1").Get("/files/notes.txt");
  REQUIRE(old);
  CHECK(old->status == 401);
  REQUIRE(w.init({{"token", "tok-2"}, {"files", {{"other.txt", "x"}}}}) == 200);
  auto c = w.client("tok-2");
  CHECK(c.Get("/files/notes.txt")->status == 404);
  const json s = json::parse(c.Get("/init")->body);
  CHECK(s["env"] == json::object());
  CHECK(s["metadata"].is_null());
  CHECK(s["files"] == json::array({"other.txt"}));
}

TEST_CASE("worker: a bad payload is refused whole (400), and nothing is written", "[worker]") {
  SessionWorker w;
  const std::vector<json> bad = {
      {{"token", "t"}, {"files", {{"ok.txt", "x"}, {"../escape", "x"}}}},
      {{"token", "t"}, {"files", {{"/abs", "x"}}}},
      {{"token", "t"}, {"files", {{"a", "x"}, {"a/b", "y"}}}},
      {{"token", "t"}, {"files", {{"a", {{"base64", "!!"}}}}}},
      {{"token", "t"}, {"env", {{"1X", "x"}}}},
      {{"token", "t"}, {"metadata", json::array()}},
      {{"token", 5}},
      {{"token", "t"}, {"other", 1}},
  };
  for (const auto& body : bad) {
    INFO(body.dump());
    CHECK(w.init(body) == 400);
    CHECK(fs::is_empty(w.scratch() / "files"));
  }
  auto raw = w.client(kSecret).Post("/init", "{not json", "application/json");
  REQUIRE(raw);
  CHECK(raw->status == 400);
  // A link planted in scratch is not followed.
  const fs::path outside = w.scratch().string() + "-outside";
  fs::create_directories(outside);
  fs::create_directories(w.scratch() / "files");
  fs::create_symlink(outside, w.scratch() / "files" / "link");
  CHECK(w.init({{"token", "t"}, {"files", {{"link/x", "y"}}}}) == 400);
  CHECK(fs::is_empty(outside));
  fs::remove_all(outside);
  // A second init without a reset between is refused.
  REQUIRE(w.reset() == 200);
  REQUIRE(w.init({{"token", "t"}}) == 200);
  CHECK(w.init({{"token", "u"}}) == 409);
}

TEST_CASE("worker: without the control secret or the session's token, every route but /ping answers 401", "[worker]") {
  SessionWorker w;
  REQUIRE(w.init(session_payload("tok-1")) == 200);
  for (const std::string bearer : {"", "wrong", "tok-2"}) {
    INFO("bearer \"" << bearer << "\"");
    auto c = w.client(bearer);
    for (const char* path : {"/files/notes.txt", "/init", "/compute", "/result"}) {
      auto r = c.Get(path);
      REQUIRE(r);
      CHECK(r->status == 401);
      CHECK(r->get_header_value("Content-Type") == "application/problem+json");
    }
    CHECK(c.Post("/compute", R"({"digits": 10})", "application/json")->status == 401);
    CHECK(c.Delete("/compute")->status == 401);
    CHECK(c.Post("/reset")->status == 401);
    CHECK(c.Post("/init", "{}", "application/json")->status == 401);
    CHECK(c.Get("/ping")->status == 200);
  }
  // The session's token cannot reset or re-initialise; the control secret can do both.
  CHECK(w.reset("tok-1") == 401);
  CHECK(w.client("tok-1").Get("/init")->status == 200);
  CHECK(w.client(kSecret).Get("/init")->status == 200);
  CHECK(w.client("tok-1").Post("/compute", R"({"digits": 10})", "application/json")->status == 202);
}

TEST_CASE("worker: a session opened with a null token serves anyone; before any init, only the control secret", "[worker]") {
  SessionWorker w;
  CHECK(w.client().Get("/compute")->status == 401);
  CHECK(w.client(kSecret).Get("/compute")->status == 200);
  REQUIRE(w.init({{"token", nullptr}, {"files", {{"a", "b"}}}}) == 200);
  CHECK(w.client().Get("/files/a")->body == "b");
  REQUIRE(w.reset() == 200);
  CHECK(w.client().Get("/files/a")->status == 401);
}

TEST_CASE("worker: run by hand without a control secret, it needs no token but a session's own", "[worker]") {
  SessionWorker w("");
  CHECK(w.client().Get("/compute")->status == 200);
  REQUIRE(w.init({{"token", "tok"}, {"files", {{"a", "b"}}}}, "") == 200);
  CHECK(w.client().Get("/files/a")->status == 401);
  CHECK(w.client("tok").Get("/files/a")->body == "b");
  CHECK(w.reset("") == 200);
}
