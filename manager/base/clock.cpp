#include "base/clock.hpp"

#include <chrono>

namespace warmpool {

std::int64_t SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {
class RealSteadyClock final : public SteadyClock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};
}  // namespace

const SteadyClock& SteadyClock::real() {
  static const RealSteadyClock clock;
  return clock;
}

}  // namespace warmpool
