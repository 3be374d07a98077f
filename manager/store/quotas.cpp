#include "store/quotas.hpp"

namespace warmpool {

const char* to_string(QuotaScope scope) { return scope == QuotaScope::Overall ? "overall" : "pool"; }

void check_client_quotas(const std::string& client, const std::string& pool, ClientQuotas quotas,
                         const std::function<int(const std::string& pool)>& count) {
  auto check = [&](QuotaScope scope, int quota, const std::string& where) {
    if (quota <= 0) return;
    const int held = count(where);
    if (held < quota) return;
    throw OverQuota("allocate: client \"" + client + "\" holds " + std::to_string(held) + " of " +
                        std::to_string(quota) + (scope == QuotaScope::Pool ? " in pool " + pool : " overall"),
                    scope, quota, held);
  };
  check(QuotaScope::Pool, quotas.pool, pool);
  check(QuotaScope::Overall, quotas.overall, {});
}

}  // namespace warmpool
