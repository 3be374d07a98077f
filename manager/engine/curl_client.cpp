#include "engine/curl_client.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <new>
#include <utility>

namespace warmpool::engine::detail {
namespace {

// An engine answer larger than this is a protocol failure, not something to
// buffer: even thousands of containers listed stay far below it.
constexpr std::size_t kMaxBodyBytes = 64u << 20;
constexpr std::size_t kMaxIdleHandles = 16;

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::bad_alloc();
  });
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t n = size * count;
  if (body->size() + n > kMaxBodyBytes) return 0;  // aborts the transfer
  body->append(data, n);
  return n;
}

long clamp_ms(std::chrono::milliseconds ms) {
  return static_cast<long>(std::max<std::chrono::milliseconds::rep>(ms.count(), 1));
}

// Keeps an easy handle attached to a multi handle for one scope.
class MultiAttachment {
 public:
  MultiAttachment(CURLM* multi, CURL* easy) : multi_(multi), easy_(easy) {
    curl_multi_add_handle(multi_, easy_);
  }
  ~MultiAttachment() { curl_multi_remove_handle(multi_, easy_); }
  MultiAttachment(const MultiAttachment&) = delete;
  MultiAttachment& operator=(const MultiAttachment&) = delete;

 private:
  CURLM* multi_;
  CURL* easy_;
};

struct StreamState {
  CURL* easy;
  const std::function<bool(long, std::string_view)>* on_data;
  std::exception_ptr failure;  // thrown by on_data, rethrown after cleanup
};

std::size_t deliver_stream(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<StreamState*>(user);
  const std::size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(state->easy, CURLINFO_RESPONSE_CODE, &status);
  try {
    return (*state->on_data)(status, std::string_view(data, n)) ? n : 0;
  } catch (...) {
    // Exceptions must not unwind through libcurl's C frames.
    state->failure = std::current_exception();
    return 0;
  }
}

}  // namespace

CurlClient::CurlClient(CurlTarget target) : target_(std::move(target)) { global_init_once(); }

CurlClient::~CurlClient() = default;

EasyHandle CurlClient::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      EasyHandle handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  EasyHandle handle(curl_easy_init());
  if (!handle) throw std::bad_alloc();
  return handle;
}

void CurlClient::release(EasyHandle handle) {
  // Reset drops per-call options but keeps the handle's open connections.
  curl_easy_reset(handle.get());
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
}

void CurlClient::configure(CURL* handle, const std::string& path, char* error_buffer) const {
  const std::string url = target_.base_url + path;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());  // curl copies strings
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  if (!target_.unix_socket.empty()) {
    curl_easy_setopt(handle, CURLOPT_UNIX_SOCKET_PATH, target_.unix_socket.c_str());
  }
  if (!target_.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, target_.ca_file.c_str());
  if (!target_.cert_file.empty()) curl_easy_setopt(handle, CURLOPT_SSLCERT, target_.cert_file.c_str());
  if (!target_.key_file.empty()) curl_easy_setopt(handle, CURLOPT_SSLKEY, target_.key_file.c_str());
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
}

CurlResult CurlClient::request(std::string_view method, const std::string& path,
                               const std::string* json_body, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds connect_timeout) {
  EasyHandle handle = acquire();
  CURL* h = handle.get();
  char error_buffer[CURL_ERROR_SIZE] = {};
  CurlResult result;

  configure(h, path, error_buffer);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, clamp_ms(timeout));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, clamp_ms(std::min(timeout, connect_timeout)));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &result.body);

  // "Expect:" stops curl from waiting for a 100-continue on larger bodies.
  Slist headers(curl_slist_append(nullptr, "Expect:"));
  if (json_body != nullptr) {
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
  }
  if (!headers) throw std::bad_alloc();
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());

  if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    const char* data = json_body != nullptr ? json_body->data() : "";
    const auto size = static_cast<curl_off_t>(json_body != nullptr ? json_body->size() : 0);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, size);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
  } else if (method != "GET") {
    const std::string verb(method);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb.c_str());
  }

  result.code = curl_easy_perform(h);
  if (result.code == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.status);
    release(std::move(handle));
  } else {
    result.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result.code);
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &result.os_errno);
    // The handle's connection may be half-used: let it go with the handle.
  }
  return result;
}

CurlResult CurlClient::stream(const std::string& path,
                              const std::function<bool(long, std::string_view)>& on_data,
                              std::stop_token stop, std::chrono::milliseconds connect_timeout) {
  EasyHandle easy(curl_easy_init());
  MultiHandle multi(curl_multi_init());
  if (!easy || !multi) throw std::bad_alloc();
  char error_buffer[CURL_ERROR_SIZE] = {};
  StreamState state{easy.get(), &on_data, nullptr};
  CurlResult result;

  configure(easy.get(), path, error_buffer);
  curl_easy_setopt(easy.get(), CURLOPT_CONNECTTIMEOUT_MS, clamp_ms(connect_timeout));
  // An idle event stream is normal; TCP keep-alive notices a vanished peer.
  curl_easy_setopt(easy.get(), CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &deliver_stream);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &state);

  {
    MultiAttachment attached(multi.get(), easy.get());
    // curl_multi_wakeup is the one multi call that is safe from another thread.
    std::stop_callback wake(stop, [m = multi.get()] { curl_multi_wakeup(m); });
    int running = 1;
    while (true) {
      if (stop.stop_requested()) {
        result.stopped = true;
        break;
      }
      CURLMcode mc = curl_multi_perform(multi.get(), &running);
      if (mc == CURLM_OK && running == 0) break;
      if (mc == CURLM_OK) mc = curl_multi_poll(multi.get(), nullptr, 0, 1000, nullptr);
      if (mc != CURLM_OK) {
        result.code = CURLE_RECV_ERROR;
        result.error = curl_multi_strerror(mc);
        break;
      }
    }
    if (!result.stopped && result.error.empty()) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
        if (msg->msg == CURLMSG_DONE) result.code = msg->data.result;
      }
      if (result.code != CURLE_OK) {
        result.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result.code);
        curl_easy_getinfo(easy.get(), CURLINFO_OS_ERRNO, &result.os_errno);
      }
    }
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &result.status);
  }
  if (state.failure) std::rethrow_exception(state.failure);
  return result;
}

}  // namespace warmpool::engine::detail
