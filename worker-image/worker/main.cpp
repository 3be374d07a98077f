// pi-worker: the worker image's program.
//   pi-worker serve [--host H] [--port P] [--threads T] [--max-digits N] [--scratch DIR] [--data DIR]
//   pi-worker digits N [--threads T]
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "pi/pi.hpp"
#include "worker/http_api.hpp"
#include "worker/job.hpp"

namespace {

using warmpool::pi::Options;

int serve(const std::string& host, int port, const Options& options, const warmpool::worker::ServerSettings& settings) {
  // SIGTERM/SIGINT are taken by one thread that stops the server; every
  // other thread, created after this point, inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  warmpool::worker::ComputeJob job(options);
  httplib::Server server;
  warmpool::worker::configure_server(server, job, settings);
  if (!server.bind_to_port(host.c_str(), port)) {
    std::fprintf(stderr, "pi-worker: cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::fprintf(stderr, "pi-worker: listening on %s:%d (compute threads %u, max digits %zu)\n", host.c_str(), port,
               warmpool::pi::effective_threads(options), options.max_digits);

  std::thread signal_thread([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "pi-worker: signal %d, stopping\n", sig);
    server.stop();
  });
  bool ok = server.listen_after_bind();
  if (!ok) {
    // listen ended without a signal: wake the signal thread ourselves.
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  job.reset();  // cancel any computation before leaving
  return 0;
}

int print_digits(std::size_t digits, const Options& options) {
  try {
    std::string text = warmpool::pi::compute(digits, options);
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "pi-worker: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pi-worker: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pi-worker: computes digits of pi; serves them over HTTP in a warmpool instance"};
  app.require_subcommand(1);

  Options serve_options;
  serve_options.isolate = true;
  std::string host = "127.0.0.1";
  int port = 9000;
  warmpool::worker::ServerSettings settings;
  std::string scratch = settings.scratch_dir.string();
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve the compute API over HTTP");
  serve_cmd->add_option("--host", host, "Address to listen on")->capture_default_str();
  serve_cmd->add_option("--port", port, "TCP port to listen on")->capture_default_str()->check(CLI::Range(1, 65535));
  serve_cmd->add_option("--threads", serve_options.threads, "Threads per computation (0 = one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 256u));
  serve_cmd->add_option("--max-digits", serve_options.max_digits, "Largest digit count POST /compute accepts")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000'000}));
  serve_cmd->add_option("--scratch", scratch, "Scratch directory; its contents are deleted on every POST /reset")
      ->capture_default_str();
  serve_cmd->add_option("--max-init-body-bytes", settings.max_init_body_bytes, "Largest POST /init body (413 above)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  std::string data_dir;
  serve_cmd->add_option("--data", data_dir, "A read-only directory served at GET /files/data/... (the pool's data volume)");
  serve_cmd->add_option("--http-threads", settings.http_threads, "Connections served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));

  Options digits_options;
  std::size_t digits = 0;
  CLI::App* digits_cmd = app.add_subcommand("digits", "Print pi with N digits after the point, truncated");
  digits_cmd->add_option("N", digits, "Digits after the decimal point")->required();
  digits_cmd->add_option("--threads", digits_options.threads, "Threads (0 = one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 256u));
  digits_cmd->add_option("--max-digits", digits_options.max_digits, "Refuse N above this")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (*serve_cmd) {
    settings.scratch_dir = scratch;
    settings.data_dir = data_dir;
    // From the environment, not a flag: arguments are visible to anyone who can list processes.
    if (const char* secret = std::getenv("WARMPOOL_CONTROL_SECRET")) settings.control_secret = secret;
    return serve(host, port, serve_options, settings);
  }
  return print_digits(digits, digits_options);
}
