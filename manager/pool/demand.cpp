#include "pool/demand.hpp"

#include <algorithm>
#include <cmath>

namespace warmpool {

namespace {
// Arrivals are counted in slots of this length: memory stays bounded by the
// long window, whatever the rate.
constexpr std::int64_t kSlotMs = 100;
// A burst that comes again at this share of the remembered one or more
// renews the memory: bursts of one kind vary in how tightly they arrive.
constexpr double kRenewShare = 0.5;
}  // namespace

std::optional<std::string> demand_settings_error(const DemandSettings& s) {
  if (s.floor < 0) return "--min-idle must not be negative";
  if (s.floor > s.ceiling) return "--min-idle (the floor) must not be above --max-idle (the ceiling)";
  if (s.floor > s.capacity) return "--min-idle must not be above --max-instances";
  if (s.running_floor < 0) return "--keep-running must not be negative";
  if (s.running_floor > s.capacity) return "--keep-running must not be above --max-instances";
  if (s.quiet_ms <= 0) return "--idle-shrink-s must be positive";
  return std::nullopt;
}

DemandModel::DemandModel(DemandSettings settings)
    : settings_(settings), lead_ms_(static_cast<double>(std::max<std::int64_t>(settings.lead_ms, 1))) {}

void DemandModel::arrive(std::int64_t now_ms) {
  // Times from several threads may come a little out of order: such an
  // arrival counts in the latest slot.
  const std::int64_t slot = std::max(now_ms / kSlotMs, arrivals_.empty() ? 0 : arrivals_.back().slot);
  ++arrivals_total_;
  last_arrival_ms_ = std::max(now_ms, last_arrival_ms_.value_or(now_ms));
  if (!arrivals_.empty() && arrivals_.back().slot == slot) ++arrivals_.back().count;
  else arrivals_.push_back({slot, 1});
  forget_before(now_ms);
  const double burst = arrivals_since(now_ms - static_cast<std::int64_t>(lead_ms_));
  const double remembered = decayed_peak(now_ms);
  if (burst >= remembered) {
    peak_ = burst;
    peak_ms_ = now_ms;
  } else if (burst > 1 && burst >= kRenewShare * remembered) {
    peak_ms_ = now_ms;  // the burst came again, if smaller: remembered as it was first seen
  }
}

void DemandModel::created(std::int64_t took_ms) {
  if (took_ms <= 0) return;
  lead_ms_ = 0.8 * lead_ms_ + 0.2 * static_cast<double>(took_ms);
}

int DemandModel::arrivals_since(std::int64_t from_ms) const {
  const std::int64_t from_slot = from_ms / kSlotMs;
  int n = 0;
  for (auto it = arrivals_.rbegin(); it != arrivals_.rend() && it->slot > from_slot; ++it) n += it->count;
  return n;
}

double DemandModel::decayed_peak(std::int64_t now_ms) const {
  if (peak_ <= 0) return 0;
  const double age = static_cast<double>(std::max<std::int64_t>(now_ms - peak_ms_, 0));
  return peak_ * std::exp2(-age / static_cast<double>(settings_.peak_half_life_ms));
}

void DemandModel::forget_before(std::int64_t now_ms) {
  const std::int64_t keep_ms = std::max(settings_.long_window_ms, settings_.quiet_ms);
  const std::int64_t oldest = (now_ms - keep_ms) / kSlotMs;
  while (!arrivals_.empty() && arrivals_.front().slot <= oldest) arrivals_.pop_front();
}

DemandSnapshot DemandModel::snapshot(std::int64_t now_ms) const {
  DemandSnapshot s;
  s.short_rate = arrivals_since(now_ms - settings_.short_window_ms) * 1000.0 /
                 static_cast<double>(settings_.short_window_ms);
  s.long_rate = arrivals_since(now_ms - settings_.long_window_ms) * 1000.0 /
                static_cast<double>(settings_.long_window_ms);
  s.peak = decayed_peak(now_ms);
  s.lead_ms = static_cast<std::int64_t>(lead_ms_);
  return s;
}

DemandTarget DemandModel::target(std::int64_t now_ms, int in_use) const {
  const DemandSnapshot s = snapshot(now_ms);
  const bool quiet = arrivals_since(now_ms - settings_.quiet_ms) == 0;
  DemandTarget t;
  int wanted = 0;
  if (!quiet) {
    const double lead_s = lead_ms_ / 1000.0;
    const double by_rate = std::max(s.short_rate, s.long_rate) * lead_s;
    t.forecast = std::max(by_rate, s.peak);
    // A rate is an average: the spare covers its ups. The peak is the most
    // ever seen within one lead time (decayed): it needs none.
    wanted = std::max(static_cast<int>(std::ceil(by_rate - 1e-9)) + settings_.spare,
                      static_cast<int>(std::ceil(s.peak - 1e-9)));
  }
  const int room = std::max(settings_.capacity - std::max(in_use, 0), 0);
  t.idle = std::min(std::clamp(wanted, settings_.floor, settings_.ceiling), room);
  const int soon = quiet ? 0
                         : static_cast<int>(std::floor(
                               arrivals_since(now_ms - settings_.running_window_ms) *
                                   static_cast<double>(settings_.running_horizon_ms) /
                                   static_cast<double>(std::max<std::int64_t>(settings_.running_window_ms, 1)) +
                               0.5));
  t.running = std::max(settings_.running_floor, std::min(soon, t.idle));
  return t;
}

void DemandTracker::arrive(std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  model_.arrive(now_ms);
}

void DemandTracker::created(std::int64_t took_ms) {
  std::lock_guard lock(mu_);
  model_.created(took_ms);
}

DemandTarget DemandTracker::target(std::int64_t now_ms, int in_use) const {
  std::lock_guard lock(mu_);
  return model_.target(now_ms, in_use);
}

DemandSnapshot DemandTracker::snapshot(std::int64_t now_ms) const {
  std::lock_guard lock(mu_);
  return model_.snapshot(now_ms);
}

std::uint64_t DemandTracker::arrivals_total() const {
  std::lock_guard lock(mu_);
  return model_.arrivals_total();
}

std::optional<std::int64_t> DemandTracker::last_arrival_ms() const {
  std::lock_guard lock(mu_);
  return model_.last_arrival_ms();
}

void DemandTracker::applied(const DemandTarget& target) {
  std::lock_guard lock(mu_);
  last_applied_ = target;
}

std::optional<DemandTarget> DemandTracker::last_applied() const {
  std::lock_guard lock(mu_);
  return last_applied_;
}

}  // namespace warmpool
