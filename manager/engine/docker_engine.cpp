#include "engine/docker_engine.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "base/text.hpp"
#include "engine/curl_client.hpp"
#include "engine/docker_json.hpp"

namespace warmpool::engine {
namespace {

using nlohmann::json;
using namespace docker_json;
using Kind = EngineError::Kind;
using std::chrono::milliseconds;

// An event line longer than this means the stream is not what we think.
constexpr std::size_t kMaxEventLine = 1u << 20;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Percent-encodes everything except unreserved characters and `keep`.
std::string escape(std::string_view s, std::string_view keep = {}) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || keep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += '%';
      out += hex_digit(u >> 4, /*upper=*/true);
      out += hex_digit(u, /*upper=*/true);
    }
  }
  return out;
}

std::string container_path(const std::string& id) { return "/containers/" + escape(id); }

// Whether a transport failure happened while agreeing on TLS: certificates
// refused either way, or the engine's alert about ours (with TLS 1.3 a
// server's refusal of our certificate arrives on the first read).
bool tls_failure(const detail::CurlResult& result, const EngineEndpoint& endpoint) {
  if (!endpoint.uses_tls()) return false;
  switch (result.code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return true;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return result.error.find("alert") != std::string::npos;
    default:
      return false;
  }
}

// Full 64-digit ids are shortened to the 12 digits people recognise.
EngineError transport_error(std::string_view operation, const std::string& id,
                            const detail::CurlResult& result,
                            const EngineEndpoint& endpoint, milliseconds timeout) {
  const std::string context = context_of(operation, id);
  const std::string where = endpoint.text();
  if (tls_failure(result, endpoint))
    return EngineError(Kind::Unreachable, context + ": TLS handshake with " + where + " failed: " + result.error, 0,
                       id);
  switch (result.code) {
    case CURLE_OPERATION_TIMEDOUT:
      return EngineError(Kind::Timeout,
                         context + ": no answer from the engine at " + where + " within " +
                             std::to_string(timeout.count()) + " ms",
                         0, id);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_WRITE_ERROR:  // an answer too large to be one of the engine's
      return EngineError(Kind::Protocol, context + ": unexpected answer from " + where + ": " + result.error, 0, id);
    case CURLE_COULDNT_CONNECT:
      // curl words a unix socket failure as "port 80"; errno says it plainly.
      return EngineError(Kind::Unreachable,
                         context + ": engine unreachable at " + where + ": " +
                             (result.os_errno != 0 ? std::strerror(static_cast<int>(result.os_errno)) : result.error),
                         0, id);
    default:
      // No route, reset: nobody we can talk to.
      return EngineError(Kind::Unreachable, context + ": engine unreachable at " + where + ": " + result.error, 0,
                         id);
  }
}

detail::CurlTarget make_target(const EngineEndpoint& endpoint) {
  detail::CurlTarget target;
  target.base_url = endpoint.base_url();
  if (endpoint.scheme == EngineEndpoint::Scheme::Unix) target.unix_socket = endpoint.socket_path;
  target.ca_file = endpoint.tls.ca;
  target.cert_file = endpoint.tls.cert;
  target.key_file = endpoint.tls.key;
  return target;
}

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? std::string(value) : std::move(fallback);
}

}  // namespace

DockerEngine::Options DockerEngine::Options::from_env() {
  Options options;
  options.endpoint = env_or("DOCKER_HOST", kDefaultEndpoint);
  options.api_version = env_or("DOCKER_API_VERSION", "");
  if (starts_with(options.endpoint, "tcp://")) options.tls = tls_from_env();
  return options;
}

TlsFiles DockerEngine::Options::tls_from_env() {
  const std::string verify = env_or("DOCKER_TLS_VERIFY", "");
  if (verify.empty() || verify == "0") return {};
  return TlsFiles::in_directory(env_or("DOCKER_CERT_PATH", env_or("HOME", "/root") + "/.docker"));
}

DockerEngine::DockerEngine(Options options)
    : options_(std::move(options)),
      endpoint_(parse_engine_endpoint(options_.endpoint, options_.tls)),
      client_(std::make_unique<detail::CurlClient>(make_target(endpoint_))),
      api_version_(options_.api_version) {}

DockerEngine::~DockerEngine() = default;

DockerEngine::Response DockerEngine::send(const char* operation, const std::string& id, const char* method,
                                          const std::string& full_path, const std::string* body,
                                          milliseconds timeout, std::initializer_list<long> accept) {
  if (timeout.count() <= 0) timeout = options_.timeout;
  detail::CurlResult result = client_->request(method, full_path, body, timeout, options_.connect_timeout);
  if (result.code != CURLE_OK) throw transport_error(operation, id, result, endpoint_, timeout);
  const long status = result.status;
  const bool ok = (status >= 200 && status < 300) || status == 304 ||
                  std::find(accept.begin(), accept.end(), status) != accept.end();
  if (!ok) throw status_error(operation, id, status, result.body);
  return Response{status, std::move(result.body)};
}

DockerEngine::Response DockerEngine::call(const char* operation, const std::string& id, const char* method,
                                          const std::string& path, const std::string* body, milliseconds timeout,
                                          std::initializer_list<long> accept) {
  return send(operation, id, method, "/v" + api_version() + path, body, timeout, accept);
}

std::string DockerEngine::api_version() {
  {
    std::lock_guard lock(mu_);
    if (!api_version_.empty()) return api_version_;
  }
  // Negotiated outside the lock: concurrent first calls may both ask, which
  // is harmless, and a slow engine does not hold everyone behind the mutex.
  const EngineVersion engine_version = version();
  const auto theirs = parse_api_version(engine_version.api_version);
  const auto lowest = parse_api_version(kMinApiVersion);
  const auto highest = parse_api_version(kMaxApiVersion);
  if (theirs < lowest) {
    throw EngineError(Kind::Protocol, "version: engine API \"" + engine_version.api_version +
                                          "\" is older than " + kMinApiVersion + ", the oldest this client speaks");
  }
  const std::string chosen = theirs < highest ? engine_version.api_version : kMaxApiVersion;
  std::lock_guard lock(mu_);
  if (api_version_.empty()) api_version_ = chosen;
  return api_version_;
}

EngineVersion DockerEngine::version() {
  const Response response = send("version", {}, "GET", "/version", nullptr, {}, {});
  const json j = parse_json("version", {}, response.body);
  EngineVersion version{string_field(j, "Version"), string_field(j, "ApiVersion"), string_field(j, "Os"), {}};
  if (const auto c = j.find("Components"); c != j.end() && c->is_array() && !c->empty())
    version.product = string_field(c->front(), "Name");
  if (version.api_version.empty()) throw protocol_error("version", {}, "no ApiVersion");
  return version;
}

DockerEngine::CgroupInfo DockerEngine::cgroup_info() {
  const json j = parse_json("info", {}, call("info", {}, "GET", "/info").body);
  CgroupInfo info{string_field(j, "CgroupDriver"), string_field(j, "CgroupVersion")};
  if (info.version.empty()) info.version = "1";  // engines before API 1.40 knew only v1
  return info;
}

std::string DockerEngine::create(const ContainerSpec& spec) {
  json host_config = {
      {"ReadonlyRootfs", spec.read_only_rootfs},
      {"CapDrop", {"ALL"}},
      {"SecurityOpt", {"no-new-privileges"}},
      {"Memory", spec.memory_bytes},
      {"MemorySwap", spec.memory_bytes},  // equal to Memory: no swap on top
      {"NanoCpus", spec.nano_cpus},
      {"PidsLimit", spec.pids_limit},
      {"NetworkMode", spec.network_mode},
      {"RestartPolicy", {{"Name", "no"}}},  // the manager restarts, not the engine
  };
  if (!spec.tmpfs_path.empty()) {
    host_config["Tmpfs"] = {
        {spec.tmpfs_path, "rw,noexec,nosuid,nodev,size=" + std::to_string(spec.tmpfs_bytes)}};
  }
  if (!spec.volume.empty()) {
    host_config["Mounts"] = json::array(
        {{{"Type", "volume"}, {"Source", spec.volume}, {"Target", spec.volume_target}, {"ReadOnly", true}}});
  }
  json body = {
      {"Image", spec.image},
      {"Env", spec.env},
      {"Labels", spec.labels},
      {"User", spec.user},
      {"HostConfig", std::move(host_config)},
  };
  if (!spec.cmd.empty()) body["Cmd"] = spec.cmd;  // else the image's CMD

  std::string path = "/containers/create";
  if (!spec.name.empty()) path += "?name=" + escape(spec.name);
  const std::string payload = body.dump();
  const Response response = call("create", spec.name, "POST", path, &payload);
  const std::string id = string_field(parse_json("create", spec.name, response.body), "Id");
  if (id.empty()) throw protocol_error("create", spec.name, "no Id in " + response.body.substr(0, kMaxQuotedBody));
  return id;
}

void DockerEngine::start(const std::string& id) { call("start", id, "POST", container_path(id) + "/start"); }

void DockerEngine::pause(const std::string& id) { call("pause", id, "POST", container_path(id) + "/pause"); }

void DockerEngine::unpause(const std::string& id) { call("unpause", id, "POST", container_path(id) + "/unpause"); }

void DockerEngine::stop(const std::string& id, std::chrono::seconds grace) {
  // The engine answers only once the container is down, after up to `grace`.
  const auto deadline = std::chrono::duration_cast<milliseconds>(grace) + options_.timeout;
  call("stop", id, "POST", container_path(id) + "/stop?t=" + std::to_string(grace.count()), nullptr, deadline);
}

void DockerEngine::kill(const std::string& id, const std::string& signal) {
  call("kill", id, "POST", container_path(id) + "/kill?signal=" + escape(signal));
}

bool DockerEngine::volume_exists(const std::string& name) {
  return call("inspect volume", name, "GET", "/volumes/" + escape(name), nullptr, {}, {404}).status != 404;
}

void DockerEngine::remove(const std::string& id) {
  call("remove", id, "DELETE", container_path(id) + "?force=true&v=true", nullptr, {}, {404});
}

ContainerInfo DockerEngine::inspect(const std::string& id) {
  const Response response = call("inspect", id, "GET", container_path(id) + "/json");
  const json j = parse_json("inspect", id, response.body);
  if (!j.is_object()) throw protocol_error("inspect", id, "not a JSON object");
  return info_from_inspect(j);
}

std::string DockerEngine::inspect_raw(const std::string& id) {
  return call("inspect", id, "GET", container_path(id) + "/json").body;
}

std::vector<ContainerInfo> DockerEngine::list(const Labels& match) {
  std::string path = "/containers/json?all=true";
  if (!match.empty()) path += "&filters=" + escape(json{{"label", label_filters(match)}}.dump());
  const Response response = call("list", {}, "GET", path);
  const json j = parse_json("list", {}, response.body);
  if (!j.is_array()) throw protocol_error("list", {}, "not a JSON array");
  std::vector<ContainerInfo> containers;
  containers.reserve(j.size());
  for (const json& entry : j) containers.push_back(info_from_list_entry(entry));
  return containers;
}

bool DockerEngine::image_exists(const std::string& image) {
  // Image references keep their '/', ':' and '@' in the path.
  const Response response = call("image", image, "GET", "/images/" + escape(image, "/:@") + "/json", nullptr, {}, {404});
  return response.status != 404;
}

void DockerEngine::watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                                std::stop_token stop) {
  json filters = {{"type", {"container"}}};
  if (!match.empty()) filters["label"] = label_filters(match);
  const std::string path = "/v" + api_version() + "/events?filters=" + escape(filters.dump());

  std::string pending;     // bytes after the last complete line
  long error_status = 0;   // set when the engine refused the stream
  std::string error_body;
  const auto on_data = [&](long status, std::string_view data) -> bool {
    if (status != 200) {
      error_status = status;
      if (error_body.size() < kMaxQuotedBody) error_body.append(data);
      return true;
    }
    pending.append(data);
    std::size_t begin = 0;
    for (std::size_t end; (end = pending.find('\n', begin)) != std::string::npos; begin = end + 1) {
      std::string_view line(pending.data() + begin, end - begin);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
      if (line.empty()) continue;
      const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) throw protocol_error("events", {}, "not a JSON object: " + std::string(line.substr(0, 200)));
      on_event(event_from(j));
      if (stop.stop_requested()) return false;
    }
    pending.erase(0, begin);
    if (pending.size() > kMaxEventLine) throw protocol_error("events", {}, "an event line over 1 MiB");
    return true;
  };

  const detail::CurlResult result = client_->stream(path, on_data, stop, options_.connect_timeout);
  if (result.stopped || stop.stop_requested()) return;
  if (error_status != 0) throw status_error("events", {}, error_status, error_body);
  if (result.code != CURLE_OK) throw transport_error("events", {}, result, endpoint_, options_.connect_timeout);
  if (result.status != 200) throw status_error("events", {}, result.status, result.body);
  throw EngineError(Kind::Unreachable, "events: the engine closed the event stream");
}

}  // namespace warmpool::engine
