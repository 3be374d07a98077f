// The pi engine: exact decimal digits of pi by the Chudnovsky series.
//
//   warmpool::pi::Options options;             // threads = all cores
//   std::string digits = warmpool::pi::compute(1000, options);
//   // digits == "3.1415926535...", 1000 digits after the point
//
// Thread-safety: compute() may be called from several threads at once; each
// call owns all of its state. A Progress may be read from any thread while
// the computation it was given to is running.
#ifndef WARMPOOL_PI_PI_HPP_
#define WARMPOOL_PI_PI_HPP_

#include <atomic>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace warmpool::pi {

// The largest digit count a default Options accepts.
inline constexpr std::size_t kDefaultMaxDigits = 100'000'000;

struct Options {
  // Threads used for the series and the decimal conversion; 0 means one per
  // hardware thread. The digits do not depend on this value.
  unsigned threads = 0;

  // compute() rejects digit counts above this cap.
  std::size_t max_digits = kDefaultMaxDigits;

  // When true, the computation runs in a child process (fork without exec)
  // that the caller's thread supervises. A cancel then kills the child, so
  // compute() returns within milliseconds and the memory is returned at once,
  // whatever size the computation had reached; a crash or an out-of-memory
  // kill of the child becomes a std::runtime_error instead of ending the
  // caller. When false, the computation runs on threads of this process and a
  // cancel is noticed between arithmetic operations: within a fraction of a
  // second up to ~10^7 digits, but only within seconds at 10^8, where one
  // multiplication or division of the largest numbers takes that long.
  bool isolate = false;

  // Extra precision, in decimal digits, that every piece of the decimal
  // conversion carries to decide its digits; 0 picks the default (20). The
  // result never depends on it: where the extra precision cannot decide a
  // digit (a long run of 9s or 0s after it), compute() retries with more.
  // Tests set it small to exercise that path.
  std::size_t guard_digits = 0;
};

// How far a computation has got, as a fraction that never decreases.
class Progress {
 public:
  // A number in [0, 1]; 1 once the digits are ready.
  double fraction() const noexcept { return fraction_.load(std::memory_order_relaxed); }

  // Raises the fraction to f if f is larger; smaller values are ignored so
  // the fraction only grows. Used by the engine.
  void advance_to(double f) noexcept;

 private:
  std::atomic<double> fraction_{0.0};
};

// Thrown by compute() when *cancel became true before it finished.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("pi: computation cancelled") {}
};

// Returns "3." followed by exactly `digits` decimal digits of pi, truncated
// (never rounded): the first digits + 2 characters of pi's expansion.
//
// Throws std::invalid_argument if digits is 0 or above options.max_digits;
// pi::Cancelled if *cancel (when given) becomes true before the result is
// ready; std::bad_alloc when memory runs out in-process; std::runtime_error
// when an isolated child process fails (for example, killed for memory).
// If progress is given, it is advanced while the computation runs and set to
// 1 before compute() returns the digits.
std::string compute(std::size_t digits, const Options& options, Progress* progress = nullptr,
                    const std::atomic<bool>* cancel = nullptr);

// Checks a digit count against options.max_digits without computing.
// Returns an empty string if compute() would accept it, else the message
// that compute()'s std::invalid_argument would carry.
std::string validate_digits(std::size_t digits, const Options& options);

// The number of threads compute() uses for these options (resolves 0).
unsigned effective_threads(const Options& options) noexcept;

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_PI_HPP_
