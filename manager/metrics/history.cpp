#include "metrics/history.hpp"

#include "base/text.hpp"

namespace warmpool {

void History::add(const HistorySample& sample) {
  std::lock_guard lock(mu_);
  samples_.push_back(sample);
  while (!samples_.empty() && samples_.front().at_ms < sample.at_ms - span_ms_) samples_.pop_front();
}

nlohmann::json History::to_json() const {
  nlohmann::json samples = nlohmann::json::array();
  std::lock_guard lock(mu_);
  for (const auto& s : samples_)
    samples.push_back({{"at", iso8601(s.at_ms)},
                       {"arrivalsPerSecond", s.arrivals_per_s},
                       {"inUse", s.in_use},
                       {"idleRunning", s.idle_running},
                       {"idlePaused", s.idle_paused},
                       {"targetIdle", s.target_idle},
                       {"handOutP50Ms", s.hand_out_p50_ms},
                       {"handOutP99Ms", s.hand_out_p99_ms}});
  return {{"spanSeconds", span_ms_ / 1000}, {"samples", std::move(samples)}};
}

}  // namespace warmpool
