// `warmpool pi N`: against the real routes on fake workers, and against a
// stub server that sends damaged digits.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "api_fixture.hpp"
#include "client/pi_client.hpp"
#include "jobs/result_files.hpp"

using namespace warmpool;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Run {
  int status = 0;
  std::string out, log;
};

Run run_pi(httplib::Client& client, std::int64_t digits, const fs::path& out) {
  jobs::PiCommand command;
  command.digits = digits;
  command.out = out.string();
  command.poll = std::chrono::milliseconds(5);
  std::ostringstream o, l;
  Run r;
  r.status = jobs::run_pi_command(client, command, o, l);
  r.out = o.str();
  r.log = l.str();
  return r;
}

}  // namespace

TEST_CASE("progress_line: a bar, the percentage, the status and the elapsed time") {
  CHECK(jobs::progress_line("queued", 0, 0.04, 10) == "[..........]   0%  queued  0.0 s");
  CHECK(jobs::progress_line("In-progress", 0.456, 4.25, 10) == "[####......]  45%  In-progress  4.2 s");
  CHECK(jobs::progress_line("complete", 1, 12, 10) == "[##########] 100%  complete  12.0 s");
  CHECK(jobs::progress_line("x", 7, 0, 4) == "[####] 100%  x  0.0 s");
}

TEST_CASE("warmpool pi: submits, follows progress, downloads and checks the digits") {
  test::ApiFixture f(100'000);
  f.compute.polls_to_finish = 30;
  f.runner->start();
  auto client = f.client();
  const fs::path out = f.dir / "digits.txt";

  const Run ok = run_pi(client, 3000, out);
  INFO(ok.log);
  CHECK(ok.status == 0);
  CHECK(read(out) == test::fake_digits(3000));
  CHECK_FALSE(fs::exists(out.string() + ".part"));
  CHECK(ok.out.rfind(out.string() + ": 3. and 3000 digits of pi, sha-256 ", 0) == 0);
  CHECK(ok.log.find("pi job 0: 3000 digits") != std::string::npos);
  CHECK(ok.log.find("In-progress") != std::string::npos);
  CHECK(ok.log.find("] 100%  complete") != std::string::npos);

  SECTION("a refused job: exit 1 with the server's reason") {
    const Run refused = run_pi(client, 200'000, f.dir / "no.txt");
    CHECK(refused.status == 1);
    CHECK(refused.log.find("\"digits\" must be at most 100000") != std::string::npos);
    CHECK_FALSE(fs::exists(f.dir / "no.txt"));
  }
  SECTION("a failed job: exit 1 with the job's error") {
    f.compute.max_digits = 10;
    const Run failed = run_pi(client, 5000, f.dir / "no.txt");
    CHECK(failed.status == 1);
    CHECK(failed.log.find("pi job 1 failed: the worker refused the job") != std::string::npos);
    CHECK_FALSE(fs::exists(f.dir / "no.txt"));
  }
  SECTION("no server: exit 2") {
    httplib::Client nowhere("127.0.0.1", 1);
    CHECK(run_pi(nowhere, 10, f.dir / "no.txt").status == 2);
  }
}

TEST_CASE("warmpool pi refuses digits that do not check out, and keeps no file") {
  httplib::Server stub;
  std::string digits = "3.1415926535";
  std::string digest;
  stub.Post("/pi_job", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"success":true,"job_id":7})", "application/json");
  });
  stub.Get("/pi_job/7", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"success":true,"job_id":"7","digits":10,"status":"complete","time_elapsed":"0 seconds","progress":1.0})",
                    "application/json");
  });
  stub.Get("/download_pi_job/7", [&](const httplib::Request&, httplib::Response& res) {
    if (!digest.empty()) res.set_header("Repr-Digest", digest);
    res.set_content(digits, "text/plain");
  });
  const int port = stub.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { stub.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  const fs::path out = fs::temp_directory_path() / ("warmpool-pi-client-" + std::to_string(port) + ".txt");

  SECTION("good digits, no digest: accepted") {
    CHECK(run_pi(client, 10, out).status == 0);
    CHECK(read(out) == digits);
  }
  SECTION("good digits, matching digest: accepted") {
    jobs::Sha256 h;
    h.update(digits.data(), digits.size());
    digest = jobs::repr_digest(h.hex());
    CHECK(run_pi(client, 10, out).status == 0);
  }
  SECTION("a digest that does not match") {
    digest = jobs::repr_digest(std::string(64, '0'));
    const Run r = run_pi(client, 10, out);
    CHECK(r.status == 1);
    CHECK(r.log.find("does not match") != std::string::npos);
  }
  SECTION("too few digits") {
    digits = "3.141592653";
    const Run r = run_pi(client, 10, out);
    CHECK(r.status == 1);
    CHECK(r.log.find("malformed: got 11 bytes, expected 12") != std::string::npos);
  }
  SECTION("not digits") {
    digits = "3.14159x6535";
    const Run r = run_pi(client, 10, out);
    CHECK(r.status == 1);
    CHECK(r.log.find("malformed") != std::string::npos);
  }
  if (digest != jobs::repr_digest(std::string(64, '0')) && digits == "3.1415926535") CHECK(fs::exists(out));
  else CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(fs::exists(out.string() + ".part"));
  fs::remove(out);
  stub.stop();
  serving.join();
}
