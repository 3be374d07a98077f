// SHA-256 (OpenSSL's libcrypto), fed in pieces.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace warmpool::jobs {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const char* data, std::size_t size);
  // Lower-case hex of everything fed. Call once.
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// HMAC-SHA256 of `message` under `key`, as lower-case hex.
std::string hmac_sha256_hex(const std::string& key, const std::string& message);

// Lower-case hex -> base64 of the bytes ("" for malformed hex).
std::string hex_to_base64(const std::string& hex);

}  // namespace warmpool::jobs
