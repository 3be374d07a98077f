// The cost of each container operation through DockerEngine, and of a warm
// hand-out (unpause + the worker's first answer) against a cold one (start +
// first answer), measured side by side in one run and printed as ratios to a
// bare unpause.
//
//   bench_engine [--iterations N] [--image IMAGE]
//
// The engine is WARMPOOL_ENGINE, else DOCKER_HOST, else the default socket.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/docker_engine.hpp"
#include "engine/pause_probe.hpp"

using warmpool::engine::ContainerSpec;
using warmpool::engine::DockerEngine;
using warmpool::engine::EngineError;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;
using namespace std::chrono_literals;

namespace {

bool ping(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(0, 300'000);
  client.set_read_timeout(0, 300'000);
  client.set_write_timeout(0, 300'000);
  const auto res = client.Get("/ping");
  return res && res->status == 200;
}

// Time until the worker first answers /ping; throws after `within`.
void wait_for_ping(int port, std::chrono::milliseconds within) {
  const auto end = Clock::now() + within;
  while (!ping(port)) {
    if (Clock::now() > end) throw std::runtime_error("worker on port " + std::to_string(port) + " never answered");
    std::this_thread::sleep_for(1ms);
  }
}

template <typename F>
double time_ms(F&& f) {
  const auto begin = Clock::now();
  f();
  return Millis(Clock::now() - begin).count();
}

double percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  const double rank = p * static_cast<double>(samples.size() - 1);
  const auto low = static_cast<std::size_t>(rank);
  const auto high = std::min(low + 1, samples.size() - 1);
  return samples[low] + (samples[high] - samples[low]) * (rank - static_cast<double>(low));
}

std::string random_hex(int digits) {
  std::random_device device;
  std::mt19937_64 bits(device());
  std::string s;
  for (int i = 0; i < digits; ++i) s += "0123456789abcdef"[bits() % 16];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20;
  std::string image = "warmpool/pi-worker:latest";
  int port = 19099;
  CLI::App app{"Container operation costs through warmpool's Docker engine client"};
  app.add_option("--iterations,-n", iterations, "containers to cycle")->check(CLI::Range(1, 10000));
  app.add_option("--image", image, "worker image");
  app.add_option("--port", port, "loopback port for the worker")->check(CLI::Range(1024, 65535));
  CLI11_PARSE(app, argc, argv);

  auto options = DockerEngine::Options::from_env();
  if (const char* endpoint = std::getenv("WARMPOOL_ENGINE"); endpoint != nullptr && endpoint[0] != '\0') {
    options.endpoint = endpoint;
  }
  DockerEngine engine(options);
  const std::string manager = "bench-" + random_hex(10);
  // Phases in the order they happen; each iteration adds one sample to each.
  std::vector<std::string> phases = {"create",  "start",         "start + first ping", "pause",
                                     "unpause", "unpause + ping", "remove"};
  // The cgroup freezer beside the engine's pause, when this process may use it.
  auto pausing = warmpool::engine::choose_pause_path(warmpool::engine::PauseVia::Auto, engine);
  if (pausing.freezer) phases.insert(phases.end() - 1, {"freezer freeze", "freezer thaw", "thaw + ping"});
  std::printf("freezer: %s (%s)\n", pausing.freezer ? "measured" : "not measured", pausing.why.c_str());
  std::map<std::string, std::vector<double>> samples;

  try {
    const auto version = engine.version();
    if (!engine.image_exists(image)) {
      std::fprintf(stderr, "bench_engine: image %s is missing; run scripts/build-image\n", image.c_str());
      return 1;
    }
    std::printf("engine %s (Docker %s, API %s), image %s, %d iterations, worker on 127.0.0.1:%d\n",
                options.endpoint.c_str(), version.version.c_str(), engine.api_version().c_str(), image.c_str(),
                iterations, port);

    for (int i = 0; i < iterations; ++i) {
      ContainerSpec spec;
      spec.image = image;
      spec.cmd = {"serve", "--host", "127.0.0.1", "--port", std::to_string(port), "--scratch", "/scratch"};
      spec.labels = {{warmpool::engine::kManagerLabel, manager}};
      std::string id;
      samples["create"].push_back(time_ms([&] { id = engine.create(spec); }));
      try {
        const auto started = Clock::now();
        samples["start"].push_back(time_ms([&] { engine.start(id); }));
        wait_for_ping(port, 10s);
        samples["start + first ping"].push_back(Millis(Clock::now() - started).count());
        samples["pause"].push_back(time_ms([&] { engine.pause(id); }));
        samples["unpause"].push_back(time_ms([&] { engine.unpause(id); }));
        engine.pause(id);
        samples["unpause + ping"].push_back(time_ms([&] {
          engine.unpause(id);
          wait_for_ping(port, 2s);
        }));
        if (auto* freezer = pausing.freezer.get()) {
          samples["freezer freeze"].push_back(time_ms([&] { freezer->freeze(id, 1s); }));
          samples["freezer thaw"].push_back(time_ms([&] { freezer->thaw(id, 1s); }));
          freezer->freeze(id, 1s);
          samples["thaw + ping"].push_back(time_ms([&] {
            freezer->thaw(id, 1s);
            wait_for_ping(port, 2s);
          }));
        }
      } catch (...) {
        if (pausing.freezer) pausing.freezer->thaw(id, 1s);  // a frozen process cannot die
        engine.remove(id);
        throw;
      }
      samples["remove"].push_back(time_ms([&] { engine.remove(id); }));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine: %s\n", e.what());
    for (const auto& c : engine.list({{warmpool::engine::kManagerLabel, manager}})) engine.remove(c.id);
    return 1;
  }

  const double unpause = percentile(samples["unpause"], 0.5);
  std::printf("\n%-20s %10s %10s %12s\n", "operation", "median ms", "p90 ms", "vs unpause");
  for (const auto& phase : phases) {
    const double median = percentile(samples[phase], 0.5);
    std::printf("%-20s %10.3f %10.3f %11.3fx\n", phase.c_str(), median, percentile(samples[phase], 0.9),
                median / unpause);
  }
  const double warm = percentile(samples["unpause + ping"], 0.5);
  const double cold = percentile(samples["start + first ping"], 0.5);
  std::printf("\nwarm hand-out (unpause + ping) is %.1fx faster than cold (start + first ping)\n", cold / warm);
  return 0;
}
