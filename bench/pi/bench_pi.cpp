// bench_pi: our pi engine on 1 and 2 threads against MPFR, in one run.
//
// Each measurement runs in its own forked child, so the peak RSS reported
// (ru_maxrss from wait4) belongs to that run alone. Every child also hashes
// its digits, and the parent checks that all runs for a digit count agree.
//
//   bench_pi [--digits N]... [--threads T]... [--repeat R]
//   default: 10^6 and 10^7 digits; 1 and 2 threads; each run once. With
//   R > 1 the runs are interleaved R times and the fastest of each is kept,
//   which is what a shared, busy machine needs.
#include <mpfr.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "pi/pi.hpp"

namespace {

struct Outcome {
  bool ok = false;
  double seconds = 0;
  long peak_rss_kb = 0;
  std::uint64_t hash = 0;
};

std::uint64_t fnv1a(const char* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

// "3.1415..." with `digits` digits after the point, truncated, from MPFR.
std::string mpfr_digits(std::size_t digits) {
  auto bits = static_cast<mpfr_prec_t>(static_cast<double>(digits) * 3.321928094887362 + 64);
  mpfr_t x;
  mpfr_init2(x, bits);
  mpfr_const_pi(x, MPFR_RNDZ);
  mpfr_exp_t exp = 0;
  char* s = mpfr_get_str(nullptr, &exp, 10, digits + 1, x, MPFR_RNDZ);
  std::string out = std::string("3.") + (s + 1);
  mpfr_free_str(s);
  mpfr_clear(x);
  return out;
}

// Keeps in best the faster of two successful runs; a failed run spoils it.
void keep_fastest(Outcome& best, const Outcome& run) {
  if (!run.ok) {
    best.ok = false;
    return;
  }
  if (best.seconds == 0 || run.seconds < best.seconds) {
    best.seconds = run.seconds;
    best.peak_rss_kb = run.peak_rss_kb;
  }
  if (best.hash == 0) {
    best.ok = true;
    best.hash = run.hash;
  } else if (best.hash != run.hash) {
    best.ok = false;
  }
}

// Runs body() in a child; the child reports time and hash through a pipe.
template <typename Body>
Outcome run_in_child(Body body) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto start = std::chrono::steady_clock::now();
    std::string digits = body();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::uint64_t hash = fnv1a(digits.data(), digits.size());
    char line[128];
    int n = std::snprintf(line, sizeof(line), "%.6f %llu\n", seconds, static_cast<unsigned long long>(hash));
    if (write(fds[1], line, static_cast<std::size_t>(n)) != n) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Outcome out;
  char buf[128] = {};
  ssize_t got = read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  unsigned long long hash = 0;
  if (got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
      std::sscanf(buf, "%lf %llu", &out.seconds, &hash) == 2) {
    out.ok = true;
    out.hash = hash;
    out.peak_rss_kb = usage.ru_maxrss;
  }
  return out;
}

// The first three fields of /proc/loadavg: the machine may be shared, and
// ratios measured on a busy machine mean less.
std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "unknown";
  double a = 0;
  double b = 0;
  double c = 0;
  int n = std::fscanf(f, "%lf %lf %lf", &a, &b, &c);
  std::fclose(f);
  if (n != 3) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f %.2f %.2f", a, b, c);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_pi: pi engine vs MPFR (mpfr_const_pi + mpfr_get_str), measured in one run"};
  std::vector<std::size_t> digit_counts{1'000'000, 10'000'000};
  std::vector<unsigned> thread_counts{1, 2};
  bool skip_mpfr = false;
  unsigned repeat = 1;
  app.add_option("--digits", digit_counts, "Digit counts to measure")->capture_default_str();
  app.add_option("--threads", thread_counts, "Thread counts for our engine")->capture_default_str();
  app.add_flag("--skip-mpfr", skip_mpfr, "Measure only our engine");
  app.add_option("--repeat", repeat, "Runs of each measurement; the fastest is reported")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100u));
  CLI11_PARSE(app, argc, argv);

  std::printf("load average before: %s\n", load_average().c_str());
  std::printf("| digits | ");
  for (unsigned t : thread_counts) std::printf("ours %uT s | ", t);
  std::printf("MPFR s | ");
  for (unsigned t : thread_counts) std::printf("ours %uT / MPFR | ", t);
  std::printf("peak RSS MB (");
  for (unsigned t : thread_counts) std::printf("%uT, ", t);
  std::printf("MPFR) | same digits |\n|---|");
  for (std::size_t i = 0; i < 2 * thread_counts.size() + 3; ++i) std::printf("---|");
  std::printf("\n");
  std::fflush(stdout);

  int failures = 0;
  for (std::size_t digits : digit_counts) {
    std::vector<Outcome> ours(thread_counts.size());
    Outcome mpfr;
    bool all_ran = true;
    for (unsigned r = 0; r < repeat; ++r) {
      for (std::size_t i = 0; i < thread_counts.size(); ++i) {
        const unsigned t = thread_counts[i];
        Outcome o = run_in_child([digits, t] {
          warmpool::pi::Options options;
          options.threads = t;
          options.max_digits = digits;
          return warmpool::pi::compute(digits, options);
        });
        all_ran = all_ran && o.ok;
        keep_fastest(ours[i], o);
      }
      if (!skip_mpfr) {
        Outcome o = run_in_child([digits] { return mpfr_digits(digits); });
        all_ran = all_ran && o.ok;
        keep_fastest(mpfr, o);
      }
    }

    bool same = all_ran;
    for (const Outcome& o : ours) same = same && o.ok && o.hash == ours.front().hash;
    if (mpfr.ok) same = same && mpfr.hash == ours.front().hash;
    if (!same) ++failures;

    std::printf("| %zu | ", digits);
    for (const Outcome& o : ours) std::printf("%.2f | ", o.seconds);
    if (mpfr.ok) {
      std::printf("%.2f | ", mpfr.seconds);
      for (const Outcome& o : ours) std::printf("%.2f | ", o.seconds / mpfr.seconds);
    } else {
      std::printf("- | ");
      for (std::size_t i = 0; i < ours.size(); ++i) std::printf("- | ");
    }
    for (const Outcome& o : ours) std::printf("%.0f, ", static_cast<double>(o.peak_rss_kb) / 1024.0);
    if (mpfr.ok) {
      std::printf("%.0f | ", static_cast<double>(mpfr.peak_rss_kb) / 1024.0);
    } else {
      std::printf("- | ");
    }
    std::printf("%s |\n", same ? "yes" : "NO");
    std::fflush(stdout);
  }
  std::printf("load average after: %s\n", load_average().c_str());
  return failures == 0 ? 0 : 1;
}
