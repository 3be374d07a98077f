// The adaptive pool on the real engine: a burst that came before is met warm
// the next time.
#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include "support/stack.hpp"

using namespace warmpool;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Hand-outs by path so far, from GET /metrics.
std::map<std::string, double> hand_outs(test::Stack& stack) {
  auto r = stack.client().Get("/metrics");
  REQUIRE(r);
  std::map<std::string, double> out;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);)
    for (const char* path : {"running", "paused", "cold"})
      if (line.rfind(std::string("warmpool_hand_outs_total{path=\"") + path + "\",pool=\"default\"} ", 0) == 0)
        out[path] = std::stod(line.substr(line.find(' ') + 1));
  return out;
}

// n clients at once, each holding its instance for `hold`; returns how many got one.
int burst(test::Stack& stack, int n, std::chrono::milliseconds hold) {
  std::atomic<int> served{0};
  std::vector<std::jthread> clients;
  for (int k = 0; k < n; ++k)
    clients.emplace_back([&] {
      auto client = stack.client();
      auto r = client.Post("/allocations", "{}", "application/json");
      if (!r || r->status != 201) return;
      ++served;
      std::this_thread::sleep_for(hold);
      client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
    });
  clients.clear();
  return served;
}

}  // namespace

TEST_CASE("adaptive pool: a second burst of 12 finds at least 95% of its instances warm") {
  test::Stack stack([](Config& c) {
    c.pool_policy = "adaptive";
    c.pause_grace_ms = 2000;
    c.max_instances = 24;
    c.max_idle = 24;
    c.min_idle = 2;
    // Ports of the demand tests: 14000-14959, below the kernel's ephemeral
    // ports (32768 and up), where a client's connection could take a
    // worker's port and keep it from listening.
    c.port_first = 14000 + static_cast<int>(std::random_device{}() % 40) * 24;
    c.port_last = c.port_first + 23;
  });
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 2; }));

  REQUIRE(burst(stack, 12, 3s) == 12);
  // The pool learns the burst: at least 12 idle again once all are back.
  REQUIRE(stack.eventually([&] { return stack.count_idle() >= 12 && stack.pool.claimed().empty(); }, 60s));
  std::this_thread::sleep_for(3s);  // past the grace: the quiet pool pauses all but a few

  const auto before = hand_outs(stack);
  REQUIRE(burst(stack, 12, 1s) == 12);
  const auto after = hand_outs(stack);
  const double warm = (after.at("running") - before.at("running")) + (after.at("paused") - before.at("paused"));
  const double cold = after.at("cold") - before.at("cold");
  INFO("warm " << warm << ", cold " << cold);
  CHECK(warm + cold == 12);
  CHECK(warm / 12 >= 0.95);
}
