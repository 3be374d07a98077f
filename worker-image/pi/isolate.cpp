// compute_isolated(): the computation in a forked child process.
//
// The parent maps one shared anonymous region before fork(): a header the
// child updates (progress, outcome, error text) followed by room for the
// digits. The parent polls the child and the cancel flag; a cancel is a
// SIGKILL, so it takes effect at once whatever GMP is doing, and the kernel
// takes the child's memory back.
//
// The child of a multi-threaded parent only has the forking thread. It uses
// malloc, GMP and new threads, which glibc supports after fork(), and it
// touches none of the parent's other state: it closes every inherited file
// descriptor above stderr first (listening sockets included) and leaves with
// _exit(), never running the parent's atexit handlers or destructors.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <system_error>
#include <thread>

#include "pi/context.hpp"
#include "pi/engine.hpp"

namespace warmpool::pi {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(5);

struct SharedHeader {
  Progress progress;
  std::atomic<int> outcome{0};  // 0 running, 1 done, 2 failed
  char error[512] = {};
};
static_assert(std::atomic<double>::is_always_lock_free, "progress must be shared without locks");
static_assert(std::atomic<int>::is_always_lock_free, "outcome must be shared without locks");

class SharedRegion {
 public:
  explicit SharedRegion(std::size_t digits_size) : size_(sizeof(SharedHeader) + digits_size) {
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "pi: map shared memory");
    base_ = static_cast<char*>(p);
    new (base_) SharedHeader();
  }
  ~SharedRegion() { munmap(base_, size_); }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;

  SharedHeader& header() { return *reinterpret_cast<SharedHeader*>(base_); }
  char* digits() { return base_ + sizeof(SharedHeader); }

 private:
  std::size_t size_;
  char* base_;
};

// Kills and reaps the child unless it was reaped already.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      reap();
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;

  // Returns true and fills status once the child has exited.
  bool poll(int& status) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return true;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      throw std::system_error(errno, std::generic_category(), "pi: wait for compute process");
    }
    return false;
  }

  void kill_and_reap() {
    kill(pid_, SIGKILL);
    reap();
  }

 private:
  void reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  pid_t pid_;
};

[[noreturn]] void run_child(pid_t parent, std::size_t digits, unsigned threads, std::size_t guard,
                            SharedRegion& region) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);
  close_range(3, ~0U, 0);
  SharedHeader& h = region.header();
  try {
    Context ctx(&h.progress, nullptr);
    std::string result = compute_here(digits, threads, guard, ctx);
    std::memcpy(region.digits(), result.data(), result.size());
    h.outcome.store(1, std::memory_order_release);
    _exit(0);
  } catch (const std::exception& e) {
    std::strncpy(h.error, e.what(), sizeof(h.error) - 1);
  } catch (...) {
    std::strncpy(h.error, "pi: unknown error in compute process", sizeof(h.error) - 1);
  }
  h.outcome.store(2, std::memory_order_release);
  _exit(1);
}

std::string describe_exit(int status, const SharedHeader& h) {
  if (WIFEXITED(status)) {
    if (h.error[0] != '\0') return std::string(h.error, strnlen(h.error, sizeof(h.error)));
    return "pi: compute process exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    std::string msg = "pi: compute process killed by signal " + std::to_string(sig);
    if (sig == SIGKILL) msg += " (out of memory?)";
    return msg;
  }
  return "pi: compute process ended abnormally";
}

}  // namespace

std::string compute_isolated(std::size_t digits, unsigned threads, std::size_t guard_digits, Progress* progress,
                             const std::atomic<bool>* cancel) {
  const std::size_t size = digits + 2;
  SharedRegion region(size);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "pi: fork compute process");
  if (pid == 0) run_child(parent, digits, threads, guard_digits, region);

  ChildGuard child(pid);
  SharedHeader& h = region.header();
  int status = 0;
  for (;;) {
    if (child.poll(status)) break;
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      child.kill_and_reap();
      throw Cancelled();
    }
    if (progress != nullptr) progress->advance_to(h.progress.fraction());
    std::this_thread::sleep_for(kPollInterval);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || h.outcome.load(std::memory_order_acquire) != 1) {
    throw std::runtime_error(describe_exit(status, h));
  }
  std::string result(region.digits(), size);
  if (progress != nullptr) progress->advance_to(1.0);
  return result;
}

}  // namespace warmpool::pi
