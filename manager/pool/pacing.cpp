#include "pool/pacing.hpp"

#include <algorithm>
#include <cmath>

namespace warmpool {

RefillPacer::RefillPacer(RefillPace pace) : pace_(pace), tokens_(capacity()) {}

double RefillPacer::capacity() const { return std::max(pace_.per_s, 1.0); }

bool RefillPacer::burst_on(std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms,
                           int waiting) const {
  return waiting > 0 || (last_arrival_ms && now_ms - *last_arrival_ms < pace_.calm_after_ms);
}

void RefillPacer::refill_to(std::int64_t now_ms) {
  if (last_ms_ && now_ms > *last_ms_)
    tokens_ = std::min(capacity(), tokens_ + pace_.per_s * static_cast<double>(now_ms - *last_ms_) / 1000.0);
  if (!last_ms_ || now_ms > *last_ms_) last_ms_ = now_ms;
}

int RefillPacer::allow(int wanted, std::int64_t now_ms, std::optional<std::int64_t> last_arrival_ms,
                       int waiting) {
  if (wanted <= 0) return 0;
  if (pace_.per_s <= 0) return wanted;
  refill_to(now_ms);
  int allowed = wanted;
  if (!burst_on(now_ms, last_arrival_ms, waiting))
    allowed = std::min(wanted, static_cast<int>(std::floor(tokens_ + 1e-9)));
  tokens_ = std::max(tokens_ - allowed, 0.0);
  return allowed;
}

}  // namespace warmpool
