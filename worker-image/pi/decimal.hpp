// Internal: binary to decimal conversion by divide and conquer.
#ifndef WARMPOOL_PI_DECIMAL_HPP_
#define WARMPOOL_PI_DECIMAL_HPP_

#include <cstddef>
#include <vector>

#include "pi/bigint.hpp"
#include "pi/context.hpp"

namespace warmpool::pi {

// Converts numbers of up to `width` decimal digits. The digits are produced
// by a balanced tree of divisions by the cached powers 10^(chunk 2^j), and
// the two halves of each split are converted concurrently up to `threads`.
// Numbers are written with leading zeros to a padded width (chunk 2^levels
// >= width); callers give out buffers of padded_width() chars.
//
// Thread-safety: after construction, write() and split() may be called from
// several threads at once.
class DecimalPlan {
 public:
  // Computes the powers of ten. REQUIRES: width >= 1. Throws Cancelled.
  DecimalPlan(std::size_t width, Context& ctx);

  std::size_t padded_width() const { return chunk_ << powers_.size(); }

  // Digits in the low half of the top split, 0 if there is no split; x is
  // split as x = high 10^low_digits() + low.
  std::size_t low_digits() const { return powers_.empty() ? 0 : chunk_ << (powers_.size() - 1); }

  // 10^low_digits(). REQUIRES: low_digits() > 0.
  const BigInt& low_power() const { return powers_.back(); }

  // Writes x (consumed) as padded_width() digits to out.
  // REQUIRES: 0 <= x < 10^padded_width(). Reports padded_width() units.
  void write(BigInt x, char* out, unsigned threads, Context& ctx) const;

  // Writes high 10^low_digits() + low, given the split already done.
  // REQUIRES: low_digits() > 0, 0 <= low < 10^low_digits(),
  // 0 <= high < 10^(padded_width() - low_digits()).
  void write_split(BigInt high, BigInt low, char* out, unsigned threads, Context& ctx) const;

 private:
  // x has chunk_ 2^level digits (with leading zeros).
  void convert(BigInt x, std::size_t level, char* out, unsigned threads, Context& ctx) const;
  // x = high 10^(chunk_ 2^(level-1)) + low; REQUIRES: level >= 1.
  void convert_halves(BigInt high, BigInt low, std::size_t level, char* out, unsigned threads, Context& ctx) const;

  std::size_t chunk_ = 0;
  std::vector<BigInt> powers_;  // powers_[j] = 10^(chunk_ 2^j)
};

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_DECIMAL_HPP_
