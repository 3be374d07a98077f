// Internal: an owning handle for a GMP integer, so exceptions (cancellation,
// bad_alloc) never leak limbs.
#ifndef WARMPOOL_PI_BIGINT_HPP_
#define WARMPOOL_PI_BIGINT_HPP_

#include <gmp.h>

#include <cstddef>

namespace warmpool::pi {

class BigInt {
 public:
  BigInt() { mpz_init(v_); }
  explicit BigInt(unsigned long x) { mpz_init_set_ui(v_, x); }
  ~BigInt() { mpz_clear(v_); }
  BigInt(BigInt&& other) noexcept {
    mpz_init(v_);
    mpz_swap(v_, other.v_);
  }
  BigInt& operator=(BigInt&& other) noexcept {
    mpz_swap(v_, other.v_);
    return *this;
  }
  BigInt(const BigInt&) = delete;
  BigInt& operator=(const BigInt&) = delete;

  mpz_ptr get() noexcept { return v_; }
  mpz_srcptr get() const noexcept { return v_; }

  // Frees the limbs now rather than at destruction; the value becomes 0.
  void release() noexcept {
    mpz_clear(v_);
    mpz_init(v_);
  }

  std::size_t bits() const noexcept { return mpz_sgn(v_) == 0 ? 0 : mpz_sizeinbase(v_, 2); }

 private:
  mpz_t v_;
};

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_BIGINT_HPP_
