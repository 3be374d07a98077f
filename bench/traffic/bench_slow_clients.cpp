// bench_slow_clients: what normal clients see while 300 slow clients
// ("slowloris") hold connections open, sending half a request's headers and
// then one more header line every 2 s. Each normal client does, in a loop,
// POST /allocations (201, a running-idle instance), DELETE it, GET /health;
// the same loop with no slow clients, in the same run, is the baseline.
// With --proxy-port, the same pair of measurements again through a proxy in
// front of this manager (TLS; the slow clients complete their handshake
// there first), beside a direct run.
//
//   bench_slow_clients [--slow 300] [--rounds 100] [--clients 4] [--port 33001]
//                      [--proxy-port 33443 --proxy-ca cert.pem]
// Slow clients connect from 127.0.3.1-100 (three each: under the per-client
// cap), normal ones from 127.0.0.1. Needs an engine and the worker image.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "app/app.hpp"
#include "common.hpp"

using namespace warmpool;
using bench::percentile;

namespace {

struct Target {
  std::string name;
  int port = 0;
  bool tls = false;
  std::string ca;  // the proxy's certificate
  std::string url() const { return (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port); }
};

// Slow clients against one port: connect, (TLS handshake,) half the
// headers, then a header line every 2 s from one thread, until destroyed.
class SlowCrowd {
 public:
  SlowCrowd(const Target& target, int count) : ctx_(target.tls ? SSL_CTX_new(TLS_client_method()) : nullptr) {
    for (int k = 0; k < count; ++k) open_one(target, k);
    trickler_ = std::thread([this] {
      while (!stop_) {
        for (int slept = 0; slept < 20 && !stop_; ++slept) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        for (auto& c : conns_) send(c, "X-Trickle: 1\r\n");
      }
    });
  }
  ~SlowCrowd() {
    stop_ = true;
    trickler_.join();
    for (auto& c : conns_) {
      if (c.ssl) SSL_free(c.ssl);
      ::close(c.fd);
    }
    if (ctx_) SSL_CTX_free(ctx_);
  }
  int open() const { return static_cast<int>(conns_.size()); }

 private:
  struct Conn {
    int fd;
    SSL* ssl;
  };
  void open_one(const Target& target, int k) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, ("127.0.3." + std::to_string(1 + k % 100)).c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<std::uint16_t>(target.port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd);
      return;
    }
    Conn c{fd, nullptr};
    if (ctx_) {
      c.ssl = SSL_new(ctx_);
      SSL_set_fd(c.ssl, fd);
      if (SSL_connect(c.ssl) != 1) {
        SSL_free(c.ssl);
        ::close(fd);
        return;
      }
    }
    conns_.push_back(c);
    send(conns_.back(), "POST /allocations HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  static void send(const Conn& c, const std::string& bytes) {
    if (c.ssl) SSL_write(c.ssl, bytes.data(), static_cast<int>(bytes.size()));
    else [[maybe_unused]] auto n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  SSL_CTX* ctx_;
  std::vector<Conn> conns_;
  std::atomic<bool> stop_{false};
  std::thread trickler_;
};

struct Samples {
  std::vector<double> alloc, release, health;
  long failed = 0;
};

// `clients` normal clients, `rounds` loops each; latencies in ms.
Samples measure(const Target& target, int clients, int rounds) {
  Samples all;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&] {
      httplib::Client c(target.url());
      c.set_tcp_nodelay(true);
      c.set_keep_alive(true);
      c.set_read_timeout(30, 0);
      if (target.tls) c.set_ca_cert_path(target.ca.c_str());
      Samples mine;
      for (int r = 0; r < rounds; ++r) {
        auto t0 = bench::SteadyClock::now();
        auto a = c.Post("/allocations", R"({"lease_seconds": 60, "client": "bench"})", "application/json");
        const double alloc_ms = bench::ms_since(t0);
        if (!a || a->status != 201) {
          ++mine.failed;
          continue;
        }
        mine.alloc.push_back(alloc_ms);
        const std::string id = nlohmann::json::parse(a->body)["id"];
        t0 = bench::SteadyClock::now();
        auto d = c.Delete("/allocations/" + id);
        if (d && d->status == 200) mine.release.push_back(bench::ms_since(t0));
        else ++mine.failed;
        t0 = bench::SteadyClock::now();
        auto h = c.Get("/health");
        if (h && h->status == 200) mine.health.push_back(bench::ms_since(t0));
        else ++mine.failed;
      }
      std::lock_guard lock(mu);
      all.alloc.insert(all.alloc.end(), mine.alloc.begin(), mine.alloc.end());
      all.release.insert(all.release.end(), mine.release.begin(), mine.release.end());
      all.health.insert(all.health.end(), mine.health.begin(), mine.health.end());
      all.failed += mine.failed;
    });
  }
  for (auto& t : threads) t.join();
  return all;
}

void row(const std::string& what, const std::vector<double>& s, const std::vector<double>& base) {
  std::printf("%-46s %6zu %9.2f %9.2f %9.2fx %9.2fx\n", what.c_str(), s.size(), percentile(s, 0.5),
              percentile(s, 0.99), percentile(s, 0.5) / percentile(base, 0.5),
              percentile(s, 0.99) / percentile(base, 0.99));
}

void report(const Target& t, const Samples& base, const Samples& slow, int slow_open) {
  std::printf("%s (%d slow connections held in the second run)\n", t.name.c_str(), slow_open);
  row("  POST /allocations, no slow clients", base.alloc, base.alloc);
  row("  POST /allocations, slow clients", slow.alloc, base.alloc);
  row("  DELETE /allocations/{id}, no slow clients", base.release, base.release);
  row("  DELETE /allocations/{id}, slow clients", slow.release, base.release);
  row("  GET /health, no slow clients", base.health, base.health);
  row("  GET /health, slow clients", slow.health, base.health);
  std::printf("  failed requests: %ld without, %ld with slow clients\n", base.failed, slow.failed);
}

Config rig_config(int port, int instances) {
  Config c;
  c.manager_id = "test-bench-slow-" + std::to_string(std::random_device{}() % 100000);
  c.data_dir = (std::filesystem::temp_directory_path() / ("warmpool-" + c.manager_id)).string();
  c.listen_port = port;
  c.insecure = true;  // a loopback bench: no tokens
  c.max_instances = c.min_idle = c.max_idle = c.keep_running = instances;
  c.port_first = 33100;
  c.port_last = 33199;
  c.host_limit = 1.0;
  c.log_level = "warn";
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Normal requests' latency with slow clients held open, against none"};
  int slow = 300, rounds = 100, clients = 4, port = 33001, proxy_port = 0, instances = 8;
  std::string proxy_ca;
  cli.add_option("--slow", slow, "Slow connections")->capture_default_str();
  cli.add_option("--rounds", rounds, "Loops per normal client")->capture_default_str();
  cli.add_option("--clients", clients, "Normal clients")->capture_default_str();
  cli.add_option("--instances", instances, "Running-idle instances")->capture_default_str();
  cli.add_option("--port", port, "Port the manager serves on (a proxy's upstream)")->capture_default_str();
  cli.add_option("--proxy-port", proxy_port, "A TLS proxy in front of --port, measured as well");
  cli.add_option("--proxy-ca", proxy_ca, "The proxy's certificate (PEM)");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  App app(rig_config(port, instances));
  app.scheduler.start();
  std::thread serving([&] { app.server.listen(app.config.listen_host, app.config.listen_port); });
  int ready = 0;
  for (int k = 0; k < 1200 && ready < instances; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ready = 0;
    for (const auto& i : app.store.instances(Show::Current)) ready += i.state == InstanceState::Ready;
  }
  std::vector<Target> targets{{"direct", port, false, ""}};
  if (proxy_port > 0) targets.push_back({"through the proxy (TLS)", proxy_port, true, proxy_ca});
  std::printf("normal requests, ms: %d clients x %d rounds; slow clients: %d\n", clients, rounds, slow);
  std::printf("%-46s %6s %9s %9s %10s %10s\n", "", "n", "p50", "p99", "p50/base", "p99/base");
  std::vector<std::pair<Samples, Samples>> results;
  int exit_code = ready < instances ? 1 : 0;
  for (const auto& t : targets) {
    measure(t, clients, 5);  // warm the connections and the pool
    Samples base = measure(t, clients, rounds);
    int held = 0;
    Samples with_slow;
    {
      SlowCrowd crowd(t, slow);
      held = crowd.open();
      with_slow = measure(t, clients, rounds);
    }
    report(t, base, with_slow, held);
    results.emplace_back(base, with_slow);
  }
  if (results.size() == 2) {
    const double direct = percentile(results[0].first.alloc, 0.5);
    const double proxied = percentile(results[1].first.alloc, 0.5);
    std::printf("hand-out p50 through the proxy minus direct: %+.2f ms (goal <= +1 ms)\n", proxied - direct);
  }
  app.stop();
  serving.join();
  for (const auto& c : app.engine.list({{engine::kManagerLabel, app.config.manager_id}})) app.engine.remove(c.id);
  std::filesystem::remove_all(app.config.data_dir);
  return exit_code;
}
