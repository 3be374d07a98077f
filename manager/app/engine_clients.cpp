#include "app/engine_clients.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "app/app.hpp"

namespace warmpool {

EngineClients::EngineClients(const Config& config, engine::Engine& first, engine::TimedEngine::Observer observe,
                             Store& store)
    : set(engine::placement_from(config.placement).value_or(engine::Placement::Spread)),
      config_(config),
      observe_(std::move(observe)) {
  const auto specs = engine_specs(config);
  std::set<std::string> flag_names;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    set.add({specs[i].name, i == 0 ? &first : &connect(specs[i]), specs[i].endpoint, specs[i].capacity,
             specs[i].weight});
    flag_names.insert(specs[i].name);
  }
  for (const EngineRecord& r : store.engines()) {
    if (flag_names.count(r.name)) {
      spdlog::warn("engine {}: recorded through the API, but --engine gives an engine of that name: the flag's "
                   "is used", r.name);
      continue;
    }
    const engine::EngineSpec spec{r.name, r.endpoint, r.capacity, r.weight, {r.tls_ca, r.tls_cert, r.tls_key}};
    set.add({spec.name, &connect(spec), spec.endpoint, spec.capacity, spec.weight});
    spdlog::info("engine {} at {}: recorded through the API", r.name, r.endpoint);
  }
}

engine::Engine& EngineClients::connect(const engine::EngineSpec& spec) {
  std::lock_guard lock(mu_);
  dockers_.push_back(std::make_unique<engine::DockerEngine>(engine_options(config_, spec)));
  timed_.push_back(std::make_unique<engine::TimedEngine>(*dockers_.back(), observe_));
  return *timed_.back();
}

}  // namespace warmpool
