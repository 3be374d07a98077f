#include "client/commands.hpp"

#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "client/pi_client.hpp"

namespace warmpool::client {

using nlohmann::json;

namespace {

void add_common(CLI::App& cmd, Options& o) {
  cmd.add_option("--server", o.server, "The manager's URL")->envname("WARMPOOL_SERVER")->capture_default_str();
  cmd.add_option("--token", o.token, "Bearer token")->envname("WARMPOOL_TOKEN");
}

httplib::Client connect(const Options& o) {
  httplib::Client c(o.server);
  c.set_tcp_nodelay(true);
  const time_t s = o.timeout_ms / 1000, us = (o.timeout_ms % 1000) * 1000;
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(s, us);
  if (!o.token.empty()) c.set_bearer_token_auth(o.token);
  return c;
}

// Prints the answer; 0 for 2xx, 1 otherwise (with the problem's detail on stderr).
int report(const httplib::Result& r, const Options& o) {
  if (!r) {
    std::cerr << "warmpool: cannot reach " << o.server << ": " << httplib::to_string(r.error()) << "\n";
    return 2;
  }
  json body = json::parse(r->body, nullptr, false);
  if (r->status / 100 == 2) {
    std::cout << (body.is_discarded() ? r->body : body.dump(2)) << "\n";
    return 0;
  }
  std::cerr << "warmpool: HTTP " << r->status << ": "
            << (body.is_object() && body.contains("detail") ? body["detail"].get<std::string>() : r->body)
            << "\n";
  return 1;
}

// ?show=...[&<name>=<value>], the value only when given.
httplib::Params list_params(const Options& o, const char* name, const std::string& value) {
  httplib::Params params{{"show", o.show}};
  if (!value.empty()) params.emplace(name, value);
  return params;
}

int run_pi(httplib::Client& c, const Options& o) {
  jobs::PiCommand command;
  command.digits = o.digits;
  command.out = o.out;
  command.redraw = ::isatty(STDERR_FILENO) == 1;
  return jobs::run_pi_command(c, command, std::cout, std::cerr);
}

}  // namespace

void add_commands(CLI::App& app, Options& o) {
  auto* alloc = app.add_subcommand("alloc", "Allocate an instance (POST /allocations)");
  add_common(*alloc, o);
  alloc->add_option("--lease", o.lease_seconds, "Lease in seconds (default: the server's)");
  alloc->add_option("--client", o.label, "A label recorded with the allocation");

  auto* release = app.add_subcommand("release", "Release an allocation (DELETE /allocations/ID)");
  add_common(*release, o);
  release->add_option("id", o.allocation_id, "Allocation id")->required();

  auto* allocations = app.add_subcommand("allocations", "List allocations");
  add_common(*allocations, o);
  allocations->add_option("--show", o.show, "current, finished or all")->capture_default_str();
  allocations->add_option("--client", o.client_filter, "Only this client's allocations");

  auto* instances = app.add_subcommand("instances", "List instances (admin)");
  add_common(*instances, o);
  instances->add_option("--show", o.show, "current, finished or all")->capture_default_str();
  instances->add_option("--state", o.state_filter, "Only these states, comma-separated (e.g. paused,error)");

  auto* health = app.add_subcommand("health", "Show the manager's health");
  add_common(*health, o);

  auto* pi = app.add_subcommand(
      "pi", "Compute digits of pi on the pool: submit a job, show its progress, download and check the digits");
  add_common(*pi, o);
  pi->add_option("digits", o.digits, "Digits after the point")->required()->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  pi->add_option("--out", o.out, "File for the digits (default: pi_<job id>.txt)");
}

int run(const CLI::App& app, const Options& o) {
  auto c = connect(o);
  auto parsed = [&](const char* name) { return app.get_subcommand(name)->parsed(); };
  if (parsed("alloc")) {
    json body = json::object();
    if (o.lease_seconds > 0) body["lease_seconds"] = o.lease_seconds;
    if (!o.label.empty()) body["client"] = o.label;
    return report(c.Post("/allocations", body.dump(), "application/json"), o);
  }
  if (parsed("release")) return report(c.Delete("/allocations/" + o.allocation_id), o);
  if (parsed("allocations")) return report(c.Get("/allocations", list_params(o, "client", o.client_filter), {}), o);
  if (parsed("instances")) return report(c.Get("/instances", list_params(o, "state", o.state_filter), {}), o);
  if (parsed("health")) return report(c.Get("/health"), o);
  if (parsed("pi")) return run_pi(c, o);
  return 1;
}

}  // namespace warmpool::client
