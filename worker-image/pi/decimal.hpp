// Internal: the decimal digits of a binary fraction, by a scaled remainder
// tree: each split multiplies by a power of ten instead of dividing by one.
#ifndef WARMPOOL_PI_DECIMAL_HPP_
#define WARMPOOL_PI_DECIMAL_HPP_

#include <cstddef>
#include <vector>

#include "pi/bigint.hpp"
#include "pi/context.hpp"

namespace warmpool::pi {

// Produces the first padded_width() decimal digits of a number x in [0, 1)
// known as an approximation f / 2^bits. The width is split in halves down
// to leaves of `chunk` digits, with the powers 10^(chunk 2^j) cached; the
// halves of each split are converted concurrently up to `threads`.
//
// Exactness: every leaf checks that its digits are decided by the
// approximation, given its error bound; if not (x has a run of ~guard_bits/3
// zeros or nines at a leaf boundary), write() reports failure and the caller
// must retry with more guard bits. It never returns wrong digits.
//
// Thread-safety: after construction, const methods may be called from
// several threads at once.
class DecimalPlan {
 public:
  // Leaves this long are multiplied out and printed by mpz_get_str.
  static constexpr std::size_t kDefaultLeafDigits = 1 << 13;

  // Plans for at least `width` digits, in leaves of at most leaf_digits
  // (tests make them small to get deep trees). Cheap: the powers of ten are
  // computed by compute_powers(). REQUIRES: width >= 1, leaf_digits >= 1.
  explicit DecimalPlan(std::size_t width, std::size_t leaf_digits = kDefaultLeafDigits);

  // Computes the powers of ten write() uses. Throws Cancelled.
  // REQUIRES: called once, before write(), by one thread.
  void compute_powers(const Context& ctx);

  // The number of digits write() produces (>= the width asked for).
  std::size_t padded_width() const { return chunk_ << levels_; }

  // The precision in bits that write() needs for n digits.
  static std::size_t bits_for(std::size_t digits, std::size_t guard_bits);

  // Writes the first padded_width() digits of x to out, given f with
  // |f - x 2^bits| <= 2 and bits == bits_for(padded_width(), guard_bits).
  // Consumes f. Returns false if the digits are not decided at this
  // precision (out is then garbage). Reports padded_width() units.
  bool write(BigInt f, std::size_t guard_bits, char* out, unsigned threads, Context& ctx) const;

 private:
  struct Job;
  void convert(BigInt f, double error, std::size_t level, char* out, unsigned threads, Job& job) const;

  std::size_t chunk_ = 0;
  std::size_t levels_ = 0;
  std::vector<BigInt> powers_;  // powers_[j] = 10^(chunk_ 2^j), j < levels_
  BigInt leaf_power_;           // 10^chunk_
};

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_DECIMAL_HPP_
