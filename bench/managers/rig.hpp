// The goal run's rig: two `warmpool serve` on a fresh database of one
// PostgreSQL server, and the HTTP calls a client makes.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "load/manager_process.hpp"
#include "store_pg/pg_conn.hpp"

namespace warmpool::bench {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// Each hand-out's lease: an allocation whose 201 the kill cut off is one its
// client never heard of, and the new leader ends it when the lease runs out.
constexpr int kLeaseSeconds = 15;

struct GoalSettings {
  std::string database, engine;
  int hand_outs = 10'000;
  int clients = 200;
  int pool = 16;
  int port_first = 12100;
  int time_limit_s = 600;
};

inline httplib::Result call(const std::string& host, int port, const std::string& method, const std::string& path,
                     const std::string& body = {}, const std::string& token = {}) {
  httplib::Client c(host, port);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(60, 0);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  if (method == "POST") return c.Post(path, headers, body, "application/json");
  if (method == "DELETE") return c.Delete(path, headers);
  return c.Get(path, headers);
}

// A fresh database on the server of `url` for one run (the records of an
// earlier run would name instances whose containers are gone), dropped at
// the end.
class FreshDatabase {
 public:
  explicit FreshDatabase(const std::string& url)
      : server_(url), name_("warmpool_goal_" + std::to_string(::getpid())) {
    admin("DROP DATABASE IF EXISTS " + name_);
    admin("CREATE DATABASE " + name_);
    const auto authority = url.find("://");
    const auto path = url.find('/', authority == std::string::npos ? 0 : authority + 3);
    if (authority == std::string::npos || path == std::string::npos)
      throw std::runtime_error("--database: a postgresql://host/database URL");
    const auto query = url.find('?', path);
    url_ = url.substr(0, path + 1) + name_ + (query == std::string::npos ? "" : url.substr(query));
  }
  ~FreshDatabase() {
    try {
      admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dropping %s: %s\n", name_.c_str(), e.what());
    }
  }
  const std::string& url() const { return url_; }

 private:
  void admin(const std::string& sql) {
    server_.locked("admin", [&] {
      server_.script(sql);
      return 0;
    });
  }
  PgConn server_;
  std::string name_, url_;
};

// The two managers, their ports and processes.
class Managers {
 public:
  explicit Managers(const GoalSettings& s)
      : id_("bench-managers-" + std::to_string(::getpid())),
        dir_(std::filesystem::temp_directory_path() / ("warmpool-" + id_)) {
    const int workers_first = s.port_first + 10;
    for (int k = 0; k < 2; ++k) {
      port[k] = s.port_first + k;
      const auto data = dir_ / std::to_string(k);
      std::filesystem::create_directories(data);
      const std::string n = std::to_string(s.pool);
      processes_[k] = std::make_unique<test::ManagerProcess>(
          WARMPOOL_BIN,
          std::vector<std::string>{
              "serve", "--host", "127.0.0.1", "--port", std::to_string(port[k]), "--data-dir", data.string(),
              "--database", s.database, "--manager-id", id_, "--control-key-file", (dir_ / "control.key").string(),
              "--engine", s.engine, "--port-first", std::to_string(workers_first), "--port-last",
              std::to_string(workers_first + 3 * s.pool), "--max-instances", n, "--min-idle", n, "--max-idle", n,
              "--keep-running", n, "--host-limit", "1.0", "--scheduler-period-ms", "500", "--log-level", "info",
              "--log-format", "text", "--insecure"},
          data / "manager.log");
      // The first one's control key is the one both use.
      if (k == 0) std::this_thread::sleep_for(300ms);
    }
  }
  ~Managers() { stop(); }
  // Stops both (the survivor by SIGTERM): none recreates what is removed next.
  void stop() {
    for (auto& p : processes_) p->stop();
  }
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& id() const { return id_; }
  pid_t pid(int k) const { return processes_[k]->pid(); }

  std::optional<json> get(int k, const std::string& path) {
    auto r = call("127.0.0.1", port[k], "GET", path);
    if (!r || r->status != 200) return std::nullopt;
    return json::parse(r->body);
  }
  std::optional<bool> leading(int k) {
    auto h = get(k, "/health");
    if (!h || !h->contains("managers")) return std::nullopt;
    return (*h)["managers"]["leading"].get<bool>();
  }
  // Instances that serve or will: not deleted, deleting or in error.
  int live(int k) {
    auto list = get(k, "/instances");
    if (!list) return -1;
    int n = 0;
    for (const auto& i : *list) {
      const std::string state = i["state"];
      n += state != "deleted" && state != "deleting" && state != "error";
    }
    return n;
  }
  int idle(int k) {
    auto list = get(k, "/instances");
    if (!list) return -1;
    int n = 0;
    for (const auto& i : *list) n += i["state"] == "ready" || i["state"] == "paused";
    return n;
  }

  int port[2] = {0, 0};

 private:
  std::string id_;
  std::filesystem::path dir_;
  std::unique_ptr<test::ManagerProcess> processes_[2];
};

}  // namespace warmpool::bench
