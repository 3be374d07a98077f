#include "engine/freezer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

namespace warmpool::engine {

namespace {

using Clock = std::chrono::steady_clock;

std::string short_id(const std::string& id) { return id.substr(0, 12); }

std::string context(const char* operation, const std::string& id, const std::string& path) {
  return std::string(operation) + " " + short_id(id) + ": " + path + ": ";
}

// The one place errno becomes a FreezerError.
FreezerError from_errno(const char* operation, const std::string& id, const std::string& path, int error) {
  FreezerError::Kind kind = FreezerError::Kind::Io;
  if (error == ENOENT || error == ENOTDIR) kind = FreezerError::Kind::Missing;
  if (error == EACCES || error == EPERM || error == EROFS) kind = FreezerError::Kind::Denied;
  return FreezerError(kind, context(operation, id, path) + std::strerror(error));
}

void write_file(const char* operation, const std::string& id, const std::string& path,
                const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) throw from_errno(operation, id, path, errno);
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int error = errno;
  ::close(fd);
  if (n < 0) throw from_errno(operation, id, path, error);
}

std::string read_file(const char* operation, const std::string& id, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw from_errno(operation, id, path, errno);
  char buffer[512];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  const int error = errno;
  ::close(fd);
  if (n < 0) throw from_errno(operation, id, path, error);
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// systemd nests a slice under each of its dash-separated prefixes:
// "a-b.slice" is a.slice/a-b.slice.
std::string slice_path(const std::string& slice) {
  const std::string suffix = ".slice";
  if (slice.size() <= suffix.size() || slice.compare(slice.size() - suffix.size(), suffix.size(), suffix) != 0)
    return slice;
  const std::string name = slice.substr(0, slice.size() - suffix.size());
  std::string path;
  for (std::size_t dash = name.find('-'); dash != std::string::npos; dash = name.find('-', dash + 1))
    path += name.substr(0, dash) + suffix + "/";
  return path + slice;
}

}  // namespace

const char* to_string(FreezeState state) {
  switch (state) {
    case FreezeState::Thawed: return "thawed";
    case FreezeState::Freezing: return "freezing";
    case FreezeState::Frozen: return "frozen";
  }
  return "unknown";
}

CgroupLayout CgroupLayout::from_engine(const std::string& driver, const std::string& version,
                                       const std::string& cgroup_mount, Runtime runtime) {
  CgroupLayout layout;
  layout.runtime = runtime;
  if (driver == "cgroupfs") layout.driver = Driver::Cgroupfs;
  else if (driver == "systemd") layout.driver = Driver::Systemd;
  else throw std::invalid_argument("unknown cgroup driver \"" + driver + "\"");
  layout.version = version == "2" ? Version::V2 : Version::V1;
  layout.root = layout.version == Version::V1 ? cgroup_mount + "/freezer" : cgroup_mount;
  return layout;
}

std::string cgroup_dir(const CgroupLayout& layout, const std::string& container_id,
                       const std::string& cgroup_parent) {
  std::string parent = cgroup_parent;
  while (!parent.empty() && parent.front() == '/') parent.erase(0, 1);
  while (!parent.empty() && parent.back() == '/') parent.pop_back();
  const bool podman = layout.runtime == CgroupLayout::Runtime::Podman;
  if (layout.driver == CgroupLayout::Driver::Cgroupfs) {
    if (parent.empty()) parent = podman ? "libpod_parent" : "docker";
    return layout.root + "/" + parent + "/" + (podman ? "libpod-" : "") + container_id;
  }
  if (parent.empty()) parent = podman ? "machine.slice" : "system.slice";
  return layout.root + "/" + slice_path(parent) + (podman ? "/libpod-" : "/docker-") + container_id + ".scope";
}

CgroupFreezer::CgroupFreezer(CgroupLayout layout, ParentOf parent_of)
    : layout_(std::move(layout)), parent_of_(std::move(parent_of)) {}

std::string CgroupFreezer::dir_of(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = dirs_.find(id); it != dirs_.end()) return it->second;
  }
  const std::string dir = cgroup_dir(layout_, id, parent_of_ ? parent_of_(id) : std::string());
  std::lock_guard lock(mu_);
  dirs_[id] = dir;
  return dir;
}

void CgroupFreezer::forget(const std::string& id) {
  std::lock_guard lock(mu_);
  dirs_.erase(id);
}

FreezeState CgroupFreezer::read_state(const char* operation, const std::string& id, const std::string& dir) {
  if (layout_.version == CgroupLayout::Version::V1) {
    const std::string path = dir + "/freezer.state";
    const std::string text = trimmed(read_file(operation, id, path));
    if (text == "FROZEN") return FreezeState::Frozen;
    if (text == "FREEZING") return FreezeState::Freezing;
    if (text == "THAWED") return FreezeState::Thawed;
    throw FreezerError(FreezerError::Kind::Io, context(operation, id, path) + "unexpected state \"" + text + "\"");
  }
  // v2: cgroup.events says whether every process is frozen yet.
  std::istringstream events(read_file(operation, id, dir + "/cgroup.events"));
  for (std::string key, value; events >> key >> value;)
    if (key == "frozen" && value == "1") return FreezeState::Frozen;
  const bool asked = trimmed(read_file(operation, id, dir + "/cgroup.freeze")) == "1";
  return asked ? FreezeState::Freezing : FreezeState::Thawed;
}

// Writes the wanted state, then reads until it holds. A v1 freeze can stop at
// FREEZING (a task in an uninterruptible sleep): writing FROZEN again retries.
void CgroupFreezer::set(const char* operation, const std::string& id, bool frozen,
                        std::chrono::milliseconds deadline) {
  const std::string dir = dir_of(id);
  const std::string path = dir + "/" + layout_.control_file();
  const bool v1 = layout_.version == CgroupLayout::Version::V1;
  const std::string text = v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
  const FreezeState want = frozen ? FreezeState::Frozen : FreezeState::Thawed;
  const auto give_up = Clock::now() + deadline;
  auto wait = std::chrono::microseconds(50);
  for (;;) {
    write_file(operation, id, path, text);
    const FreezeState now = read_state(operation, id, dir);
    if (now == want) return;
    if (Clock::now() + wait > give_up)
      throw FreezerError(FreezerError::Kind::Timeout,
                         context(operation, id, path) + "still " + to_string(now) + " after " +
                             std::to_string(deadline.count()) + " ms");
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::microseconds(5000));
  }
}

void CgroupFreezer::freeze(const std::string& id, std::chrono::milliseconds deadline) {
  set("freeze", id, true, deadline);
}

void CgroupFreezer::thaw(const std::string& id, std::chrono::milliseconds deadline) {
  set("thaw", id, false, deadline);
}

FreezeState CgroupFreezer::state(const std::string& id) { return read_state("state", id, dir_of(id)); }

}  // namespace warmpool::engine
