// Tools for the fault drills: an engine socket that can be cut, a second
// private engine that can be restarted, a small filesystem that can be filled,
// the manager as a child process, and the consistency check every drill ends
// with. Each tool undoes what it did when destroyed, and touches only what it
// made itself.
#pragma once

#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/stack.hpp"

namespace warmpool::drill {

using Steady = std::chrono::steady_clock;

inline long long ms_since(Steady::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start).count();
}

// One line per measured recovery, in the test output and the report.
inline void report(const std::string& drill, const std::string& what, long long ms) {
  std::cout << "DRILL " << drill << ": " << what << " in " << ms << " ms" << std::endl;
}

// Polls `pred` until it holds or `limit` passes; returns the time it took, or
// -1 when it never held.
template <typename Pred>
long long time_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto start = Steady::now();
  while (Steady::now() - start < limit) {
    if (pred()) return ms_since(start);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred() ? ms_since(start) : -1;
}

inline std::string short_dir(const std::string& stem) {
  const unsigned r = std::random_device{}() % 1'000'000;
  return "/tmp/" + stem + "-" + std::to_string(r);
}

// The worker's process id on the host, from the engine's inspect document.
inline int worker_pid(engine::DockerEngine& engine, const std::string& container) {
  return nlohmann::json::parse(engine.inspect_raw(container))["State"]["Pid"].get<int>();
}

// ---------------------------------------------------------------------------
// Records against containers. Empty when every current allocation holds one
// allocated instance, no instance is in two, no two live records share a port,
// every labelled container is held by a live record, and every record that
// must have a container has one in the state the record says.

struct InstanceView {
  std::int64_t id = 0;
  std::string state;
  std::string container;
  std::string endpoint;
};
struct AllocationView {
  std::string id;
  std::int64_t instance = 0;
};

inline std::vector<std::string> inconsistencies(const std::vector<InstanceView>& instances,
                                                const std::vector<AllocationView>& allocations,
                                                const std::vector<engine::ContainerInfo>& containers) {
  std::vector<std::string> problems;
  std::map<std::int64_t, const InstanceView*> by_id;
  std::set<std::string> endpoints, held;
  for (const auto& i : instances) {
    by_id[i.id] = &i;
    if (!endpoints.insert(i.endpoint).second) problems.push_back("two live records on " + i.endpoint);
    if (!i.container.empty()) held.insert(i.container);
  }
  std::map<std::int64_t, int> per_instance;
  for (const auto& a : allocations) {
    if (++per_instance[a.instance] == 2)
      problems.push_back("instance " + std::to_string(a.instance) + " in two current allocations");
    auto it = by_id.find(a.instance);
    if (it == by_id.end() || it->second->state != "allocated")
      problems.push_back("allocation " + a.id + " on instance " + std::to_string(a.instance) +
                         " which is " + (it == by_id.end() ? "not live" : it->second->state));
  }
  for (const auto& i : instances)
    if (i.state == "allocated" && !per_instance.count(i.id))
      problems.push_back("instance " + std::to_string(i.id) + " allocated without an allocation");
  std::map<std::string, engine::ContainerStatus> status;
  for (const auto& c : containers) {
    status[c.id] = c.status;
    if (!held.count(c.id)) problems.push_back("orphan container " + c.id.substr(0, 12));
  }
  for (const auto& i : instances) {
    const bool running = i.state == "ready" || i.state == "allocated";
    if (!running && i.state != "paused") continue;
    auto it = status.find(i.container);
    const auto want = running ? engine::ContainerStatus::Running : engine::ContainerStatus::Paused;
    if (it == status.end())
      problems.push_back("instance " + std::to_string(i.id) + " (" + i.state + ") has no container");
    else if (it->second != want)
      problems.push_back("instance " + std::to_string(i.id) + " is " + i.state + " but its container is " +
                         engine::to_string(it->second));
  }
  return problems;
}

inline std::vector<std::string> inconsistencies(test::Stack& s) {
  std::vector<InstanceView> instances;
  for (const auto& i : s.store.instances(Show::Current))
    instances.push_back({i.id, to_string(i.state), i.container_id, i.endpoint()});
  std::vector<AllocationView> allocations;
  for (const auto& a : s.store.allocations(Show::Current)) allocations.push_back({a.id, a.instance_id});
  // "Paused" as the manager reads it: on the freezer path the engine calls a
  // frozen container running.
  auto containers = s.engine().list({{engine::kManagerLabel, s.config.manager_id}});
  for (auto& c : containers) c = s.pool.pauser().overlay(std::move(c));
  return inconsistencies(instances, allocations, containers);
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "; ";
  return out;
}

// The records, the claims and what disagrees, for failure messages.
inline std::string describe(test::Stack& s) {
  std::string out = "instances:";
  for (const auto& i : s.store.instances(Show::Current))
    out += " #" + std::to_string(i.id) + " " + to_string(i.state) + " restarts=" + std::to_string(i.restarts) +
           " container=" + i.container_id.substr(0, 12) + " error='" + i.last_error + "';";
  out += " claimed:";
  for (auto id : s.pool.claimed()) out += " " + std::to_string(id);
  out += "; current allocations: " + std::to_string(s.store.allocations(Show::Current).size());
  out += "; inconsistencies: " + joined(inconsistencies(s));
  return out;
}

// Every record settled (idle or allocated), no operation in flight, at least
// `idle` idle, and records and containers agree.
inline bool settled(test::Stack& s, int idle) {
  for (const auto& i : s.store.instances(Show::Current))
    if (!is_idle(i.state) && i.state != InstanceState::Allocated) return false;
  return s.pool.claimed().empty() && s.count_idle() >= idle && inconsistencies(s).empty();
}

// ---------------------------------------------------------------------------
// A unix socket that forwards to another (the engine's). close() makes the
// engine unreachable for whoever connects here: new connections are refused
// (the socket file is gone) and open ones are cut. hang(true) makes it an
// engine that accepts connections and never answers. open() and hang(false)
// bring it back.

class UnixProxy {
 public:
  UnixProxy(std::string listen_path, std::string target_path)
      : path_(std::move(listen_path)), target_(std::move(target_path)) {
    open();
  }
  ~UnixProxy() { close(); }
  UnixProxy(const UnixProxy&) = delete;
  UnixProxy& operator=(const UnixProxy&) = delete;

  std::string endpoint() const { return "unix://" + path_; }

  void hang(bool on) {
    std::lock_guard lock(mu_);
    hanging_ = on;
    if (!on) {
      for (int fd : held_) ::close(fd);
      held_.clear();
    }
  }

  void open() {
    std::lock_guard lock(mu_);
    if (listener_ >= 0) return;
    stopping_ = false;
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = address(path_);
    ::unlink(path_.c_str());
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 64) != 0)
      throw std::runtime_error("proxy " + path_ + ": " + std::strerror(errno));
    accepter_ = std::thread([this, fd = listener_] { accept_loop(fd); });
  }

  void close() {
    std::vector<std::thread> pumps;
    {
      std::lock_guard lock(mu_);
      if (listener_ < 0) return;
      stopping_ = true;
      ::shutdown(listener_, SHUT_RDWR);
      ::unlink(path_.c_str());
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    accepter_.join();
    {
      std::lock_guard lock(mu_);
      ::close(listener_);
      listener_ = -1;
      pumps.swap(pumps_);
      for (int fd : held_) ::close(fd);
      held_.clear();
    }
    for (auto& t : pumps) t.join();
  }

 private:
  static sockaddr_un address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    return addr;
  }

  void accept_loop(int listener) {
    for (;;) {
      pollfd p{listener, POLLIN, 0};
      ::poll(&p, 1, 50);
      if (stopping_) return;
      if (!(p.revents & POLLIN)) continue;
      int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      {
        std::lock_guard lock(mu_);
        if (hanging_) {  // accepted, and never answered
          held_.push_back(client);
          continue;
        }
      }
      int upstream = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr = address(target_);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(upstream);
        continue;
      }
      std::lock_guard lock(mu_);
      open_fds_.insert(client);
      open_fds_.insert(upstream);
      pumps_.emplace_back([this, client, upstream] { pump(client, upstream); });
    }
  }

  void pump(int a, int b) {
    char buffer[65536];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stopping_) {
      if (hanging_) {  // open connections go silent too
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      if (::poll(fds, 2, 50) <= 0) continue;
      bool done = false;
      for (int k = 0; k < 2 && !done; ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(fds[k].fd, buffer, sizeof buffer);
        if (n <= 0) {
          done = true;
          break;
        }
        for (ssize_t sent = 0; sent < n;) {
          const ssize_t w = ::send(fds[1 - k].fd, buffer + sent, n - sent, MSG_NOSIGNAL);
          if (w <= 0) {
            done = true;
            break;
          }
          sent += w;
        }
      }
      if (done) break;
    }
    std::lock_guard lock(mu_);
    open_fds_.erase(a);
    open_fds_.erase(b);
    ::close(a);
    ::close(b);
  }

  const std::string path_, target_;
  std::mutex mu_;
  int listener_ = -1;               // GUARDED_BY(mu_)
  std::set<int> open_fds_;          // GUARDED_BY(mu_)
  std::vector<std::thread> pumps_;  // GUARDED_BY(mu_)
  std::vector<int> held_;           // GUARDED_BY(mu_); accepted while hanging
  std::thread accepter_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> hanging_{false};
};

// ---------------------------------------------------------------------------
// A second private dockerd (tests/scheduler/second-engine), so that a drill
// can stop and restart an engine without touching the shared one.

class SecondEngine {
 public:
  SecondEngine() : dir_(short_dir("wp-e2")) { start(); }
  ~SecondEngine() { run("clean"); }
  SecondEngine(const SecondEngine&) = delete;
  SecondEngine& operator=(const SecondEngine&) = delete;

  std::string endpoint() const { return "unix://" + dir_ + "/docker.sock"; }
  void start() { REQUIRE(run("start") == 0); }
  void stop() { REQUIRE(run("stop") == 0); }
  // SIGKILL to its dockerd, by the pid in its pidfile: the engine is lost at
  // once, while the containerd it started (and the containers) may go on.
  void kill_dockerd() {
    std::ifstream pidfile(dir_ + "/dockerd.pid");
    int pid = 0;
    REQUIRE((pidfile >> pid));
    REQUIRE(pid > 1);
    REQUIRE(::kill(pid, SIGKILL) == 0);
  }

 private:
  int run(const std::string& command) {
    // The shared engine (the image's source) is the one the tests were given.
    const std::string shared = test::engine_options().endpoint;
    const std::string line = "DOCKER_HOST='" + shared + "' '" SECOND_ENGINE_SCRIPT "' " + command + " '" + dir_ +
                             "' " + test::kWorkerImage;
    return std::system(line.c_str());
  }
  const std::string dir_;
};

// ---------------------------------------------------------------------------
// A small tmpfs that can be filled up: the database on it cannot grow, so
// every write fails (SQLITE_FULL) while reads still work.

class SmallDisk {
 public:
  SmallDisk() : dir_(short_dir("wp-disk")) {
    std::filesystem::create_directories(dir_);
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0700") != 0)
      FAIL("mount tmpfs on " << dir_ << ": " << std::strerror(errno) << " (the drill needs root)");
  }
  ~SmallDisk() {
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    std::error_code ignored;
    std::filesystem::remove(dir_, ignored);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  const std::string& dir() const { return dir_; }

  // Writes a filler file until the disk is full.
  void fill() {
    const int fd = ::open(filler().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::vector<char> block(65536, 'x');
    for (std::size_t size = block.size(); size > 0; size /= 2)
      while (::write(fd, block.data(), size) == static_cast<ssize_t>(size)) {
      }
    ::close(fd);
  }
  void free() { ::unlink(filler().c_str()); }

 private:
  std::string filler() const { return dir_ + "/filler"; }
  const std::string dir_;
};

// ---------------------------------------------------------------------------
// `warmpool serve` as a child process, its output in a log file.

// At scope exit, removes what a drill's manager left: the containers with its
// manager label, its data directory and its log file.
struct Leftovers {
  engine::DockerEngine& engine;
  std::string manager_id, data_dir, log;
  ~Leftovers() {
    try {
      for (const auto& c : engine.list({{engine::kManagerLabel, manager_id}})) engine.remove(c.id);
    } catch (const std::exception&) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(data_dir, ignored);
    std::filesystem::remove(log, ignored);
  }
};

class ManagerProcess {
 public:
  ManagerProcess(std::vector<std::string> args, std::string log) : args_(std::move(args)), log_(std::move(log)) {}
  ~ManagerProcess() { terminate(); }
  ManagerProcess(const ManagerProcess&) = delete;
  ManagerProcess& operator=(const ManagerProcess&) = delete;

  void start() {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(WARMPOOL_BINARY));
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(out >= 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(WARMPOOL_BINARY, argv.data());
      ::_exit(127);
    }
    ::close(out);
    REQUIRE(pid_ > 0);
  }
  // SIGKILL: no clean-up of any kind.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void terminate() { stop(SIGTERM); }
  // Sends `signal` and waits up to `limit` for the exit: returns the exit
  // status (a signal's death as 128 + signal), or -1 after a SIGKILL
  // because it did not exit in time.
  int stop(int signal, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill9();
    return -1;
  }
  bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }

 private:
  std::vector<std::string> args_;
  const std::string log_;
  pid_t pid_ = -1;
};

// A free loopback TCP port (the kernel's pick; free when this returns).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace warmpool::drill
