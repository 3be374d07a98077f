// DockerEngine: the Engine interface over the Docker Engine API (also served
// by Podman's compatible API), spoken with libcurl over a unix socket or TCP
// (optionally TLS).
//
// Errors: every method throws EngineError, as engine.hpp describes:
//   socket missing, connection refused or reset   -> Unreachable
//   TLS handshake refused either way               -> Unreachable, reading
//     "<operation>: TLS handshake with tcp://host:port failed: <curl's reason>"
//   the call's deadline passed                    -> Timeout
//   404 -> NotFound, 409 -> Conflict, 400 -> BadRequest, other statuses -> Server
//   an answer that is not the expected JSON      -> Protocol
// what() reads "<operation> <container>: <engine's message>", e.g.
// "unpause 3f2a9c0d1e2b: Container 3f2a... is not paused", and container_id()
// is set for per-container calls. Deliberate successes: start on a running
// container and stop on a stopped one (the engine's 304), and remove of a
// container that does not exist (404). Pause on a paused container and
// unpause on a running one stay Conflict: the caller's idea of the state was
// wrong, and it should know.
//
// Versioning: requests go to /v<api>/..., where <api> is Options::api_version
// if set, else negotiated once with GET /version as
// min(engine's ApiVersion, kMaxApiVersion). An engine older than
// kMinApiVersion fails every call with Protocol.
//
// Deadlines: every call ends within Options::timeout; stop() within its grace
// plus that timeout. watch_events has no overall deadline (only connecting
// has one) and returns within milliseconds once its stop_token is requested.
//
// Thread safety: all methods may be called concurrently from any threads.
// Connections are reused through a small pool of curl handles.
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>

#include "engine/endpoint.hpp"
#include "engine/engine.hpp"

namespace warmpool::engine {

namespace detail {
class CurlClient;
}

class DockerEngine final : public Engine {
 public:
  static constexpr const char* kMinApiVersion = "1.41";
  static constexpr const char* kMaxApiVersion = "1.43";
  static constexpr const char* kDefaultEndpoint = "unix:///var/run/docker.sock";

  struct Options {
    // unix:///path/to/socket or tcp://host:port (endpoint.hpp). tcp:// means
    // TLS when any TLS file is set; the engine's certificate is always verified.
    std::string endpoint = kDefaultEndpoint;
    TlsFiles tls;
    // Deadline of each call (connecting included).
    std::chrono::milliseconds timeout{5000};
    // Deadline for establishing the connection (capped by `timeout`).
    std::chrono::milliseconds connect_timeout{2000};
    // "1.41", ...; empty: negotiate with the engine on first use.
    std::string api_version;
    // The Docker CLI's conventions: DOCKER_HOST (default kDefaultEndpoint),
    // DOCKER_TLS_VERIFY (non-empty and not "0": TLS for a tcp:// DOCKER_HOST),
    // DOCKER_CERT_PATH (default ~/.docker; ca.pem, cert.pem, key.pem),
    // DOCKER_API_VERSION (pins api_version).
    static Options from_env();
    // DOCKER_TLS_VERIFY's files (DOCKER_CERT_PATH's), for a tcp:// endpoint
    // however it was given, as the docker CLI does with -H; none when unset.
    static TlsFiles tls_from_env();
  };

  // Connects lazily: constructing never talks to the engine, nor reads the
  // TLS files. Throws std::invalid_argument when the endpoint cannot be
  // parsed (parse_engine_endpoint).
  explicit DockerEngine(Options options = Options::from_env());
  ~DockerEngine() override;

  EngineVersion version() override;
  std::string create(const ContainerSpec& spec) override;
  void start(const std::string& id) override;
  void pause(const std::string& id) override;
  void unpause(const std::string& id) override;
  void stop(const std::string& id, std::chrono::seconds grace) override;
  void kill(const std::string& id, const std::string& signal = "KILL") override;
  void remove(const std::string& id) override;
  ContainerInfo inspect(const std::string& id) override;
  // Lists every container when `match` is empty. exit_code comes from the
  // engine's status text and oom_killed is always false here: inspect() has
  // the authoritative values.
  std::vector<ContainerInfo> list(const Labels& match) override;
  bool image_exists(const std::string& image) override;
  // Event::labels holds the container's labels as the engine reports them
  // (its attributes without "image", "name", "exitCode" and "signal").
  void watch_events(const Labels& match, const std::function<void(const Event&)>& on_event,
                    std::stop_token stop) override;

  // The engine's full inspect document (JSON text) for checks that
  // ContainerInfo does not cover, such as the HostConfig actually applied.
  std::string inspect_raw(const std::string& id);

  // Where the engine puts its containers' cgroups (GET /info): CgroupDriver
  // ("cgroupfs" or "systemd") and CgroupVersion ("1" or "2"). Throws EngineError.
  struct CgroupInfo {
    std::string driver;
    std::string version;
  };
  CgroupInfo cgroup_info();

  // Whether the engine has a volume of that name. Throws EngineError.
  bool volume_exists(const std::string& name);

  // The API version in use, negotiating it first if needed. Throws EngineError.
  std::string api_version();
  const Options& options() const { return options_; }
  const EngineEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  // Sends one versioned request ("/containers/..." goes to "/v1.41/containers/...").
  // Returns 2xx and 304 answers, and those with a status in `accept`; throws
  // the mapped EngineError for everything else. `operation` and `id` name the
  // call in error messages. A zero timeout means Options::timeout.
  Response call(const char* operation, const std::string& id, const char* method,
                const std::string& path, const std::string* body = nullptr,
                std::chrono::milliseconds timeout = {}, std::initializer_list<long> accept = {});
  // The same for a path taken as it is (GET /version is not versioned).
  Response send(const char* operation, const std::string& id, const char* method,
                const std::string& full_path, const std::string* body,
                std::chrono::milliseconds timeout, std::initializer_list<long> accept);

  const Options options_;
  const EngineEndpoint endpoint_;
  std::unique_ptr<detail::CurlClient> client_;

  std::mutex mu_;
  std::string api_version_;  // guarded by mu_; empty until negotiated
};

}  // namespace warmpool::engine
