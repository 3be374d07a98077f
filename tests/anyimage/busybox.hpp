// The image that knows nothing of warmpool (scripts/build-busybox-image),
// built on the test's engine when it is missing, and the ports of these
// tests: 16000-16999, 20 per stack.
#pragma once

#include <cstdlib>
#include <random>
#include <string>

#include "support/stack.hpp"

namespace warmpool::test {

inline constexpr const char* kBusyboxImage = "warmpool/busybox-httpd:latest";

inline void anyimage_ports(Config& c) {
  c.port_first = 16000 + static_cast<int>(std::random_device{}() % 50) * 20;
  c.port_last = c.port_first + 19;
}

// Builds the image with its script, on the engine the tests use, unless the
// engine has it already; fails the test when it cannot.
inline void ensure_busybox_image() {
  engine::DockerEngine engine(engine_options());
  require_engine(engine);
  if (engine.image_exists(kBusyboxImage)) return;
  const std::string command = "DOCKER_HOST='" + engine.options().endpoint + "' '" WARMPOOL_SOURCE_DIR
                              "/scripts/build-busybox-image' >&2";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  REQUIRE(engine.image_exists(kBusyboxImage));
}

// A pool of the BusyBox image with `health` and `reset`.
inline std::function<void(Config&)> busybox_pool(const std::string& health, const std::string& reset,
                                                 std::function<void(Config&)> more = {}) {
  return [=](Config& c) {
    anyimage_ports(c);
    c.image = kBusyboxImage;
    c.health = health;
    c.reset = reset;
    c.instance_pids = 16;
    c.instance_memory_mb = 32;
    if (more) more(c);
  };
}

}  // namespace warmpool::test
