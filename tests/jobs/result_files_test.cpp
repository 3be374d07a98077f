// Result files: atomic, named by their SHA-256, checked digit by digit, and
// cut into exact prefixes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "jobs/result_files.hpp"

using namespace warmpool;
using namespace warmpool::jobs;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("warmpool-results-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  return dir;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

ResultFile write(const fs::path& dir, const std::string& bytes) {
  ResultWriter w(dir);
  w.write(bytes.data(), bytes.size());
  return w.commit();
}

}  // namespace

TEST_CASE("sha-256 and Repr-Digest of known values") {
  Sha256 h;
  h.update("a", 1);
  h.update("bc", 2);
  const std::string abc = h.hex();
  CHECK(abc == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(repr_digest(abc) == "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:");
  CHECK(hex_to_base64("zz").empty());
}

TEST_CASE("a result is written whole, under its SHA-256, and leaves no temp file") {
  const auto dir = temp_dir() / "results";  // created on demand
  const ResultFile file = write(dir, "3.14159");
  CHECK(file.bytes == 7);
  CHECK(file.name == file.sha256 + ".txt");
  Sha256 h;
  h.update("3.14159", 7);
  CHECK(file.sha256 == h.hex());
  CHECK(read(path_of(dir, file)) == "3.14159");
  CHECK(entries(dir) == 1);
  // The same bytes again: the same file.
  CHECK(write(dir, "3.14159").name == file.name);
  CHECK(entries(dir) == 1);
  {
    ResultWriter abandoned(dir);
    abandoned.write("3.1", 3);
    CHECK(entries(dir) == 2);  // its temp file
  }
  CHECK(entries(dir) == 1);  // removed with the writer
  std::ofstream(dir / ".tmp-left-by-a-crash") << "3.";
  remove_temp_files(dir);
  CHECK(entries(dir) == 1);
  fs::remove_all(dir.parent_path());
}

TEST_CASE("DigitsCheck accepts exactly \"3.\" and N digits, in any pieces") {
  auto check = [](std::int64_t n, std::initializer_list<std::string> pieces) {
    DigitsCheck c(n);
    for (const auto& p : pieces)
      if (!c.feed(p.data(), p.size())) return false;
    return c.complete();
  };
  CHECK(check(3, {"3.141"}));
  CHECK(check(3, {"3", ".1", "41"}));
  CHECK_FALSE(check(3, {"3.14"}));     // short
  CHECK_FALSE(check(3, {"3.1415"}));   // long
  CHECK_FALSE(check(3, {"3,141"}));
  CHECK_FALSE(check(3, {"2.141"}));
  CHECK_FALSE(check(3, {"3.1a1"}));
  CHECK_FALSE(check(3, {"3.141\n"}));
  DigitsCheck c(2);
  c.feed("3.x", 3);
  CHECK(c.problem() == "unexpected byte 120 at offset 2");
}

TEST_CASE("a prefix of a longer result is exact; the same count is the same file") {
  const auto dir = temp_dir();
  const std::string digits = "3.14159265358979323846";
  const ResultFile full = write(dir, digits);
  const ResultFile five = write_prefix(dir, full, 5);
  CHECK(read(path_of(dir, five)) == "3.14159");
  CHECK(five.bytes == 7);
  CHECK(write_prefix(dir, full, 20).name == full.name);
  CHECK_THROWS_AS(write_prefix(dir, full, 21), ResultFileError);
  fs::remove(path_of(dir, full));
  CHECK_THROWS_AS(write_prefix(dir, full, 5), ResultFileError);
  fs::remove_all(dir);
}
