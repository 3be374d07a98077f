// The cgroup freezer against a temporary directory standing in for the
// cgroup root: the files are plain files, so a write "settles" at once,
// except where a test holds cgroup.events back.
#include <catch2/catch.hpp>

#include <sys/fsuid.h>

#include <filesystem>
#include <optional>
#include <fstream>
#include <thread>

#include "engine/freezer.hpp"
#include "engine/pause_probe.hpp"

using namespace warmpool::engine;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct TempRoot {
  TempRoot() : path(fs::temp_directory_path() / ("freezer-test-" + std::to_string(::getpid()) + "-" +
                                                 std::to_string(counter++))) {
    fs::create_directories(path);
  }
  ~TempRoot() { fs::remove_all(path); }
  static inline int counter = 0;
  fs::path path;
};

void put(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

std::string get(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  return text;
}

CgroupLayout v1(const TempRoot& root) {
  return CgroupLayout::from_engine("cgroupfs", "1", root.path.string());
}

}  // namespace

TEST_CASE("cgroup paths follow the driver, the version and the cgroup parent") {
  const auto fs1 = CgroupLayout::from_engine("cgroupfs", "1");
  CHECK(fs1.root == "/sys/fs/cgroup/freezer");
  CHECK(cgroup_dir(fs1, kId, "") == "/sys/fs/cgroup/freezer/docker/" + kId);
  CHECK(cgroup_dir(fs1, kId, "/pool/") == "/sys/fs/cgroup/freezer/pool/" + kId);
  const auto sd2 = CgroupLayout::from_engine("systemd", "2");
  CHECK(sd2.root == "/sys/fs/cgroup");
  CHECK(std::string(sd2.control_file()) == "cgroup.freeze");
  CHECK(cgroup_dir(sd2, kId, "") == "/sys/fs/cgroup/system.slice/docker-" + kId + ".scope");
  CHECK(cgroup_dir(sd2, kId, "warm-pool.slice") ==
        "/sys/fs/cgroup/warm.slice/warm-pool.slice/docker-" + kId + ".scope");
  CHECK_THROWS_AS(CgroupLayout::from_engine("none", "1"), std::invalid_argument);
}

TEST_CASE("Podman puts its containers' cgroups under libpod names") {
  using Runtime = CgroupLayout::Runtime;
  const auto fs1 = CgroupLayout::from_engine("cgroupfs", "1", "/sys/fs/cgroup", Runtime::Podman);
  CHECK(cgroup_dir(fs1, kId, "") == "/sys/fs/cgroup/freezer/libpod_parent/libpod-" + kId);
  CHECK(cgroup_dir(fs1, kId, "/pool") == "/sys/fs/cgroup/freezer/pool/libpod-" + kId);
  const auto sd2 = CgroupLayout::from_engine("systemd", "2", "/sys/fs/cgroup", Runtime::Podman);
  CHECK(cgroup_dir(sd2, kId, "") == "/sys/fs/cgroup/machine.slice/libpod-" + kId + ".scope");
}

TEST_CASE("v1: freeze and thaw write freezer.state and read it back") {
  TempRoot root;
  const fs::path state = root.path / "freezer/docker" / kId / "freezer.state";
  put(state, "THAWED\n");
  int asked = 0;
  CgroupFreezer freezer(v1(root), [&](const std::string&) { return ++asked, std::string(); });
  CHECK(freezer.state(kId) == FreezeState::Thawed);
  freezer.freeze(kId, 100ms);
  CHECK(get(state) == "FROZEN");
  CHECK(freezer.state(kId) == FreezeState::Frozen);
  freezer.thaw(kId, 100ms);
  CHECK(get(state) == "THAWED");
  CHECK(asked == 1);  // the path is resolved once
  put(state, "FREEZING\n");
  CHECK(freezer.state(kId) == FreezeState::Freezing);
}

TEST_CASE("v2: a freeze that never settles fails at its deadline, naming the file") {
  TempRoot root;
  const auto layout = CgroupLayout::from_engine("systemd", "2", root.path.string());
  const fs::path dir = cgroup_dir(layout, kId, "");
  put(dir / "cgroup.freeze", "0\n");
  put(dir / "cgroup.events", "populated 1\nfrozen 0\n");
  CgroupFreezer freezer(layout, nullptr);
  try {
    freezer.freeze(kId, 20ms);
    FAIL("the freeze settled");
  } catch (const FreezerError& e) {
    CHECK(e.kind() == FreezerError::Kind::Timeout);
    CHECK_THAT(e.what(), Catch::StartsWith("freeze 0123456789ab: " + (dir / "cgroup.freeze").string() + ": still freezing"));
  }
  put(dir / "cgroup.events", "populated 1\nfrozen 1\n");
  freezer.freeze(kId, 20ms);
  CHECK(freezer.state(kId) == FreezeState::Frozen);
}

TEST_CASE("a missing cgroup is Missing, with the path and the reason") {
  TempRoot root;
  CgroupFreezer freezer(v1(root), nullptr);
  try {
    freezer.thaw(kId, 100ms);
    FAIL("thawed a container with no cgroup");
  } catch (const FreezerError& e) {
    CHECK(e.kind() == FreezerError::Kind::Missing);
    CHECK(std::string(e.what()) == "thaw 0123456789ab: " + (root.path / "freezer/docker" / kId).string() +
                                       "/freezer.state: No such file or directory");
  }
}

TEST_CASE("a freezer file this process may not write is Denied") {
  TempRoot root;
  const fs::path state = root.path / "freezer/docker" / kId / "freezer.state";
  put(state, "THAWED\n");
  fs::permissions(state, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  CgroupFreezer freezer(v1(root), nullptr);
  std::optional<FreezerError::Kind> kind;
  // Root may write anything: this thread alone takes an unprivileged
  // filesystem uid (setfsuid is per thread), which also drops the override.
  std::thread([&] {
    ::setfsuid(65534);
    try {
      freezer.freeze(kId, 100ms);
    } catch (const FreezerError& e) {
      kind = e.kind();
    }
  }).join();
  REQUIRE(kind);
  CHECK(*kind == FreezerError::Kind::Denied);
  CHECK(get(state) == "THAWED");
}

TEST_CASE("the probe refuses a remote engine, and --pause-via engine asks nothing") {
  DockerEngine::Options options;
  options.endpoint = "tcp://127.0.0.1:1";
  DockerEngine remote(options);
  auto choice = choose_pause_path(PauseVia::Auto, remote);
  CHECK(choice.freezer == nullptr);
  CHECK_THAT(choice.why, Catch::Contains("not local"));
  CHECK_THROWS_AS(choose_pause_path(PauseVia::Freezer, remote), std::invalid_argument);
  CHECK(choose_pause_path(PauseVia::Engine, remote).why == "--pause-via engine");
  CHECK(pause_via_from("auto") == PauseVia::Auto);
  CHECK_THROWS_AS(pause_via_from("runc"), std::invalid_argument);
}

TEST_CASE("the access check looks at the default parent's control file") {
  TempRoot root;
  const auto layout = v1(root);
  CHECK_THAT(freezer_access_problem(layout), Catch::Contains("cannot write"));  // no hierarchy at all
  put(root.path / "freezer/docker/freezer.state", "THAWED\n");
  CHECK(freezer_access_problem(layout).empty());
}
