// A small HTTP/1.1 client over libcurl for the Docker engine: plain calls with a
// deadline, and one long-lived streaming GET that stops on request.
//
// Private to the engine module: callers see DockerEngine, never curl.
//
// Errors: transport failures are returned in CurlResult::code with curl's
// message in CurlResult::error; HTTP statuses are returned as they are.
// Mapping either to EngineError is the caller's job.
//
// Thread safety: CurlClient is safe to use from many threads at once. Each
// call borrows an easy handle from a small pool (so keep-alive connections are
// reused) and returns it when the call succeeded.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace warmpool::engine::detail {

struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct MultiDeleter {
  void operator()(CURLM* handle) const { curl_multi_cleanup(handle); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Where the engine listens and how to reach it.
struct CurlTarget {
  std::string base_url;     // "http://localhost", "https://host:2376", ...
  std::string unix_socket;  // when set, every connection goes through this socket
  std::string ca_file;      // TLS: CA bundle, client certificate and key (PEM)
  std::string cert_file;
  std::string key_file;
};

struct CurlResult {
  CURLcode code = CURLE_OK;  // transport outcome
  long status = 0;           // HTTP status when code == CURLE_OK
  std::string body;
  std::string error;         // curl's description when code != CURLE_OK
  long os_errno = 0;         // errno of the failed connect or I/O, when known
  bool stopped = false;      // stream(): ended because stop was requested
};

class CurlClient {
 public:
  explicit CurlClient(CurlTarget target);
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  // One request. `method` is "GET", "POST" or "DELETE"; `path` includes the
  // query string; `json_body` (may be null) is sent as application/json.
  // The whole call, connecting included, ends within `timeout`.
  CurlResult request(std::string_view method, const std::string& path, const std::string* json_body,
                     std::chrono::milliseconds timeout, std::chrono::milliseconds connect_timeout);

  // A GET whose body arrives piecemeal and may never end. `on_data` gets the
  // HTTP status and each piece as it arrives; it returns false to end the
  // stream (the result then has code CURLE_WRITE_ERROR). When `stop` is
  // requested the call returns within milliseconds with `stopped` set.
  // Only connecting has a deadline.
  CurlResult stream(const std::string& path,
                    const std::function<bool(long status, std::string_view data)>& on_data,
                    std::stop_token stop, std::chrono::milliseconds connect_timeout);

 private:
  EasyHandle acquire();
  void release(EasyHandle handle);
  // Options common to every transfer on `handle`.
  void configure(CURL* handle, const std::string& path, char* error_buffer) const;

  const CurlTarget target_;

  std::mutex mu_;
  std::vector<EasyHandle> idle_;  // guarded by mu_
};

}  // namespace warmpool::engine::detail
