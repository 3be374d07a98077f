// The quota check both stores run inside allocate()'s transaction: one
// rule, so SQLite and PostgreSQL refuse alike and say the same.
#pragma once

#include <functional>
#include <string>

#include "store/store.hpp"

namespace warmpool {

// Throws OverQuota when `client` holds quotas.pool current allocations in
// `pool`, or quotas.overall in every pool (in that order). `count(pool)`
// counts the client's current allocations in one pool, or in every pool
// for an empty name; it is called only for the quotas that are set.
void check_client_quotas(const std::string& client, const std::string& pool, ClientQuotas quotas,
                         const std::function<int(const std::string& pool)>& count);

}  // namespace warmpool
