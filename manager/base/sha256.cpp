#include "base/sha256.hpp"

#include <stdexcept>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/text.hpp"

namespace warmpool::jobs {

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha-256: cannot initialise libcrypto's digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(const char* data, std::size_t size) {
  if (size > 0 && EVP_DigestUpdate(ctx_->md, data, size) != 1)
    throw std::runtime_error("sha-256: digest update failed");
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_->md, digest, &size) != 1)
    throw std::runtime_error("sha-256: digest final failed");
  return to_hex(digest, size);
}

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size) == nullptr)
    throw std::runtime_error("hmac-sha256: libcrypto failed");
  return to_hex(digest, size);
}

std::string hex_to_base64(const std::string& hex) {
  if (hex.size() % 2 != 0) return "";
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<unsigned char> bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return "";
    bytes.push_back(static_cast<unsigned char>(hi * 16 + lo));
  }
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace warmpool::jobs
