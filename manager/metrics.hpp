// Prometheus metrics (prometheus-cpp), served at GET /metrics (admin).
// Counters and histograms are updated where things happen; gauges that
// mirror records (instances by state, queue depths) are read at scrape time.
//
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace warmpool {

class Lanes;
class Store;

class Metrics {
 public:
  Metrics();

  // One POST /allocations, by outcome: "201", "429", "503".
  void observe_allocate(const std::string& outcome, double seconds);
  // One HTTP request, by method and status class ("2xx", "4xx", ...).
  void count_request(const std::string& method, int status);

  // The Prometheus text exposition, gauges refreshed from the sources.
  std::string render(Store& store, Lanes& lanes);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& allocate_seconds_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Gauge>& instances_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& queue_tasks_;
  prometheus::Family<prometheus::Gauge>& restarts_;
};

}  // namespace warmpool
