// Exponential back-off, as plain bookkeeping with `now` passed in: after the
// n-th failure in a row, wait base * 2^(n-1), never more than cap. Used for
// containers that cannot be removed and for failing scheduler ticks, so that
// a broken engine is not asked the same thing every period.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace warmpool {

// The wait after `failures` failures in a row (0 for none).
std::int64_t backoff_delay_ms(int failures, std::int64_t base_ms, std::int64_t cap_ms);

// Per-key back-off. Not thread-safe: the owner guards it.
class Backoff {
 public:
  Backoff(std::int64_t base_ms, std::int64_t cap_ms) : base_ms_(base_ms), cap_ms_(cap_ms) {}

  // Records a failure at now_ms; the key is not due again until the delay passed.
  void failed(const std::string& key, std::int64_t now_ms);
  // Forgets the key: it is due at once.
  void succeeded(const std::string& key) { entries_.erase(key); }
  // True when the key has no failure pending or its delay has passed.
  bool due(const std::string& key, std::int64_t now_ms) const;
  int failures(const std::string& key) const;

 private:
  struct Entry {
    int failures = 0;
    std::int64_t next_ms = 0;
  };
  std::int64_t base_ms_, cap_ms_;
  std::map<std::string, Entry> entries_;
};

}  // namespace warmpool
