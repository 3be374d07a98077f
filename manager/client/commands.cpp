#include "client/commands.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/text.hpp"
#include "client/format.hpp"
#include "client/pi_client.hpp"

namespace warmpool::client {

using nlohmann::json;

namespace {

void add_common(CLI::App& cmd, Options& o) {
  cmd.add_option("--server", o.server, "The manager's URL")->envname("WARMPOOL_SERVER")->capture_default_str();
  cmd.add_option("--token", o.token, "Bearer token for every route (default: the manager's own, read from --data-dir)")
      ->envname("WARMPOOL_TOKEN");
  cmd.add_option("--data-dir", o.data_dir, "The manager's data directory: api.token for allocations and pi jobs, admin.token for the rest")
      ->envname("WARMPOOL_DATA_DIR")->capture_default_str();
}

std::string first_line(const std::string& path) {
  std::string line;
  if (std::ifstream in(path); in) std::getline(in, line);
  return line;
}

enum class Access { Public, Admin };

httplib::Client connect(const Options& o, Access access) {
  httplib::Client c(o.server);
  c.set_tcp_nodelay(true);
  const time_t s = o.timeout_ms / 1000, us = (o.timeout_ms % 1000) * 1000;
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(s, us);
  const std::string& token = access == Access::Admin ? o.admin_token : o.api_token;
  if (!token.empty()) c.set_bearer_token_auth(token);
  return c;
}

// The public routes' token on one request of an admin command.
httplib::Headers public_auth(const Options& o) {
  if (o.api_token.empty()) return {};
  return {{"Authorization", "Bearer " + o.api_token}};
}

// Exit codes: 0 done, 1 the request failed (no answer, or not 2xx), 2 bad usage.
constexpr int kFailed = 1;
constexpr int kUsage = 2;

// Prints why a request failed; false when it did.
bool answered_2xx(const httplib::Result& r, const Options& o) {
  if (!r) {
    std::cerr << "warmpool: cannot reach " << o.server << ": " << httplib::to_string(r.error()) << "\n";
    return false;
  }
  if (r->status / 100 == 2) return true;
  json body = json::parse(r->body, nullptr, false);
  std::cerr << "warmpool: HTTP " << r->status << ": "
            << (body.is_object() && body.contains("detail") ? body["detail"].get<std::string>() : r->body)
            << "\n";
  return false;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A list route printed as `-o` asks: a table (`table(list, wide)`), or the
// records as JSON or YAML.
int print_list(const httplib::Result& r, const Options& o,
               const std::function<std::string(const json&, bool)>& table) {
  const auto output = output_from(o.output);
  if (!output) {
    std::cerr << "warmpool: unknown output \"" << o.output << "\" (table, wide, json or yaml)\n";
    return kUsage;
  }
  if (!answered_2xx(r, o)) return kFailed;
  const json list = json::parse(r->body, nullptr, false);
  if (list.is_discarded()) {
    std::cerr << "warmpool: the server's answer is not JSON\n";
    return kFailed;
  }
  if (*output == Output::Json) std::cout << list.dump(2) << "\n";
  if (*output == Output::Yaml) std::cout << to_yaml(list);
  if (*output != Output::Table && *output != Output::Wide) return 0;
  std::cout << table(list, *output == Output::Wide);
  return 0;
}


// Every page of a paged list (GET /allocations), following the Link headers.
json all_pages(httplib::Client& c, std::string url, const httplib::Headers& headers) {
  json all = json::array();
  while (!url.empty()) {
    auto r = c.Get(url, headers);
    if (!r || r->status != 200) break;
    const json page = json::parse(r->body, nullptr, false);
    if (!page.is_array()) break;
    all.insert(all.end(), page.begin(), page.end());
    const std::string link = r->get_header_value("Link");  // <url>; rel="next"
    const auto close = link.find('>');
    url = link.size() > 1 && link.front() == '<' && close != std::string::npos ? link.substr(1, close - 1) : "";
  }
  return all;
}

// The instance's record and its allocations, newest first.
int describe_instance(httplib::Client& c, const Options& o) {
  auto r = c.Get("/instances/" + std::to_string(o.instance_id));
  if (!answered_2xx(r, o)) return kFailed;
  const json instance = json::parse(r->body, nullptr, false);
  json mine = json::array();
  for (const auto& allocation : all_pages(c, "/allocations?show=all&limit=10000", public_auth(o)))
    if (allocation.value("instance", std::int64_t{-1}) == o.instance_id) mine.insert(mine.begin(), allocation);
  std::cout << to_yaml(instance) << "\nallocations:\n";
  if (mine.empty()) std::cout << "  (none)\n";
  else std::cout << allocations_table(mine, now_ms(), /*wide=*/true);
  std::cout << "\nevents (newest first):\n";
  auto e = c.Get("/events?limit=20&instance=" + std::to_string(o.instance_id));
  const json events = e && e->status == 200 ? json::parse(e->body, nullptr, false) : json();
  if (events.is_array()) std::cout << events_table(events, now_ms());
  else std::cout << "  (not available)\n";
  return 0;
}

// The live pool, refreshed every interval until interrupted (or once).
int run_top(httplib::Client& c, const Options& o) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::map<double, double> before;  // --once: since the manager started
  if (auto m = c.Get("/metrics"); !o.top_once && m && m->status == 200)
    before = histogram_buckets(m->body, "warmpool_hand_out_seconds");
  for (;;) {
    if (!o.top_once) std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(o.top_interval_s * 1000)));
    auto details = c.Get("/details");
    if (!answered_2xx(details, o)) return kFailed;
    auto m = c.Get("/metrics");
    if (!answered_2xx(m, o)) return kFailed;
    const auto after = histogram_buckets(m->body, "warmpool_hand_out_seconds");
    const std::string frame =
        top_frame(json::parse(details->body, nullptr, false), quantile_between(before, after, 0.5),
                  quantile_between(before, after, 0.99), o.top_once ? 0 : o.top_interval_s);
    std::cout << (tty && !o.top_once ? "\x1b[H\x1b[2J" : "") << frame << std::flush;
    if (o.top_once) return 0;
    before = after;
  }
}

// Prints the answer; 0 for 2xx, 1 otherwise (with the problem's detail on stderr).
int report(const httplib::Result& r, const Options& o) {
  if (!r) {
    std::cerr << "warmpool: cannot reach " << o.server << ": " << httplib::to_string(r.error()) << "\n";
    return kFailed;
  }
  json body = json::parse(r->body, nullptr, false);
  if (r->status / 100 == 2) {
    std::cout << (body.is_discarded() ? r->body : body.dump(2)) << "\n";
    return 0;
  }
  std::cerr << "warmpool: HTTP " << r->status << ": "
            << (body.is_object() && body.contains("detail") ? body["detail"].get<std::string>() : r->body)
            << "\n";
  return kFailed;
}

// ?show=...[&<name>=<value>], the value only when given.
httplib::Params list_params(const Options& o, const char* name, const std::string& value) {
  httplib::Params params{{"show", o.show}};
  if (!value.empty()) params.emplace(name, value);
  return params;
}

int print_instances(httplib::Client& c, const Options& o) {
  return print_list(c.Get("/instances", list_params(o, "state", o.state_filter), {}), o,
                    [&](const json& list, bool wide) {
                      // The ALLOCATION column, when the token also opens the public routes.
                      json current = json::array();
                      if (auto a = c.Get("/allocations", public_auth(o)); a && a->status == 200)
                        current = json::parse(a->body, nullptr, false);
                      return instances_table(list, current.is_array() ? current : json::array(), now_ms(), wide);
                    });
}

int run_pi(httplib::Client& c, const Options& o) {
  jobs::PiCommand command;
  command.digits = o.digits;
  command.out = o.out;
  command.redraw = ::isatty(STDERR_FILENO) == 1;
  return jobs::run_pi_command(c, command, std::cout, std::cerr);
}

// "A=B" -> {"A", "B"}; throws naming the option when there is no '='.
std::pair<std::string, std::string> split_pair(const std::string& text, const char* option) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument(std::string(option) + " " + text + ": expected A=B");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

json allocation_body(const Options& o) {
  json body = json::object();
  if (o.lease_seconds > 0) body["lease_seconds"] = o.lease_seconds;
  if (!o.label.empty()) body["client"] = o.label;
  json init = json::object();
  for (const auto& f : o.files) {
    const auto [local, remote] = split_pair(f, "--file");
    std::ifstream in(local, std::ios::binary);
    if (!in) throw std::invalid_argument("--file " + local + ": cannot open it");
    std::ostringstream bytes;
    bytes << in.rdbuf();  // an empty file leaves `bytes` failed, and empty: fine
    init["files"][remote] = {{"base64", base64_encode(bytes.str())}};
  }
  for (const auto& e : o.env) {
    const auto [name, value] = split_pair(e, "--env");
    init["env"][name] = value;
  }
  if (!o.meta.empty()) {
    init["metadata"] = json::parse(o.meta, nullptr, false);
    if (!init["metadata"].is_object()) throw std::invalid_argument("--meta must be a JSON object");
  }
  if (!init.empty()) body["init"] = init;
  return body;
}

void add_commands(CLI::App& app, Options& o) {
  auto* alloc = app.add_subcommand("alloc", "Allocate an instance (POST /allocations)");
  add_common(*alloc, o);
  alloc->add_option("--lease", o.lease_seconds, "Lease in seconds (default: the server's)");
  alloc->add_option("--client", o.label, "A label recorded with the allocation");
  alloc->add_option("--file", o.files, "LOCAL=REMOTE: give the session this file at REMOTE (repeatable)");
  alloc->add_option("--env", o.env, "NAME=VALUE: the session's environment (repeatable)");
  alloc->add_option("--meta", o.meta, "A JSON object kept with the allocation, e.g. '{\"user\":\"ada\"}'");

  auto* release = app.add_subcommand("release", "Release an allocation (DELETE /allocations/ID)");
  add_common(*release, o);
  release->add_option("id", o.allocation_id, "Allocation id")->required();

  auto* allocations = app.add_subcommand("allocations", "List allocations");
  add_common(*allocations, o);
  allocations->add_option("--show", o.show, "current, finished or all")->capture_default_str();
  allocations->add_option("--client", o.client_filter, "Only this client's allocations");
  allocations->add_option("-o,--output", o.output, "table (default), wide, json or yaml");

  auto* instances = app.add_subcommand("instances", "List instances (admin)");
  add_common(*instances, o);
  instances->add_option("--show", o.show, "current, finished or all")->capture_default_str();
  instances->add_option("--state", o.state_filter, "Only these states, comma-separated (e.g. paused,error)");
  instances->add_option("-o,--output", o.output, "table (default), wide, json or yaml");

  auto* engines = app.add_subcommand("engines", "List the engines with their state and instances (admin)");
  add_common(*engines, o);
  engines->add_option("-o,--output", o.output, "table (default), wide, json or yaml");

  auto* describe = app.add_subcommand("describe", "Show one record in full (admin)");
  auto* describe_instance = describe->add_subcommand("instance", "An instance, its allocations and its recent events");
  add_common(*describe_instance, o);
  describe_instance->add_option("id", o.instance_id, "Instance id")->required()->check(CLI::PositiveNumber);
  describe->require_subcommand(1);

  auto* top = app.add_subcommand("top", "The live pool: instances by state, hand-out p50/p99, queues (admin); Ctrl-C ends");
  add_common(*top, o);
  top->add_option("--interval", o.top_interval_s, "Seconds between refreshes")->check(CLI::Range(0.2, 3600.0))->capture_default_str();
  top->add_flag("--once", o.top_once, "Print one frame (hand-outs since the manager started) and exit");

  auto* health = app.add_subcommand("health", "Show the manager's health");
  add_common(*health, o);

  auto* pi = app.add_subcommand(
      "pi", "Compute digits of pi on the pool: submit a job, show its progress, download and check the digits");
  add_common(*pi, o);
  pi->add_option("digits", o.digits, "Digits after the point")->required()->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  pi->add_option("--out", o.out, "File for the digits (default: pi_<job id>.txt)");
}

int run(const CLI::App& app, Options o) {
  o.api_token = o.token.empty() ? first_line(o.data_dir + "/api.token") : o.token;
  o.admin_token = o.token.empty() ? first_line(o.data_dir + "/admin.token") : o.token;
  auto parsed = [&](const char* name) { return app.get_subcommand(name)->parsed(); };
  const bool admin = parsed("instances") || parsed("engines") || parsed("describe") || parsed("top");
  auto c = connect(o, admin ? Access::Admin : Access::Public);
  if (parsed("alloc")) {
    json body;
    try {
      body = allocation_body(o);
    } catch (const std::invalid_argument& e) {
      std::cerr << "warmpool: " << e.what() << "\n";
      return kUsage;
    }
    return report(c.Post("/allocations", body.dump(), "application/json"), o);
  }
  if (parsed("release")) return report(c.Delete("/allocations/" + o.allocation_id), o);
  if (parsed("allocations"))
    return print_list(c.Get("/allocations", list_params(o, "client", o.client_filter), {}), o,
                      [](const json& list, bool wide) { return allocations_table(list, now_ms(), wide); });
  if (parsed("instances")) return print_instances(c, o);
  if (parsed("engines")) return print_list(c.Get("/engines"), o, engines_table);
  if (parsed("describe")) return describe_instance(c, o);
  if (parsed("top")) return run_top(c, o);
  if (parsed("health")) return report(c.Get("/health"), o);
  if (parsed("pi")) return run_pi(c, o);
  return 1;
}

}  // namespace warmpool::client
