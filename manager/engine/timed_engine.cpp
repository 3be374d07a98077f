#include "engine/timed_engine.hpp"

#include <chrono>
#include <type_traits>

namespace warmpool::engine {

template <typename Call>
auto TimedEngine::timed(const char* operation, Call call) -> decltype(call()) {
  const auto started = std::chrono::steady_clock::now();
  auto report = [&](bool ok) {
    if (observe_)
      observe_(operation, ok, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  };
  try {
    if constexpr (std::is_void_v<decltype(call())>) {
      call();
      report(true);
    } else {
      auto result = call();
      report(true);
      return result;
    }
  } catch (...) {
    report(false);
    throw;
  }
}

EngineVersion TimedEngine::version() {
  return timed("version", [&] { return inner_.version(); });
}
std::string TimedEngine::create(const ContainerSpec& spec) {
  return timed("create", [&] { return inner_.create(spec); });
}
void TimedEngine::start(const std::string& id) {
  timed("start", [&] { inner_.start(id); });
}
void TimedEngine::pause(const std::string& id) {
  timed("pause", [&] { inner_.pause(id); });
}
void TimedEngine::unpause(const std::string& id) {
  timed("unpause", [&] { inner_.unpause(id); });
}
void TimedEngine::stop(const std::string& id, std::chrono::seconds grace) {
  timed("stop", [&] { inner_.stop(id, grace); });
}
void TimedEngine::kill(const std::string& id, const std::string& signal) {
  timed("kill", [&] { inner_.kill(id, signal); });
}
void TimedEngine::remove(const std::string& id) {
  timed("remove", [&] { inner_.remove(id); });
}
ContainerInfo TimedEngine::inspect(const std::string& id) {
  return timed("inspect", [&] { return inner_.inspect(id); });
}
std::vector<ContainerInfo> TimedEngine::list(const Labels& match) {
  return timed("list", [&] { return inner_.list(match); });
}
bool TimedEngine::image_exists(const std::string& image) {
  return timed("image_inspect", [&] { return inner_.image_exists(image); });
}
void TimedEngine::watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                               std::stop_token stop) {
  inner_.watch_events(match, on_event, std::move(stop));
}

}  // namespace warmpool::engine
