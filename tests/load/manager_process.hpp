// `warmpool serve` as a child process, so that a test sees it as an operator
// does: its own address space (VmRSS in /proc/<pid>/status), its own threads,
// its log in a file. The child is stopped by its pid only (SIGTERM, then
// SIGKILL after a grace period), and dies with the test process if that is
// killed first (PR_SET_PDEATHSIG), so a ctest timeout leaves no manager behind.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace warmpool::test {

// A loopback port nobody listens on right now (the kernel's choice).
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("bind to a free loopback port: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One field of /proc/<pid>/status in kB (VmRSS, VmHWM) or as a count
// (Threads); nullopt when the process or the field is gone.
inline std::optional<long> proc_status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string key = field + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return std::nullopt;
}

// User plus system CPU time the process has used, in seconds; nullopt when gone.
inline std::optional<double> proc_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int k = 3; k <= 15 && fields >> field; ++k)
    if (k >= 14) ticks += std::stod(field);  // utime, stime
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class ManagerProcess {
 public:
  // Starts `bin args...` with stdout and stderr appended to `log`.
  ManagerProcess(const std::string& bin, const std::vector<std::string>& args,
                 const std::filesystem::path& log)
      : log_(log) {
    // Everything the child needs is made before fork(): after it, only
    // async-signal-safe calls.
    std::vector<std::string> words{bin};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const std::string log_path = log.string();
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);  // the test died before prctl
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
  }

  ~ManagerProcess() { stop(); }
  ManagerProcess(const ManagerProcess&) = delete;
  ManagerProcess& operator=(const ManagerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // False once the child has exited (it is reaped here).
  bool alive() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
    }
    return !exited_;
  }

  // SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the
  // wait status. Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(15)) {
    if (pid_ <= 0 || !alive()) return status_;
    ::kill(pid_, SIGTERM);
    const auto give_up = std::chrono::steady_clock::now() + grace;
    while (alive() && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (alive()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      exited_ = true;
    }
    return status_;
  }

  // The last `bytes` of the child's log, for failure messages.
  std::string log_tail(std::size_t bytes = 4000) const {
    std::ifstream in(log_);
    std::stringstream all;
    all << in.rdbuf();
    const std::string s = all.str();
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

}  // namespace warmpool::test
