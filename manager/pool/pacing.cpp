#include "pool/pacing.hpp"

#include <algorithm>
#include <cmath>

namespace warmpool {

TokenBucket::TokenBucket(double per_s) : per_s_(per_s), tokens_(capacity()) {}

double TokenBucket::capacity() const { return std::max(per_s_, 1.0); }

void TokenBucket::refill_to(std::int64_t now_ms) {
  if (last_ms_ && now_ms > *last_ms_)
    tokens_ = std::min(capacity(), tokens_ + per_s_ * static_cast<double>(now_ms - *last_ms_) / 1000.0);
  if (!last_ms_ || now_ms > *last_ms_) last_ms_ = now_ms;
}

int TokenBucket::take(int wanted, std::int64_t now_ms) {
  if (wanted <= 0) return 0;
  if (per_s_ <= 0) return wanted;
  refill_to(now_ms);
  const int allowed = std::min(wanted, static_cast<int>(std::floor(tokens_ + 1e-9)));
  tokens_ -= allowed;
  return allowed;
}

void TokenBucket::spend(int n, std::int64_t now_ms) {
  if (n <= 0 || per_s_ <= 0) return;
  refill_to(now_ms);
  tokens_ = std::max(tokens_ - n, 0.0);
}

bool RefillPacer::burst_on(std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms,
                           int waiting) const {
  return waiting > 0 || (last_arrival_ms && now_ms - *last_arrival_ms < pace_.calm_after_ms);
}

int RefillPacer::allow(int wanted, std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms,
                       int waiting) {
  if (!burst_on(now_ms, last_arrival_ms, waiting)) return bucket_.take(wanted, now_ms);
  bucket_.spend(wanted, now_ms);
  return std::max(wanted, 0);
}

}  // namespace warmpool
