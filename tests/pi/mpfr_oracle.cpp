#include "mpfr_oracle.hpp"

#include <mpfr.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace warmpool::pi::testing {
namespace {

std::string truncated(mpfr_t x, std::size_t digits) {
  mpfr_exp_t exp = 0;
  // Rounding toward -inf of a positive number truncates.
  char* s = mpfr_get_str(nullptr, &exp, 10, digits + 1, x, MPFR_RNDD);
  if (s == nullptr || exp != 1) throw std::runtime_error("mpfr_get_str failed");
  std::string out = std::string(1, s[0]) + "." + (s + 1);
  mpfr_free_str(s);
  return out;
}

}  // namespace

std::string mpfr_pi(std::size_t digits) {
  auto bits = static_cast<mpfr_prec_t>(static_cast<double>(digits) * 3.321928094887362 + 96);
  mpfr_t lo;
  mpfr_t hi;
  mpfr_init2(lo, bits);
  mpfr_init2(hi, bits);
  mpfr_const_pi(lo, MPFR_RNDD);  // lo <= pi < next(lo)
  mpfr_set(hi, lo, MPFR_RNDN);
  mpfr_nextabove(hi);
  std::string a = truncated(lo, digits);
  std::string b = truncated(hi, digits);
  mpfr_clear(lo);
  mpfr_clear(hi);
  if (a != b) throw std::runtime_error("MPFR bounds disagree; raise the oracle's precision");
  return a;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

}  // namespace warmpool::pi::testing
