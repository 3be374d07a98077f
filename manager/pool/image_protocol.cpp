#include "pool/image_protocol.hpp"

#include <array>
#include <utility>

namespace warmpool {

namespace {
constexpr std::array<std::pair<HealthCheck, const char*>, 3> kHealth = {
    {{HealthCheck::Worker, "worker"}, {HealthCheck::Http, "http"}, {HealthCheck::Tcp, "tcp"}}};
constexpr std::array<std::pair<ResetMethod, const char*>, 3> kReset = {
    {{ResetMethod::Worker, "worker"}, {ResetMethod::Restart, "restart"}, {ResetMethod::Recreate, "recreate"}}};
}  // namespace

const char* to_string(HealthCheck check) {
  for (const auto& [value, name] : kHealth)
    if (value == check) return name;
  return "unknown";
}

const char* to_string(ResetMethod method) {
  for (const auto& [value, name] : kReset)
    if (value == method) return name;
  return "unknown";
}

std::optional<HealthCheck> health_check_from(std::string_view name) {
  for (const auto& [value, text] : kHealth)
    if (name == text) return value;
  return std::nullopt;
}

std::optional<ResetMethod> reset_method_from(std::string_view name) {
  for (const auto& [value, text] : kReset)
    if (name == text) return value;
  return std::nullopt;
}

std::optional<std::string> protocol_refusal(const ImageProtocol& protocol) {
  if (protocol.reset == ResetMethod::Worker && !protocol.speaks_worker())
    return std::string("the reset `worker` needs the health check `worker` (an image that serves /reset "
                       "serves /ping); use the reset `restart` or `recreate`");
  if (protocol.health == HealthCheck::Http &&
      (protocol.health_path.empty() || protocol.health_path.front() != '/' ||
       protocol.health_path.find_first_of(" \t\r\n#") != std::string::npos))
    return std::string("the http health check's path must start with / and hold no space or #");
  return std::nullopt;
}

std::vector<HandOutStep> hand_out_steps(const ImageProtocol& protocol, InstanceState was) {
  std::vector<HandOutStep> steps;
  if (was == InstanceState::Paused) steps.push_back(HandOutStep::Unpause);
  if (protocol.reset == ResetMethod::Worker) steps.push_back(HandOutStep::WorkerReset);
  if (protocol.speaks_worker()) steps.push_back(HandOutStep::WorkerInit);
  steps.push_back(HandOutStep::HealthCheck);
  return steps;
}

}  // namespace warmpool
