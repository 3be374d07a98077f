// The file cache against a loopback HTTP server that the test starts: a
// fetch, its dedup, the size cap, the deadline, http(s) only, and refusals
// of the manager's and the workers' ports.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <httplib.h>

#include "files/file_cache.hpp"

using namespace warmpool::files;
namespace fs = std::filesystem;

namespace {

// A loopback server with a small file, a large one, a slow one, a redirect
// and a 404.
struct Origin {
  Origin() {
    server.Get("/start.pkt", [this](const httplib::Request&, httplib::Response& res) {
      ++hits;
      res.set_content("network topology", "application/octet-stream");
    });
    server.Get("/large.pkt", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(4096, 'x'), "application/octet-stream");
    });
    server.Get("/slow.pkt", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("late", "application/octet-stream");
    });
    server.Get("/moved", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/start.pkt"); });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    // stop() before the server runs would not stop it: wait until it does.
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Origin() {
    server.stop();
    thread.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }

  httplib::Server server;
  std::atomic<int> hits{0};
  int port = 0;
  std::thread thread;
};

struct TempDir {
  TempDir() : path(fs::temp_directory_path() / ("warmpool-files-" + std::to_string(std::random_device{}()))) {}
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

std::string text_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string refusal(FileCache& cache, const std::string& url) {
  try {
    cache.fetch(url);
  } catch (const FetchError& e) {
    return e.what();
  }
  return "(fetched)";
}

}  // namespace

TEST_CASE("a URL is fetched once into the cache; the second request is answered from it") {
  Origin origin;
  TempDir dir;
  FileCache cache(dir.path, {.max_bytes = 1024, .timeout = std::chrono::milliseconds(500)}, {});
  const CachedFile first = cache.fetch(origin.url("/start.pkt"));
  CHECK(first.url == origin.url("/start.pkt"));
  CHECK(first.filename == cache_name(first.url));
  CHECK(first.filename.size() == 32 + 4);
  CHECK(first.filename.ends_with(".pkt"));
  CHECK(text_of(dir.path / first.filename) == "network topology");
  const CachedFile again = cache.fetch(origin.url("/start.pkt"));
  CHECK(again.filename == first.filename);
  CHECK(origin.hits == 1);
  const auto listed = cache.list();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].url == first.url);
  CHECK(listed[0].filename == first.filename);
}

TEST_CASE("the cap, the deadline, the scheme, redirects and errors each refuse with a message saying which") {
  Origin origin;
  TempDir dir;
  FileCache cache(dir.path, {.max_bytes = 1024, .timeout = std::chrono::milliseconds(500)}, {});
  CHECK(refusal(cache, origin.url("/large.pkt")) == "the file is larger than 1024 bytes");
  CHECK(refusal(cache, origin.url("/slow.pkt")) == "the URL did not answer within 500 ms");
  CHECK(refusal(cache, "ftp://127.0.0.1/start.pkt") == "only http and https URLs are fetched");
  CHECK(refusal(cache, "file:///etc/passwd") == "only http and https URLs are fetched");
  CHECK(refusal(cache, "start.pkt") == "only http and https URLs are fetched");
  CHECK(refusal(cache, "http:///start.pkt") == "the URL has no host");
  CHECK(refusal(cache, "http://127.0.0.1/a b") == "the URL has spaces or bytes that are not printable ASCII");
  CHECK(refusal(cache, origin.url("/moved")) == "the URL answered a redirect (302), which is not followed");
  CHECK(refusal(cache, origin.url("/missing")) == "the URL answered HTTP 404");
  CHECK(cache.list().empty());
  CHECK(fs::is_empty(dir.path));  // nothing half-written left behind
}

TEST_CASE("the manager's own port and the workers' range are refused, whatever name reaches them") {
  Origin origin;
  TempDir dir;
  SECTION("as the manager") {
    FileCache cache(dir.path, {}, {.own_hosts = {"127.0.0.1"}, .manager_port = origin.port});
    CHECK(refusal(cache, origin.url("/start.pkt")) == "the URL points at the manager or one of its workers");
    CHECK(refusal(cache, "http://localhost:" + std::to_string(origin.port) + "/start.pkt") ==
          "the URL points at the manager or one of its workers");
  }
  SECTION("as a worker") {
    FileCache cache(dir.path, {},
                    {.own_hosts = {"127.0.0.1"}, .worker_port_first = origin.port - 1, .worker_port_last = origin.port + 1});
    CHECK(refusal(cache, origin.url("/start.pkt")) == "the URL points at the manager or one of its workers");
  }
  CHECK(origin.hits == 0);
}

TEST_CASE("refused_address: our ports on our addresses, or on any with a wildcard listen host") {
  const Forbidden f{.own_hosts = {"10.0.0.5"}, .manager_port = 8080, .worker_port_first = 20000, .worker_port_last = 20999};
  CHECK(refused_address(f, "127.0.0.1", 8080));
  CHECK(refused_address(f, "127.8.9.10", 20500));
  CHECK(refused_address(f, "::1", 20000));
  CHECK(refused_address(f, "10.0.0.5", 20999));
  CHECK_FALSE(refused_address(f, "10.0.0.6", 8080));
  CHECK_FALSE(refused_address(f, "127.0.0.1", 21000));
  CHECK_FALSE(refused_address(f, "127.0.0.1", 80));
  Forbidden any = f;
  any.any_host = true;
  CHECK(refused_address(any, "93.184.216.34", 8080));
}

TEST_CASE("a URL that names the manager or a worker plainly is refused before any connection") {
  TempDir dir;
  FileCache cache(dir.path, {}, {.own_hosts = {}, .manager_port = 8080, .worker_port_first = 20000, .worker_port_last = 20999});
  for (const char* url : {"http://127.0.0.1:8080/x", "http://localhost:20005/x", "https://[::1]:20999/x",
                          "http://user@127.0.0.1:8080/x", "HTTP://LOCALHOST:8080/"}) {
    INFO(url);
    CHECK(refusal(cache, url) == "the URL points at the manager or one of its workers");
  }
}
