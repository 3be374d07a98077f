#include "demand/traces.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace warmpool::bench {

namespace {

double uniform(std::mt19937& r, double lo, double hi) { return std::uniform_real_distribution<>(lo, hi)(r); }

std::vector<Session> steady(std::mt19937& r, double length) {
  std::vector<Session> out;
  std::exponential_distribution<> gap(0.5);
  for (double t = gap(r); t < length; t += gap(r)) out.push_back({t, uniform(r, 5, 30)});
  return out;
}

std::vector<Session> bursty(std::mt19937& r, double length) {
  std::vector<Session> out;
  for (double t = 0; t < length; t += 2) out.push_back({t, uniform(r, 1, 3)});
  for (double t = uniform(r, 30, 60); t < length - 20; t += uniform(r, 80, 160)) {
    const int n = std::uniform_int_distribution<>(12, 16)(r);
    const double span = uniform(r, 2, 3);
    for (int k = 0; k < n; ++k) out.push_back({t + uniform(r, 0, span), uniform(r, 10, 20)});
  }
  return out;
}

// Arrivals of a Poisson process whose rate follows the hour of a day
// compressed to 60 s an hour (thinning under the peak rate).
std::vector<Session> daily(std::mt19937& r) {
  std::vector<Session> out;
  const double peak = 0.6;
  std::exponential_distribution<> gap(peak);
  for (double t = gap(r); t < 1440; t += gap(r)) {
    const double hour = t / 60;
    const double rate = hour < 4 ? 0 : peak * std::pow(std::sin(M_PI * (hour - 4) / 20), 2);
    if (uniform(r, 0, peak) < rate) out.push_back({t, uniform(r, 5, 60)});
  }
  return out;
}

}  // namespace

std::vector<Session> generate_trace(const std::string& kind, unsigned seed, double length_s) {
  std::mt19937 random(seed);
  std::vector<Session> out;
  if (kind == "steady") out = steady(random, length_s);
  else if (kind == "bursty") out = bursty(random, length_s);
  else if (kind == "daily") out = daily(random);
  else throw std::invalid_argument("unknown trace kind \"" + kind + "\" (steady, bursty, daily)");
  std::sort(out.begin(), out.end(), [](const Session& a, const Session& b) { return a.arrival_s < b.arrival_s; });
  return out;
}

}  // namespace warmpool::bench
