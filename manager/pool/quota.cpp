// Quotas: a client holds at most the pool's quota of current allocations
// in this pool, and at most the overall quota in every pool together.
#include "metrics/metrics.hpp"
#include "pool/pool.hpp"
#include "store/quotas.hpp"

namespace warmpool {

namespace {

std::string quota_message(const std::string& client, const std::string& pool, QuotaScope scope, int quota,
                          int current) {
  return "client \"" + client + "\" holds " + std::to_string(current) + " current allocation" +
         (current == 1 ? "" : "s") + (scope == QuotaScope::Pool ? " in pool " + pool : " in all pools") +
         ", its " + (scope == QuotaScope::Pool ? "" : "overall ") + "quota is " + std::to_string(quota) +
         "; release one (DELETE /allocations/{id}) first";
}

}  // namespace

AllocateError::AllocateError(const std::string& client, const std::string& pool, QuotaScope scope, int quota,
                             int current)
    : std::runtime_error(quota_message(client, pool, scope, quota, current)),
      kind_(Kind::OverQuota),
      scope_(scope),
      quota_(quota),
      current_(current) {}

// Over a quota, a client is refused before any instance is claimed. The
// counts are taken again in the transaction that records the allocation
// (commit), so two racing requests cannot both pass.
void Pool::check_quota(const std::string& client) {
  try {
    check_client_quotas(client, settings().name, quotas(),
                        [&](const std::string& pool) { return store_.current_allocations_of_client(client, pool); });
  } catch (const OverQuota& e) {
    if (metrics_) metrics_->count_quota_refusal(settings().name);
    throw AllocateError(client, settings().name, e.scope(), e.quota(), e.current());
  }
}

}  // namespace warmpool
