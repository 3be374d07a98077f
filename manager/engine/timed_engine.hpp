// An Engine that times every call of another and reports it, so that the
// manager's metrics show what the engine costs without the Docker client
// knowing about metrics. The event stream is passed through untimed: it
// lasts as long as its caller wants.
//
// Thread-safe if `inner` and `observe` are.
#pragma once

#include <functional>
#include <string>

#include "engine/engine.hpp"

namespace warmpool::engine {

class TimedEngine final : public Engine {
 public:
  // observe(operation, ok, seconds) runs after each call, also when it threw.
  using Observer = std::function<void(const std::string& operation, bool ok, double seconds)>;

  TimedEngine(Engine& inner, Observer observe) : inner_(inner), observe_(std::move(observe)) {}

  EngineVersion version() override;
  std::string create(const ContainerSpec& spec) override;
  void start(const std::string& id) override;
  void pause(const std::string& id) override;
  void unpause(const std::string& id) override;
  void stop(const std::string& id, std::chrono::seconds grace) override;
  void kill(const std::string& id, const std::string& signal = "KILL") override;
  void remove(const std::string& id) override;
  ContainerInfo inspect(const std::string& id) override;
  std::vector<ContainerInfo> list(const Labels& match) override;
  bool image_exists(const std::string& image) override;
  void watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                    std::stop_token stop) override;

 private:
  template <typename Call>
  auto timed(const char* operation, Call call) -> decltype(call());

  Engine& inner_;
  Observer observe_;
};

}  // namespace warmpool::engine
