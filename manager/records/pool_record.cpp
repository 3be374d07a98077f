#include "records/pool_record.hpp"

namespace warmpool {

const char* to_string(PoolState state) {
  return state == PoolState::Draining ? "draining" : "active";
}

std::optional<PoolState> pool_state_from(std::string_view name) {
  for (auto s : {PoolState::Active, PoolState::Draining})
    if (name == to_string(s)) return s;
  return std::nullopt;
}

namespace {
bool lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
}  // namespace

// The name goes into container labels, metric labels and URLs: a small
// alphabet keeps it safe in all three without escaping.
std::optional<std::string> pool_name_refusal(std::string_view name) {
  const std::string rule = "a pool name is 1 to 63 characters of a-z, 0-9 and '-', not starting with '-'";
  if (name.empty() || name.size() > 63) return rule;
  if (!lower_or_digit(name.front())) return rule;
  for (char c : name)
    if (!lower_or_digit(c) && c != '-') return rule;
  return std::nullopt;
}

}  // namespace warmpool
