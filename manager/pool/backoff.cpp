#include "pool/backoff.hpp"

#include <algorithm>

namespace warmpool {

std::int64_t backoff_delay_ms(int failures, std::int64_t base_ms, std::int64_t cap_ms) {
  if (failures <= 0) return 0;
  std::int64_t delay = base_ms;
  for (int k = 1; k < failures && delay < cap_ms; ++k) delay *= 2;
  return std::min(delay, cap_ms);
}

void Backoff::failed(const std::string& key, std::int64_t now_ms) {
  Entry& e = entries_[key];
  ++e.failures;
  e.next_ms = now_ms + backoff_delay_ms(e.failures, base_ms_, cap_ms_);
}

bool Backoff::due(const std::string& key, std::int64_t now_ms) const {
  auto e = entries_.find(key);
  return e == entries_.end() || now_ms >= e->second.next_ms;
}

int Backoff::failures(const std::string& key) const {
  auto e = entries_.find(key);
  return e == entries_.end() ? 0 : e->second.failures;
}

}  // namespace warmpool
