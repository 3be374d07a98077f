// Quotas on the real engine: 200 concurrent clients in 4 groups, a quota of 3
// per group, a pool of 12. While they run, the manager's records are read
// over and over: no group ever holds more than 3 current allocations, and no
// instance is held by two. Afterwards, the allocations of each instance never
// overlap in time. The counts are printed.
#include <catch2/catch.hpp>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "busybox.hpp"

using namespace warmpool;
using nlohmann::json;

TEST_CASE("quota: 200 concurrent clients in 4 groups of quota 3 on a pool of 12: no group over 3, no instance shared") {
  constexpr int kClients = 200, kGroups = 4, kQuota = 3, kAttempts = 3;
  test::Stack stack([](Config& c) {
    test::anyimage_ports(c);
    c.max_instances = 12;
    c.min_idle = 12;
    c.max_idle = 12;
    c.keep_running = 12;
    c.quota_per_client = kQuota;
  });
  // Twelve creates, while other tests share the engine and the cores.
  REQUIRE(stack.eventually([&] { return stack.count_idle() == 12; }, std::chrono::seconds(180)));

  std::atomic<bool> running{true};
  std::atomic<int> snapshots{0}, most_held{0};
  std::mutex mu;
  std::vector<std::string> violations;
  std::thread watcher([&] {
    while (running) {
      std::map<std::string, int> held;
      std::set<std::int64_t> instances;
      for (const auto& a : stack.store.allocations(Show::Current)) {
        most_held = std::max(most_held.load(), ++held[a.client]);
        if (held[a.client] > kQuota || !instances.insert(a.instance_id).second) {
          std::lock_guard lock(mu);
          violations.push_back(a.client + " on instance " + std::to_string(a.instance_id));
        }
      }
      ++snapshots;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  struct Count {
    std::atomic<int> created{0}, refused{0}, other{0};
  };
  Count counts[kGroups];
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      const int group = i % kGroups;
      const std::string body = json{{"client", "group-" + std::to_string(group)}, {"timeout_ms", 20000}}.dump();
      auto client = stack.client();
      for (int attempt = 0; attempt < kAttempts; ++attempt) {
        auto r = client.Post("/allocations", body, "application/json");
        if (r && r->status == 201) {
          ++counts[group].created;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          client.Delete("/allocations/" + json::parse(r->body)["id"].get<std::string>());
        } else if (r && r->status == 429 && r->body.find("\"quota\":3") != std::string::npos &&
                   r->has_header("Retry-After")) {
          ++counts[group].refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(10 + (i * 7) % 40));
        } else {
          ++counts[group].other;
        }
      }
    });
  for (auto& t : clients) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  running = false;
  watcher.join();

  int created = 0;
  for (int g = 0; g < kGroups; ++g) {
    std::cout << "group-" << g << ": " << counts[g].created << " created (201), " << counts[g].refused
              << " refused (429), " << counts[g].other << " other\n";
    CHECK(counts[g].created > 0);
    CHECK(counts[g].refused > 0);
    CHECK(counts[g].other == 0);
    created += counts[g].created;
  }
  std::cout << kClients << " clients x " << kAttempts << " attempts in " << seconds << " s; " << snapshots
            << " snapshots of the records, the most one group held: " << most_held << "\n";
  CHECK(violations.empty());
  CHECK(most_held <= kQuota);
  CHECK(snapshots > 10);

  // Every allocation of an instance ended before its next began.
  std::map<std::int64_t, std::vector<Allocation>> by_instance;
  int recorded = 0;
  for (const auto& a : stack.store.allocations(Show::All)) {
    if (a.client.rfind("group-", 0) != 0) continue;
    by_instance[a.instance_id].push_back(a);
    ++recorded;
  }
  CHECK(recorded == created);
  for (auto& [instance, list] : by_instance) {
    std::sort(list.begin(), list.end(), [](const auto& x, const auto& y) { return x.created_ms < y.created_ms; });
    for (std::size_t k = 1; k < list.size(); ++k) {
      INFO("instance " << instance);
      REQUIRE(list[k - 1].deleted_ms);
      CHECK(*list[k - 1].deleted_ms <= list[k].created_ms);
    }
  }
}
