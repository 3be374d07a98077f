#include "api/engine_routes.hpp"

#include <httplib.h>

#include "api/problem.hpp"

namespace warmpool::api {

using json = nlohmann::json;

namespace {

json status_json(const engine::EngineSet::Status& e) {
  json one = {{"name", e.name}, {"endpoint", e.endpoint}, {"state", engine::to_string(e.state)},
              {"instances", e.containers}, {"capacity", e.capacity}, {"weight", e.weight}};
  if (!e.error.empty()) one["error"] = e.error;
  return one;
}

// POST /engines' body: the engine as an --engine value gives it.
engine::EngineSpec spec_from_body(const std::string& body) {
  const json b = parse_object(body, {"name", "endpoint", "capacity", "weight", "certDir", "ca", "cert", "key"});
  engine::EngineSpec spec;
  spec.name = get_string(b, "name", 63);
  if (spec.name.empty()) throw BadRequest("\"name\" is required");
  spec.endpoint = get_string(b, "endpoint", 4096);
  if (spec.endpoint.empty()) throw BadRequest("\"endpoint\" is required (unix:///path or tcp://host:port)");
  spec.capacity = static_cast<int>(get_int(b, "capacity", 0, 1'000'000, 0));
  if (b.contains("weight")) {
    if (!b["weight"].is_number() || !(b["weight"].get<double>() > 0))
      throw BadRequest("\"weight\" must be a number above 0");
    spec.weight = b["weight"].get<double>();
  }
  const std::string dir = get_string(b, "certDir", 4096);
  if (!dir.empty()) spec.tls = engine::TlsFiles::in_directory(dir);
  for (auto [key, file] : {std::pair{"ca", &spec.tls.ca}, {"cert", &spec.tls.cert}, {"key", &spec.tls.key}})
    if (std::string path = get_string(b, key, 4096); !path.empty()) *file = path;  // wins over certDir's
  return spec;
}

// Runs `call`, answering its EngineRefused as a problem.
template <typename Call>
void answer(httplib::Response& res, Call call) {
  try {
    call();
  } catch (const EngineRefused& e) {
    problem(res, e.status(), e.what());
  }
}

}  // namespace

json engines_json(const engine::EngineSet& engines) {
  json out = json::array();
  for (const auto& e : engines.status()) out.push_back(status_json(e));
  return out;
}

void add_engine_routes(Server& server, engine::EngineSet& engines, EngineAdmin& admin) {
  using Access = Server::Access;
  server.route("GET", "/engines", Access::Admin, [&engines](const httplib::Request&, httplib::Response& res) {
    json_reply(res, 200, engines_json(engines));
  });
  server.route("POST", "/engines", Access::Admin, [&admin](const httplib::Request& req, httplib::Response& res) {
    const engine::EngineSpec spec = spec_from_body(req.body);
    answer(res, [&] {
      const auto added = admin.add(spec);
      res.set_header("Location", "/engines/" + added.name);
      json_reply(res, 201, status_json(added));
    });
  });
  server.route("DELETE", R"(/engines/([^/]+))", Access::Admin,
               [&admin](const httplib::Request& req, httplib::Response& res) {
                 const std::string name = req.matches[1];
                 answer(res, [&] {
                   if (admin.remove(name)) res.status = 204;
                   else json_reply(res, 202, status_json(admin.status(name)));  // draining, leaving once empty
                 });
               });
  server.route("POST", R"(/engines/([^/]+)/drain)", Access::Admin,
               [&admin](const httplib::Request& req, httplib::Response& res) {
                 answer(res, [&] { json_reply(res, 200, status_json(admin.drain(req.matches[1]))); });
               });
  server.route("POST", R"(/engines/([^/]+)/resume)", Access::Admin,
               [&admin](const httplib::Request& req, httplib::Response& res) {
                 answer(res, [&] { json_reply(res, 200, status_json(admin.resume(req.matches[1]))); });
               });
}

}  // namespace warmpool::api
