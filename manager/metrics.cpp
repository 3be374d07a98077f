#include "metrics.hpp"

#include <sstream>

#include <prometheus/text_serializer.h>

#include "queue/lanes.hpp"
#include "store/store.hpp"

namespace warmpool {

namespace {
// Hand-outs cost milliseconds; slow ones wait for a create (about a second).
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      allocate_seconds_(prometheus::BuildHistogram()
                            .Name("warmpool_allocate_seconds")
                            .Help("Time to answer POST /allocations, by outcome")
                            .Register(*registry_)),
      requests_(prometheus::BuildCounter()
                    .Name("warmpool_http_requests_total")
                    .Help("HTTP requests, by method and status class")
                    .Register(*registry_)),
      instances_(prometheus::BuildGauge()
                     .Name("warmpool_instances")
                     .Help("Live instances, by state")
                     .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("warmpool_queue_depth")
                       .Help("Tasks waiting in a lane")
                       .Register(*registry_)),
      queue_tasks_(prometheus::BuildGauge()
                       .Name("warmpool_queue_tasks")
                       .Help("Tasks a lane has finished, by outcome (completed, expired, rejected)")
                       .Register(*registry_)),
      restarts_(prometheus::BuildGauge()
                    .Name("warmpool_instance_restarts")
                    .Help("Restarts of live instances since their last successful hand-out")
                    .Register(*registry_)) {}

void Metrics::observe_allocate(const std::string& outcome, double seconds) {
  allocate_seconds_.Add({{"outcome", outcome}}, kLatencyBuckets).Observe(seconds);
}

void Metrics::count_request(const std::string& method, int status) {
  requests_.Add({{"method", method}, {"code", std::to_string(status / 100) + "xx"}}).Increment();
}

std::string Metrics::render(Store& store, Lanes& lanes) {
  for (int s = 0; s < 8; ++s)
    instances_.Add({{"state", to_string(static_cast<InstanceState>(s))}}).Set(0);
  double restarts = 0;
  for (const auto& i : store.instances(Show::Current)) {
    instances_.Add({{"state", to_string(i.state)}}).Increment();
    restarts += i.restarts;
  }
  restarts_.Add({}).Set(restarts);
  for (Lane lane : {Lane::High, Lane::Normal}) {
    const auto stats = lanes.stats(lane);
    const std::string name = to_string(lane);
    queue_depth_.Add({{"lane", name}}).Set(static_cast<double>(stats.queued));
    queue_tasks_.Add({{"lane", name}, {"outcome", "completed"}}).Set(static_cast<double>(stats.completed));
    queue_tasks_.Add({{"lane", name}, {"outcome", "expired"}}).Set(static_cast<double>(stats.expired));
    queue_tasks_.Add({{"lane", name}, {"outcome", "rejected"}}).Set(static_cast<double>(stats.rejected));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace warmpool
